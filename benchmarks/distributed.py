"""Distributed fine-tuning on the CPU: `make train-distributed NPROC=2` vs `make train`.

Bakes the fine-tuning variant, installs it (CPU torch from the local wheel folder, as
the template's tests do) and runs the whole `train` pipeline (base evaluation, LoRA
fine-tuning, tuned evaluation, merge check, MLflow, export) on the tiny model twice
per repeat, each in its own folder:

- one process, `make train` with BATCH_SIZE=16;
- two processes, `make train-distributed NPROC=2` (accelerate launch, gloo) with
  BATCH_SIZE=8 each: the same global batch of 16, so the same optimizer steps.

Dropout is off and the seed fixed, so both should follow one loss curve: the largest
relative difference over the logged losses is printed next to the test's tolerance.
"wall" is the whole make command (imports, both evaluations, MLflow, export); "steps"
is the time inside optimizer steps on rank 0 (results/metrics.json, train_seconds).
One torch thread per process: two processes use both cores, one process one.

    uv run python benchmarks/distributed.py [--epochs 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from baking import bake_and_install

# The gate's tolerance (tests/test_distributed.py in the generated project).
LOSS_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Run:
    wall: float
    steps: float
    global_step: int
    losses: list[float]
    accuracy: float


LABELS = {
    1: "make train (1 process, batch 16)",
    2: "make train-distributed NPROC=2 (2 x batch 8)",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-6000:]
        sys.exit(f"{' '.join(command)} failed:\n{output}")
    return done.stdout


def train_once(
    project: Path, env: dict[str, str], folder: Path, processes: int, epochs: float
) -> Run:
    """One `make train` (processes 1) or `make train-distributed`, timed as a whole."""
    folder.mkdir(parents=True)
    store = f"sqlite:///{folder / 'mlflow.db'}"
    settings = {
        "BASE_MODEL": "tiny",
        "LEARNING_RATE": "1e-2",
        "EPOCHS": str(epochs),
        "BATCH_SIZE": str(16 // processes),
        "LORA_DROPOUT": "0",
        "SAVE_STEPS": "1000",
        "PROGRESS": "false",
        "BOOTSTRAP_SAMPLES": "200",
        "MLFLOW_TRACKING_URI": store,
        "CHECKPOINT_DIR": str(folder / "checkpoints"),
        "ADAPTER_DIR": str(folder / "models" / "adapter"),
        "RESULTS_DIR": str(folder / "results"),
        "OMP_NUM_THREADS": "1",
    }
    target = ["train"]
    if processes > 1:
        port = f"MASTER_PORT={free_port()}"
        target = ["train-distributed", f"NPROC={processes}", port]
    started = time.perf_counter()
    run(["make", *target], project, env | settings)
    wall = time.perf_counter() - started
    metrics = json.loads((folder / "results" / "metrics.json").read_text())
    # The loss curve rank 0 logged, as `make train` writes it for `make report`.
    curve = json.loads((folder / "results" / "training_run.json").read_text())
    losses = [loss for _, loss in sorted(curve["train_loss"])]
    return Run(
        wall=wall,
        steps=float(metrics["train_seconds"]),
        global_step=int(metrics["global_step"]),
        losses=[float(loss) for loss in losses],
        accuracy=float(metrics["tuned_metrics"]["accuracy"]["value"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=2.0, help="over 400 examples")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (medians)")
    args = parser.parse_args()
    started = time.perf_counter()
    one_min, five_min, _ = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        project, env = bake_and_install("fine-tuning", Path(scratch) / "bake")
        runs: dict[int, list[Run]] = {1: [], 2: []}
        for repeat in range(args.repeats):
            for processes in (1, 2):
                folder = Path(scratch) / f"run-{processes}-{repeat}"
                run_ = train_once(project, env, folder, processes, args.epochs)
                runs[processes].append(run_)

    def median(processes: int, key: str) -> float:
        return statistics.median(float(getattr(r, key)) for r in runs[processes])

    curves = [(a.losses, b.losses) for a, b in zip(runs[1], runs[2], strict=True)]
    worst = max(
        abs(b - a) / a for ones, twos in curves for a, b in zip(ones, twos, strict=True)
    )
    print(
        f"\nTiny model, bundled data (400 examples), {args.epochs:g} epochs, "
        "global batch 16, "
        f"{runs[1][0].global_step} steps; median of {args.repeats}; load before: "
        f"{one_min:.1f} (1 min), {five_min:.1f} (5 min); {os.cpu_count()} CPUs\n"
    )
    print("| run | wall s | steps s | tuned accuracy |")
    print("|---|---|---|---|")
    for processes, label in LABELS.items():
        wall, steps = median(processes, "wall"), median(processes, "steps")
        accuracy = median(processes, "accuracy")
        print(f"| {label} | {wall:.1f} | {steps:.1f} | {accuracy:.3f} |")
    print(
        f"\nratio two/one: wall {median(2, 'wall') / median(1, 'wall'):.2f}, "
        f"steps {median(2, 'steps') / median(1, 'steps'):.2f}"
    )
    print(
        f"loss curves: largest relative difference {worst:.1e} over "
        f"{len(curves[0][0])} logged steps (gate tolerance {LOSS_TOLERANCE:.0e})"
    )
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
