"""Distributed fine-tuning, launched for real: `accelerate launch` with two CPU processes
(gloo), the configuration `make train-distributed` uses, on the tiny model.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import dataset, distributed, train

from variant_fixtures import training_settings

PROJECT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().with_name("distributed_probe.py")
SIZES = {"train": 64, "validation": 16, "test": 16}
PER_PROCESS_BATCH = 8
# Two processes of 8 examples step like one process of 16: with dropout off and the
# same seeded order they compute the same gradient, but for the order of float sums
# (each process sums its half, then gloo adds the halves), which Adam carries on
# over the steps. Measured: 2e-7 relative at most over these 12 losses (1e-5 over
# 50 steps). The tolerance leaves room for other CPUs and thread counts, and stays
# far below what a different global batch or a lost shard does to the curve (tenths).
LOSS_TOLERANCE = 1e-4
SETTINGS: dict[str, object] = {
    "learning_rate": 1e-2,
    "epochs": 3,
    "lora_dropout": 0.0,
    "save_steps": 4,
    "bootstrap_samples": 100,
    # Exported whatever it learns in 12 steps: the test is about who writes, not accuracy.
    "min_accuracy": 0.0,
    "min_accuracy_lift": -1.0,
}


@dataclass(frozen=True)
class Rank:
    """What one process wrote (paths, and folder or database changes) and read."""

    writes: list[str]
    # (length of the dataset, index) of every example fetched, in order.
    reads: list[tuple[int, int]]


@dataclass(frozen=True)
class Launch:
    workdir: Path
    ranks: list[Rank]
    losses: list[float]
    # The same pipeline in one process with the same global batch.
    reference: list[float]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], Path]) -> Launch:
    """`train` under accelerate launch with two processes, each recorded by the probe,
    and meanwhile (rank 1 mostly waits for rank 0) the one-process reference here."""
    data = tmp_path_factory.mktemp("data")
    for split, examples in dataset.generate(3, SIZES).items():
        dataset.write_jsonl(examples, data / f"{split}.jsonl")
    workdir = tmp_path_factory.mktemp("distributed")
    new_store(workdir)  # migrated once per run; rank 0 still connects, the probe sees it
    probes = tmp_path_factory.mktemp("probes")
    settings = training_settings(workdir, data_dir=data, batch_size=PER_PROCESS_BATCH, **SETTINGS)
    env = {
        **os.environ,
        **{
            name.upper(): str(value)
            for name, value in settings.model_dump(mode="json").items()
            if isinstance(value, str | int | float)
        },
        "PROBE_DIR": str(probes),
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(PROJECT / "configs" / "accelerate.yaml"),
        "--num_processes",
        "2",
        "--main_process_port",
        str(_free_port()),
        str(PROBE),
        "train",
    ]
    with subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as launch:
        alone = tmp_path_factory.mktemp("one-process")
        new_store(alone)
        with contextlib.chdir(alone):  # MLflow puts artifacts beside the working directory
            one = training_settings(
                alone, data_dir=data, batch_size=2 * PER_PROCESS_BATCH, **SETTINGS
            )
            reference = train.run(one).losses
        output, _ = launch.communicate(timeout=300)
    assert launch.returncode == 0, output[-6000:]
    records = [json.loads((probes / f"rank-{rank}.json").read_text()) for rank in range(2)]
    ranks = [Rank(r["writes"], [(n, i) for n, i in r["reads"]]) for r in records]
    metrics = json.loads((workdir / "results" / "metrics.json").read_text())
    client = MlflowClient(settings.mlflow_tracking_uri)
    history = client.get_metric_history(metrics["run_id"], "train/loss")
    losses = [m.value for m in sorted(history, key=lambda m: m.step)]
    return Launch(workdir, ranks, losses, reference)


def _under(paths: list[str], folder: Path) -> list[str]:
    return [path for path in paths if str(folder) in path]


@pytest.mark.slow
def test_only_rank_zero_writes_runs_checkpoints_results_and_the_adapter(
    launched: Launch,
) -> None:
    rank0, rank1 = (_under(rank.writes, launched.workdir) for rank in launched.ranks)

    assert rank1 == []
    for written in ("mlflow.db", "results", "checkpoints", "adapter"):
        assert any(written in path for path in rank0), written
    runs = MlflowClient(f"sqlite:///{launched.workdir / 'mlflow.db'}").search_runs(["1"])
    assert [run.data.params["processes"] for run in runs] == ["2"]
    checkpoint = launched.workdir / "checkpoints" / "checkpoint-12"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}
    assert (launched.workdir / "models" / "adapter" / "adapter_config.json").is_file()


@pytest.mark.slow
def test_each_rank_trains_on_its_own_half_of_every_epoch(launched: Launch) -> None:
    size = SIZES["train"]
    first_epoch = [
        [index for length, index in rank.reads if length == size][: size // 2]
        for rank in launched.ranks
    ]

    assert set(first_epoch[0]).isdisjoint(first_epoch[1])
    assert set(first_epoch[0]) | set(first_epoch[1]) == set(range(size))


@pytest.mark.slow
def test_two_processes_follow_the_loss_curve_of_one_with_the_same_global_batch(
    launched: Launch,
) -> None:
    assert len(launched.losses) == len(launched.reference) == 12
    for two, single in zip(launched.losses, launched.reference, strict=True):
        assert abs(two - single) <= LOSS_TOLERANCE * single


def test_a_process_outside_a_launch_is_rank_zero_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    assert distributed.world() == distributed.World(0, 1)
    assert distributed.world().main


def test_a_launch_tells_each_process_its_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")

    assert distributed.world() == distributed.World(1, 2)
    assert not distributed.world().main


def test_fsdp_over_several_processes_is_refused_with_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")

    with pytest.raises(ValueError, match=r"configs/accelerate.yaml \(data parallel\)"):
        distributed.world()


@pytest.mark.parametrize(
    ("rank", "size", "named"), [("x", "2", "RANK"), ("0", "0", "WORLD_SIZE"), ("2", "2", "RANK=2")]
)
def test_a_broken_rank_or_world_size_is_named(
    monkeypatch: pytest.MonkeyPatch, rank: str, size: str, named: str
) -> None:
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", size)

    with pytest.raises(ValueError, match=named):
        distributed.world()
