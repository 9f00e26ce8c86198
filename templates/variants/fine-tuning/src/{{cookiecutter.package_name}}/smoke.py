"""`make gpu-smoke`: a few steps of the real training path on a model of a real shape.

It calls `train.fine_tune`, the function `make train` runs (same collator, Trainer
and recipe selection), on the bundled training split with a tokenizer trained
in-process and random weights: no download. On a GPU the model has the dimensions of
Qwen2.5-0.5B (the default base); on a CPU the tiny Llama. It checks the machine and
the stack, and measures tokens/s and peak memory; it does not check the task.
"""

import json
import platform
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from .modeling import QWEN_05B, TinyShape
from .platform.files import write_json

if TYPE_CHECKING:
    from .settings import Settings

Device = Literal["auto", "cpu", "cuda"]

GPU_SHAPE = QWEN_05B


@dataclass(frozen=True)
class SmokeResult:
    device: str
    device_name: str
    steps: int
    batch_size: int
    # Mean non-padding tokens per training example.
    sequence_length: int
    parameters: int
    trainable_parameters: int
    tokens_per_second: float
    peak_memory_mb: float
    memory_kind: str
    first_loss: float
    last_loss: float
    torch_version: str
    recipe: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def resolve_device(device: Device, cuda_available: bool) -> str:
    if device == "cuda" and not cuda_available:
        raise ValueError("--device cuda was asked for but torch sees no CUDA GPU")
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    return device


def run(
    settings: "Settings",
    device: str = "auto",
    *,
    steps: int = 10,
    batch_size: int | None = None,
    output: Path = Path("results/gpu_smoke.json"),
) -> SmokeResult:
    """`make gpu-smoke`: measure, and keep the figures in `output` for `make report`."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    chosen = cast(Device, device)
    result = measure(chosen, steps=steps, batch_size=batch_size, data_dir=settings.data_dir)
    write_json(output, result.as_dict())
    return result


def measure(
    device: Device = "auto",
    *,
    steps: int = 10,
    batch_size: int | None = None,
    shape: TinyShape | None = None,
    data_dir: Path = Path("data"),
    seed: int = 0,
) -> SmokeResult:
    """`steps` optimizer steps of `fine_tune`; `batch_size` None lets the recipe choose."""
    import torch

    from . import dataset, modeling, train
    from .settings import Settings

    target = resolve_device(device, torch.cuda.is_available())
    shape = shape or (GPU_SHAPE if target == "cuda" else TinyShape())
    precision = modeling.Precision(
        target, bf16=target == "cuda" and torch.cuda.is_bf16_supported(), quantize_4bit=False
    )
    splits = {split: dataset.load_jsonl(data_dir / f"{split}.jsonl") for split in ("train",)}
    splits["validation"] = splits["train"][:8]
    tokenizer = modeling.train_tiny_tokenizer(
        train.tiny_corpus(splits), min(shape.vocab_size, 4096)
    )
    base = modeling.place(modeling.build_tiny_model(tokenizer, shape, seed), target)
    if precision.bf16:  # pragma: no cover - needs a CUDA GPU
        base = base.bfloat16()
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as checkpoints:
        settings = Settings(
            base_model=modeling.TINY,
            max_steps=steps,
            batch_size=batch_size or "auto",
            save_steps=10**9,
            progress=False,
            checkpoint_dir=Path(checkpoints),
            seed=seed,
        )
        model = train.with_adapter(base, settings, precision)
        trainable, total = modeling.parameter_counts(model)
        if target == "cuda":  # pragma: no cover - needs a CUDA GPU
            torch.cuda.reset_peak_memory_stats()
        fit = train.fine_tune(model, tokenizer, splits, settings, precision)
    peak_mb, kind = modeling.peak_memory(target)
    if target == "cuda":  # pragma: no cover - needs a CUDA GPU
        name = torch.cuda.get_device_name()
    else:
        name = platform.processor() or platform.machine()
    lengths = [
        len(train.encode_split(tokenizer, [ex], settings.max_length).features[0].input_ids)
        for ex in splits["train"]
    ]
    return SmokeResult(
        device=target,
        device_name=name,
        steps=fit.global_step,
        batch_size=fit.recipe.batch_size,
        sequence_length=round(sum(lengths) / len(lengths)),
        parameters=total,
        trainable_parameters=trainable,
        tokens_per_second=round(fit.tokens_per_second, 1),
        peak_memory_mb=round(peak_mb, 1),
        memory_kind=kind,
        first_loss=fit.losses[0],
        last_loss=fit.losses[-1],
        torch_version=str(torch.__version__),
        recipe=fit.recipe.describe(target),
    )
