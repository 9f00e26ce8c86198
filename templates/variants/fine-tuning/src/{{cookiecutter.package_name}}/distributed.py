"""Which process of a distributed launch this is, and what only the main one may do.

`accelerate launch` (torchrun underneath) starts one process per device and tells
each its place through RANK and WORLD_SIZE. Every process trains on its shard of the
batches; only rank 0 evaluates, tracks the run in MLflow and writes checkpoints,
results and the adapter, so N processes leave exactly what one leaves (ADR 0011).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class World:
    rank: int
    size: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(
            f"{name}={raw!r} is not a process rank or count: launch with "
            "`make train-distributed NPROC=2` (accelerate sets it), or unset it"
        )
    return value


def world() -> World:
    """This process's rank and the number of processes (0 of 1 outside a launch).

    Refuses FSDP across processes: rank 0 evaluates and exports alone after training,
    which a model sharded over the others cannot do (ADR 0011).
    """
    size = _env_int("WORLD_SIZE", 1, 1)
    rank = _env_int("RANK", 0, 0)
    if rank >= size:
        raise ValueError(f"RANK={rank} is not below WORLD_SIZE={size}: launch with accelerate")
    if size > 1 and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        raise ValueError(
            f"FSDP over {size} processes is not supported: rank 0 evaluates the trained model "
            "alone; use configs/accelerate.yaml (data parallel) or NPROC=1"
        )
    return World(rank, size)


def rank_zero_rng_trainer(base: type[Any]) -> type[Any]:
    """`base` (a transformers Trainer class) whose checkpoints only rank 0 writes.

    The Trainer has every process save its own random state beside rank 0's files,
    which a resumed run needs for the same dropout masks. Here the states travel to
    rank 0 (one small collective) and rank 0 writes every `rng_state_<rank>.pth`.
    """

    class RankZeroRngTrainer(base):  # type: ignore[misc]
        def _save_rng_state(self, output_dir: str) -> None:
            if self.args.world_size <= 1:
                super()._save_rng_state(output_dir)
                return
            import random

            import numpy as np
            import torch
            import torch.distributed as dist

            state: dict[str, Any] = {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "cpu": torch.random.get_rng_state(),
            }
            if torch.cuda.is_available():  # pragma: no cover - needs a CUDA GPU
                state["cuda"] = torch.cuda.random.get_rng_state_all()
            states: list[Any] = [None] * self.args.world_size
            dist.all_gather_object(states, state)
            if self.args.process_index == 0:
                Path(output_dir).mkdir(parents=True, exist_ok=True)
                for rank, rank_state in enumerate(states):
                    torch.save(rank_state, Path(output_dir) / f"rng_state_{rank}.pth")

    return RankZeroRngTrainer


@dataclass(frozen=True)
class ShardResult:
    """What a process other than rank 0 did: its rank and the optimizer steps it took."""

    rank: int
    global_step: int

    def summary(self) -> str:
        return f"rank {self.rank}: trained its shard, {self.global_step} steps"


def run(settings: "Settings") -> ShardResult:
    """`make train-distributed` on a process other than rank 0: the same model, the same
    recipe, its shard of every batch; it evaluates, tracks and writes nothing."""
    from . import train

    here = train.preflight(settings)
    splits, precision, base, tokenizer = train.load(settings)
    model = train.with_adapter(base, settings, precision)
    fit = train.fine_tune(model, tokenizer, splits, settings, precision)
    return ShardResult(here.rank, fit.global_step)
