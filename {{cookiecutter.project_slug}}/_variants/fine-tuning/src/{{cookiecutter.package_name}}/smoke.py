"""`make gpu-smoke`: train LoRA on a Llama of a real architecture for a few steps and
measure throughput (tokens/s) and peak memory. Random weights and random tokens, so it
needs no download: it checks the machine and the stack, not the task.
"""

import platform
import time
from dataclasses import asdict, dataclass
from typing import Literal

from .modeling import TinyShape

Device = Literal["auto", "cpu", "cuda"]

# On a GPU: a ~0.2B-parameter Llama, big enough for realistic kernels and memory.
GPU_SHAPE = TinyShape(
    hidden_size=1024,
    layers=12,
    heads=16,
    intermediate_size=2816,
    vocab_size=32000,
    max_positions=2048,
)


@dataclass(frozen=True)
class SmokeResult:
    device: str
    device_name: str
    steps: int
    batch_size: int
    sequence_length: int
    parameters: int
    trainable_parameters: int
    tokens_per_second: float
    peak_memory_mb: float
    memory_kind: str
    first_loss: float
    last_loss: float
    torch_version: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def resolve_device(device: Device, cuda_available: bool) -> str:
    if device == "cuda" and not cuda_available:
        raise ValueError("--device cuda was asked for but torch sees no CUDA GPU")
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    return device


def run(
    device: Device = "auto",
    *,
    steps: int = 10,
    batch_size: int = 4,
    sequence_length: int = 64,
    shape: TinyShape | None = None,
    seed: int = 0,
) -> SmokeResult:
    """Train for `steps` steps (plus one untimed warm-up) and report throughput and memory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from .modeling import add_lora, parameter_counts, peak_memory

    target = resolve_device(device, torch.cuda.is_available())
    shape = shape or (GPU_SHAPE if target == "cuda" else TinyShape())
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=max(shape.max_positions, sequence_length),
        use_cache=False,
    )
    bf16 = target == "cuda" and torch.cuda.is_bf16_supported()
    with torch.device(target):
        base = LlamaForCausalLM(config)
    if bf16:  # pragma: no cover - needs a CUDA GPU
        base.bfloat16()
    base.gradient_checkpointing_enable({"use_reentrant": False})  # type: ignore[no-untyped-call]
    model = add_lora(
        base,
        rank=16,
        alpha=32,
        dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        quantized=False,
    )
    trainable, total = parameter_counts(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    # One fixed batch: the loss must fall as the model memorises it.
    tokens = torch.randint(0, shape.vocab_size, (batch_size, sequence_length), device=target)
    if target == "cuda":  # pragma: no cover - needs a CUDA GPU
        torch.cuda.reset_peak_memory_stats()

    def step() -> float:
        loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    model.train()
    first_loss = step()  # warm-up: allocations and kernel selection stay out of the timing
    if target == "cuda":  # pragma: no cover
        torch.cuda.synchronize()
    started = time.perf_counter()
    last_loss = first_loss
    for _ in range(steps):
        last_loss = step()
    if target == "cuda":  # pragma: no cover
        torch.cuda.synchronize()
        name = torch.cuda.get_device_name()
    else:
        name = platform.processor() or platform.machine()
    peak_mb, kind = peak_memory(target)
    elapsed = time.perf_counter() - started
    return SmokeResult(
        device=target,
        device_name=name,
        steps=steps,
        batch_size=batch_size,
        sequence_length=sequence_length,
        parameters=total,
        trainable_parameters=trainable,
        tokens_per_second=round(steps * batch_size * sequence_length / elapsed, 1),
        peak_memory_mb=round(peak_mb, 1),
        memory_kind=kind,
        first_loss=first_loss,
        last_loss=last_loss,
        torch_version=str(torch.__version__),
    )
