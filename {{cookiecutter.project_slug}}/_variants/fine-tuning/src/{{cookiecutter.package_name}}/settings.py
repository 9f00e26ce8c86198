"""Fine-tuning settings: the shared project settings plus data, LoRA, training and API knobs."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator
from pydantic_settings import NoDecode

from .modeling import Quantization
from .platform.config import ProjectSettings

# Every linear layer of a Llama/Qwen2 block: the QLoRA paper's choice, and what
# lets even a tiny model learn the task.
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# A module name as peft matches it: letters, digits, underscores and dots.
ModuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]


class Settings(ProjectSettings):
    """Every value can be set by an environment variable of the same name."""

    data_dir: Path = Field(
        default=Path("data"),
        description="Folder with train.jsonl, validation.jsonl and test.jsonl (chat format).",
    )
    seed: int = Field(
        default=42, description="Seed of the tiny model, LoRA init, data order and bootstrap."
    )
    base_model: str = Field(
        default="Qwen/Qwen2.5-0.5B-Instruct",
        min_length=1,
        description="Hub id or local folder of an instruct model; `tiny` builds one offline.",
    )
    quantization: Quantization = Field(
        default="auto",
        description="auto: a 4-bit base on a CUDA GPU with bitsandbytes, else full precision.",
    )
    lora_rank: int = Field(default=16, ge=1, le=512, description="Rank of the LoRA matrices.")
    lora_alpha: int = Field(
        default=32, ge=1, description="LoRA scaling: updates are multiplied by alpha / rank."
    )
    lora_dropout: float = Field(
        default=0.05, ge=0.0, lt=1.0, description="Dropout on the adapter's input in training."
    )
    lora_target_modules: Annotated[list[ModuleName], NoDecode] = Field(
        default_factory=lambda: list(ALL_LINEAR),
        min_length=1,
        description="Linear layers that get adapters: q_proj,v_proj (or a JSON list).",
    )
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] | Literal["auto"] = Field(
        default="auto",
        description="auto: 2e-4 at 8 examples per step, scaled by sqrt(batch / 8) above.",
    )
    epochs: float = Field(default=2.0, gt=0.0, description="Passes over the training split.")
    max_steps: int = Field(default=-1, ge=-1, description="Overrides epochs when positive.")
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default="auto", description="auto: 8 on CPU; TOKEN_BUDGET tokens per batch on a GPU."
    )
    token_budget: int = Field(
        default=4096, ge=64, description="Non-padding tokens per batch on a GPU (BATCH_SIZE=auto)."
    )
    gradient_accumulation_steps: int = Field(
        default=1,
        ge=1,
        description="Batches summed per optimizer step (a bigger batch, same memory).",
    )
    max_length: int = Field(
        default=256, ge=16, description="Tokens per training example; longer ones are cut."
    )
    gradient_checkpointing: bool | Literal["auto"] = Field(
        default="auto", description="auto: on only when the activations may not fit in memory."
    )
    save_steps: int = Field(default=50, ge=1, description="Optimizer steps between checkpoints.")
    checkpoint_dir: Path = Field(
        default=Path("checkpoints"),
        description="Checkpoints and optimizer state (RESUME reads it).",
    )
    resume: bool = Field(default=False, description="Continue from the last checkpoint.")
    progress: bool = Field(default=True, description="Progress bars on the terminal.")
    eval_max_new_tokens: int = Field(
        default=4, ge=1, le=64, description="Tokens generated per test answer in evaluation."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=100, description="Resamples behind each 95% confidence interval."
    )
    # The adapter is exported for serving only if it clears these on the test split.
    min_accuracy: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Export only if tuned test accuracy reaches this."
    )
    min_accuracy_lift: float = Field(
        default=0.2,
        ge=-1.0,
        le=1.0,
        description="Export only if tuned accuracy beats the base's by this much.",
    )
    merge_tolerance: float = Field(
        default=1e-4,
        gt=0.0,
        description="Export only if merged and adapter logits differ by less (fp32).",
    )
    adapter_dir: Path = Field(
        default=Path("models/adapter"), description="What training exports and the API serves."
    )
    results_dir: Path = Field(
        default=Path("results"), description="Metrics, predictions and evaluation of the last run."
    )
    max_new_tokens_cap: int = Field(
        default=64,
        ge=1,
        le=2048,
        description="Largest max_new_tokens a request may ask (else 422).",
    )
    max_prompt_chars: int = Field(
        default=2000, ge=1, description="Longest prompt, in characters (else 422)."
    )
    max_prompt_tokens: int = Field(
        default=512, ge=1, description="Longest prompt, in tokens after the chat template."
    )
    generation_queue: int = Field(
        default=8, ge=0, description="Requests that may wait for the model; beyond: 503."
    )
    generation_timeout_seconds: float = Field(
        default=30.0, gt=0.0, description="Longest wait plus generation for one request."
    )
    generation_threads: int = Field(
        default=1,
        ge=0,
        le=1024,
        description="torch threads for each generation; 0: one per core. One suits small "
        "models and shared cores; a big base on a CPU of its own gains from more.",
    )

    @field_validator("lora_target_modules", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`q_proj,v_proj` as well as `["q_proj", "v_proj"]`."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("not a JSON list; write q_proj,v_proj") from None
        return [part.strip() for part in value.split(",") if part.strip()]

    def split_path(self, split: str) -> Path:
        return self.data_dir / f"{split}.jsonl"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()
