"""Fine-tuning settings: the shared project settings plus one small class per concern.

Each class below holds one concern's knobs; `Settings` inherits them all, so every
environment variable keeps its plain name and `make docs` groups `.env.example` by
the class that declares each one.
"""

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator
from pydantic_settings import NoDecode

from .modeling import Quantization
from .platform.config import ProjectSettings

# Every linear layer of a Llama/Qwen2 block: the QLoRA paper's choice, and what
# lets even a tiny model learn the task.
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# A module name as peft matches it: letters, digits, underscores and dots.
ModuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]


class PathSettings(BaseModel):
    """Paths: the data the run reads and the folders it writes."""

    data_dir: Path = Field(
        default=Path("data"),
        description="Folder with train.jsonl, validation.jsonl and test.jsonl (chat format).",
    )
    checkpoint_dir: Path = Field(
        default=Path("checkpoints"),
        description="Checkpoints and optimizer state (RESUME reads it).",
    )
    adapter_dir: Path = Field(
        default=Path("models/adapter"), description="What training exports and the API serves."
    )
    results_dir: Path = Field(
        default=Path("results"), description="Metrics, predictions and evaluation of the last run."
    )

    def split_path(self, split: str) -> Path:
        return self.data_dir / f"{split}.jsonl"


class DataSettings(BaseModel):
    """Data: the seed behind every random choice and the tokens kept per example."""

    seed: int = Field(
        default=42, description="Seed of the tiny model, LoRA init, data order and bootstrap."
    )
    max_length: int = Field(
        default=256, ge=16, description="Tokens per training example; longer ones are cut."
    )


class TrainingSettings(BaseModel):
    """Training: the base model and the optimizer's knobs (auto ones: recipe.py)."""

    base_model: str = Field(
        default="Qwen/Qwen2.5-0.5B-Instruct",
        min_length=1,
        description="Hub id or local folder of an instruct model; `tiny` builds one offline.",
    )
    quantization: Quantization = Field(
        default="auto",
        description="auto: a 4-bit base on a CUDA GPU with bitsandbytes, else full precision.",
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
    gradient_checkpointing: bool | Literal["auto"] = Field(
        default="auto", description="auto: on only when the activations may not fit in memory."
    )
    save_steps: int = Field(default=50, ge=1, description="Optimizer steps between checkpoints.")
    resume: bool = Field(default=False, description="Continue from the last checkpoint.")
    progress: bool = Field(default=True, description="Progress bars on the terminal.")

    @property
    def recipe_epochs(self) -> float | None:
        """The epochs the recipe plans for: None when MAX_STEPS fixes the steps instead."""
        return None if self.max_steps > 0 else self.epochs


class LoraSettings(BaseModel):
    """LoRA: the adapter's shape and where it attaches."""

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


class EvaluationSettings(BaseModel):
    """Evaluation gates: the test-split figures an adapter must reach to be exported."""

    eval_max_new_tokens: int = Field(
        default=4, ge=1, le=64, description="Tokens generated per test answer in evaluation."
    )
    bootstrap_samples: int = Field(
        default=1000, ge=100, description="Resamples behind each 95% confidence interval."
    )
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


class ApiLimitSettings(BaseModel):
    """API limits: the largest /generate request the server accepts (else 422)."""

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


class GenerationSettings(BaseModel):
    """Generation: the queue, deadline and threads of the served model."""

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


# The concerns whose values decide what a training run learns: the MLflow run's
# parameters are exactly their fields (see `Settings.training_params`).
HYPERPARAMETERS: tuple[type[BaseModel], ...] = (DataSettings, TrainingSettings, LoraSettings)


# Listed last concern first: the configuration reference (and .env.example) shows the
# classes in reverse order of inheritance, so paths come first, generation last.
class Settings(
    GenerationSettings,
    ApiLimitSettings,
    EvaluationSettings,
    LoraSettings,
    TrainingSettings,
    DataSettings,
    PathSettings,
    ProjectSettings,
):
    """Every value can be set by an environment variable of the same name."""

    def training_params(self) -> dict[str, object]:
        """The MLflow parameters of a training run: every data, training and LoRA
        setting by its name (a list as `a,b`), read from the classes above."""
        params: dict[str, object] = {}
        for concern in HYPERPARAMETERS:
            for name in concern.model_fields:
                value = getattr(self, name)
                params[name] = ",".join(value) if isinstance(value, list) else value
        return params


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()
