"""Fixtures of the fine-tuning variant: the tiny offline model and one training run.

Nothing here touches the hub: `BASE_MODEL=tiny` builds a Llama from its config
and trains its tokenizer in-process (see modeling.py).
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }} import dataset, modeling
from {{ cookiecutter.package_name }}.generation import LoadedModel
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.train import TrainResult, run, tiny_corpus

from run_cache import built_once

BUNDLED_DATA = Path(__file__).resolve().parents[1] / "data"
# Small enough to finish in seconds on two CPU cores, big enough to learn the task.
TINY_TRAINING: dict[str, object] = {
    "base_model": modeling.TINY,
    "learning_rate": 1e-2,
    "epochs": 4,
    "batch_size": 16,
    "bootstrap_samples": 200,
    "progress": False,
    "save_steps": 1000,
}


@dataclass(frozen=True)
class Trained:
    settings: Settings
    result: TrainResult
    workdir: Path


def training_settings(workdir: Path, **overrides: object) -> Settings:
    """Settings that keep every output of a run inside `workdir`."""
    values: dict[str, object] = {
        "data_dir": BUNDLED_DATA,
        "mlflow_tracking_uri": f"sqlite:///{workdir / 'mlflow.db'}",
        "checkpoint_dir": workdir / "checkpoints",
        "adapter_dir": workdir / "models" / "adapter",
        "results_dir": workdir / "results",
        **TINY_TRAINING,
        **overrides,
    }
    return Settings.model_validate(values)


def write_small_splits(folder: Path, seed: int = 7) -> Path:
    """A few examples per split, for tests of the mechanics rather than the learning."""
    sizes = {"train": 32, "validation": 8, "test": 10}
    for split, examples in dataset.generate(seed, sizes).items():
        dataset.write_jsonl(examples, folder / f"{split}.jsonl")
    return folder


@pytest.fixture(scope="session", autouse=True)
def single_threaded_torch() -> None:
    """Tiny matrices gain nothing from intra-op threads and lose a lot to contention
    on a busy two-core runner (measured: 100 steps in 13 s instead of 68 s)."""
    import torch

    torch.set_num_threads(1)


def _trained(workdir: Path, new_store: Callable[[Path], Path]) -> Trained:
    new_store(workdir)
    with contextlib.chdir(workdir):  # MLflow puts artifacts beside the working directory
        settings = training_settings(workdir)
        return Trained(settings, run(settings), workdir)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, new_store: Callable[[Path], Path]) -> Trained:
    """Fine-tune the tiny model once per test run on the bundled data; tests only read it."""
    return built_once(tmp_path_factory, "trained", lambda folder: _trained(folder, new_store))


@pytest.fixture(scope="session")
def tiny_pair() -> tuple[Any, Any]:
    """An untrained tiny Llama with a fresh LoRA adapter, and its tokenizer."""
    splits = dataset.generate(1, {"train": 50})
    base, tokenizer = modeling.load_base(
        modeling.TINY,
        modeling.choose_precision(
            "none", cuda=False, bf16_supported=False, bitsandbytes_installed=False
        ),
        tiny_corpus(splits),
        seed=0,
    )
    model = modeling.add_lora(
        base, rank=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"], quantized=False
    )
    model.eval()
    return model, tokenizer


def fake_loader(pair: tuple[Any, Any]) -> LoadedModel:
    model, tokenizer = pair
    return LoadedModel(model, tokenizer, "tiny+lora")
