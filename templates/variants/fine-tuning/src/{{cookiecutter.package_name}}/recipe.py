"""The training recipe, chosen at run time from the settings, the data and the machine.

On a CPU the recipe is the one the tests and the quickstart were tuned on (8 examples
per step). On a GPU a fixed example count leaves the device idle: batches are sized
by a token budget, gradient checkpointing is switched on only when the activations
may not fit, and batches group examples of similar length (or drop padding
altogether where the attention kernel supports it). Every choice is an explicit
setting too, and an explicit setting always wins (ADR 0010).
"""

import math
from dataclasses import asdict, dataclass

from .settings import TrainingSettings

CPU_BATCH = 8
REFERENCE_BATCH = 8
REFERENCE_LEARNING_RATE = 2e-4
# Largest learning rate the sqrt rule may reach: LoRA diverges well before 1e-2 on
# real models.
MAX_AUTO_LEARNING_RATE = 1e-3
# A token budget on a small dataset would leave a handful of optimizer steps, too few
# to learn from at any sane learning rate: the batch shrinks to keep at least this many.
MIN_STEPS = 50
CPU_EVAL_BATCH = 32
GPU_EVAL_BATCH = 128
# Checkpointing is switched on when weights + estimated activations pass this share
# of the device's memory: the rest is optimizer state, allocator slack and kernels.
MEMORY_SHARE = 0.6


@dataclass(frozen=True)
class Machine:
    """What the recipe needs to know about where it runs."""

    device: str
    memory_bytes: int
    bf16: bool
    attention: str  # the model's attention implementation (sdpa, eager, flash_attention_2)


@dataclass(frozen=True)
class ModelShape:
    parameters: int
    hidden_size: int
    layers: int
    vocab_size: int


@dataclass(frozen=True)
class Recipe:
    batch_size: int
    learning_rate: float
    gradient_checkpointing: bool
    group_by_length: bool
    padding_free: bool
    eval_batch_size: int
    estimated_memory_bytes: int
    # One phrase per choice, for the terminal and the MLflow run.
    why: tuple[str, ...]

    def params(self) -> dict[str, object]:
        """MLflow parameters (prefixed, so they never clash with the settings')."""
        values = asdict(self)
        values["why"] = "; ".join(self.why)
        return {f"recipe.{key}": value for key, value in values.items()}

    def describe(self, device: str) -> str:
        return f"recipe ({device}): " + "; ".join(self.why)


def estimate_memory(shape: ModelShape, batch_size: int, sequence_length: int, bf16: bool) -> int:
    """Bytes for the weights and the activations of one batch, without checkpointing.

    About 34 bytes per token, layer and hidden unit in 16-bit (the attention scores of a
    fused kernel are not kept), twice that in fp32; the logits and their gradient are
    kept in fp32, which dominates for a large vocabulary.
    """
    width = 2 if bf16 else 4
    tokens = batch_size * sequence_length
    activations = tokens * shape.layers * shape.hidden_size * 17 * width
    logits = tokens * shape.vocab_size * 4 * 2
    return shape.parameters * width + activations + logits


def auto_learning_rate(batch_size: int) -> float:
    """2e-4 at 8 examples per step; sqrt scaling above (the noise of the gradient
    falls with the square root of the batch), capped."""
    scaled = REFERENCE_LEARNING_RATE * math.sqrt(max(batch_size, 1) / REFERENCE_BATCH)
    return min(scaled, MAX_AUTO_LEARNING_RATE)


def choose_recipe(
    settings: TrainingSettings,
    *,
    lengths: list[int],
    machine: Machine,
    shape: ModelShape,
    processes: int = 1,
) -> Recipe:
    """The recipe for these settings (`lengths`: tokens per training example;
    `processes`: data-parallel processes, each taking a batch per step)."""
    batch_size, learning_rate = settings.batch_size, settings.learning_rate
    gradient_checkpointing = settings.gradient_checkpointing
    gradient_accumulation_steps = settings.gradient_accumulation_steps
    token_budget, epochs = settings.token_budget, settings.recipe_epochs
    why: list[str] = []
    mean = sum(lengths) / max(len(lengths), 1)
    gpu = machine.device == "cuda"
    if batch_size != "auto":
        batch, reason = batch_size, "BATCH_SIZE"
    elif gpu:
        batch = max(1, min(len(lengths), int(token_budget // max(mean, 1.0))))
        reason = f"{token_budget}-token budget / {mean:.0f} tokens per example"
        passes = len(lengths) * epochs if epochs else None
        per_step = MIN_STEPS * gradient_accumulation_steps * processes
        floor = int(passes // per_step) if passes else batch
        if max(floor, 1) < batch:
            batch = max(floor, 1)
            reason = f"at least {MIN_STEPS} steps: {len(lengths)} examples, {epochs:g} epochs"
    else:
        batch, reason = CPU_BATCH, "CPU default"
    why.append(f"batch {batch} ({reason})" + (f" x {processes} processes" if processes > 1 else ""))
    effective = batch * gradient_accumulation_steps * processes
    if learning_rate != "auto":
        rate = learning_rate
        why.append(f"learning rate {rate:.1e} (LEARNING_RATE)")
    else:
        rate = auto_learning_rate(effective)
        why.append(f"learning rate {rate:.1e} (auto for {effective} examples per step)")
    longest = max(lengths, default=1)
    memory = estimate_memory(shape, batch, longest, machine.bf16)
    if gradient_checkpointing != "auto":
        checkpointing = gradient_checkpointing
        why.append(f"gradient checkpointing {'on' if checkpointing else 'off'} (setting)")
    else:
        checkpointing = memory > MEMORY_SHARE * machine.memory_bytes
        why.append(
            f"gradient checkpointing {'on' if checkpointing else 'off'} (auto: "
            f"~{memory / 2**30:.1f} of {machine.memory_bytes / 2**30:.0f} GiB)"
        )
    # Padding-free batches need an attention kernel that reads sequence boundaries
    # from position ids; elsewhere, grouping by length removes most of the padding.
    padding_free = gpu and batch > 1 and machine.attention.startswith("flash_attention")
    group = gpu and batch > 1 and not padding_free
    if padding_free:
        why.append("padding-free batches")
    elif group:
        why.append("length-grouped batches")
    return Recipe(
        batch_size=batch,
        learning_rate=rate,
        gradient_checkpointing=checkpointing,
        group_by_length=group,
        padding_free=padding_free,
        eval_batch_size=GPU_EVAL_BATCH if gpu else CPU_EVAL_BATCH,
        estimated_memory_bytes=memory,
        why=tuple(why),
    )


def machine_for(device: str, bf16: bool, attention: str) -> Machine:
    """This machine's memory: the GPU's, or the host's RAM on a CPU."""
    import os

    if device == "cuda":  # pragma: no cover - needs a CUDA GPU
        import torch

        memory = int(torch.cuda.get_device_properties(0).total_memory)
    else:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Machine(device=device, memory_bytes=memory, bf16=bf16, attention=attention)
