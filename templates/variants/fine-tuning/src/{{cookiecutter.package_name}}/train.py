"""Training job: base eval, LoRA fine-tune, tuned eval, merge check, MLflow, export.

Every step is tracked in one MLflow run (through `tracking.Run`): parameters, the
loss curve, base and tuned metrics with intervals, the failure table and the adapter
as an artifact. What `make report` needs goes to `results/` as well, so the report
reads files only, never the tracking store.
"""

import copy
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import dataset, distributed, evaluation, modeling, recipe, sft
from .platform.files import staged_directory, write_json, write_text
from .platform.stats import Estimate
from .report import TRAINING_RUN_FILE
from .settings import Settings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .platform import tracking

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fit:
    """What one `Trainer.train` call did, as measured around its optimizer steps."""

    losses: list[float]
    global_step: int
    # Forward, backward and update only: evaluation, logging and checkpoints excluded.
    step_seconds: float
    # Non-padding tokens fed to those steps (this session's, when resuming).
    tokens: int
    recipe: recipe.Recipe
    # (step, loss) of every logged training step and of every validation pass.
    train_curve: list[tuple[int, float]] = field(default_factory=list)
    eval_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.step_seconds if self.step_seconds > 0 else 0.0


@dataclass(frozen=True)
class Prediction:
    """One test example with the base and the fine-tuned model's raw answers."""

    example_id: str
    text: str
    expected: str
    base: str
    tuned: str


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    base_metrics: dict[str, Estimate]
    tuned_metrics: dict[str, Estimate]
    losses: list[float]
    merge_max_abs_diff: float | None
    failures: list[evaluation.Failure]
    promoted: bool
    promotion_failures: list[str]
    global_step: int
    predictions: list[Prediction]
    # Training speed and footprint: tokens/s, peak memory and the adapter's size on disk.
    resources: dict[str, float | str]
    extra: dict[str, float] = field(default_factory=dict)
    # What the run was tracked with, and its loss curves: for `make report`.
    params: dict[str, object] = field(default_factory=dict)
    train_curve: list[tuple[int, float]] = field(default_factory=list)
    eval_curve: list[tuple[int, float]] = field(default_factory=list)
    # Where an exported adapter went (ADAPTER_DIR).
    adapter_dir: Path = Path("models/adapter")

    def summary(self) -> str:
        """What `make train` prints when the run ends."""
        lines = [f"run {self.run_id}: {self.global_step} steps"]
        if self.losses:
            lines.append(f"  train loss {self.losses[0]:.3f} -> {self.losses[-1]:.3f}")
        lines.append(
            evaluation.comparison_table(
                {"base": self.base_metrics, "fine-tuned": self.tuned_metrics}
            )
        )
        if self.merge_max_abs_diff is not None:
            lines.append(f"  merged vs adapter max |logit diff| {self.merge_max_abs_diff:.2e}")
        if self.promoted:
            lines.append(f"adapter exported to {self.adapter_dir}")
        else:
            lines.append("not exported: " + "; ".join(self.promotion_failures))
        return "\n".join(lines)


def tiny_corpus(splits: dict[str, list[dataset.Example]]) -> list[str]:
    """Texts a tiny tokenizer is trained on: everything the model will read or write."""
    return [m.content for ex in splits["train"] for m in ex.messages] + list(dataset.LABELS)


def predict(
    model: Any,
    tokenizer: "PreTrainedTokenizerBase",
    examples: list[dataset.Example],
    settings: Settings,
    batch_size: int = recipe.CPU_EVAL_BATCH,
) -> list[str]:
    """Greedy answers to `examples`, with no bar of their own: `make train` shows one
    progress bar, the training's, and a summary at the end."""
    return sft.generate(
        model,
        tokenizer,
        [ex.prompt for ex in examples],
        max_new_tokens=settings.eval_max_new_tokens,
        batch_size=batch_size,
    )


def encode_split(
    tokenizer: "PreTrainedTokenizerBase", examples: list[dataset.Example], max_length: int
) -> sft.FeatureDataset:
    return sft.FeatureDataset([sft.encode(tokenizer, ex, max_length) for ex in examples])


def plan(
    model: Any,
    train_features: sft.FeatureDataset,
    settings: Settings,
    precision: modeling.Precision,
) -> recipe.Recipe:
    """The recipe for this model, data and machine (see recipe.py)."""
    config = model.config
    _, total = modeling.parameter_counts(model)
    shape = recipe.ModelShape(
        parameters=total,
        hidden_size=int(config.hidden_size),
        layers=int(config.num_hidden_layers),
        vocab_size=int(config.vocab_size),
    )
    attention = str(getattr(config, "_attn_implementation", None) or "eager")
    return recipe.choose_recipe(
        settings,
        lengths=[len(f.input_ids) for f in train_features.features],
        machine=recipe.machine_for(precision.device, precision.bf16, attention),
        shape=shape,
        processes=distributed.world().size,
    )


def with_adapter(base: Any, settings: Settings, precision: modeling.Precision) -> Any:
    """`base` with fresh LoRA adapters of the configured shape."""
    return modeling.add_lora(
        base,
        rank=settings.lora_rank,
        alpha=settings.lora_alpha,
        dropout=settings.lora_dropout,
        target_modules=settings.lora_target_modules,
        quantized=precision.quantize_4bit,
    )


def last_checkpoint(directory: Path) -> str | None:
    """The newest complete checkpoint in `directory`, or None.

    The Trainer writes `trainer_state.json` last: a checkpoint without a readable one
    was cut short (a kill, a full disk) and is skipped, so `RESUME=true` continues
    from the one before instead of failing on it.
    """
    if not directory.is_dir():
        return None
    steps = []
    for folder in directory.glob("checkpoint-*"):
        suffix = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and suffix.isdigit():
            steps.append((int(suffix), folder))
    for _, folder in sorted(steps, reverse=True):
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("skipping an incomplete checkpoint", extra={"checkpoint": str(folder)})
            continue
        return str(folder)
    return None


def clean_staging(settings: Settings) -> Path:
    """Remove what a killed run left half-written, and return an empty export folder.

    Staging lives beside the checkpoints (ignored by git and docker), and the
    leftovers of an interrupted export (`models/.adapter.*`) are never loaded or shipped.
    """
    target = settings.adapter_dir
    for stale in target.parent.glob(f".{target.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = settings.checkpoint_dir / ".export"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _params(settings: Settings, precision: modeling.Precision) -> dict[str, object]:
    """The settings that shape the run (settings.py says which), and where it ran."""
    return {
        **settings.training_params(),
        "device": precision.device,
        "bf16": precision.bf16,
        "quantize_4bit": precision.quantize_4bit,
        "processes": distributed.world().size,
    }


def _tracking_callback(run: "tracking.Run") -> Any:
    """A Trainer callback that logs each logged loss/metric to `run`, step by step."""
    from transformers import TrainerCallback

    class RunLossCallback(TrainerCallback):
        def on_log(
            self,
            args: Any,
            state: Any,
            control: Any,
            logs: dict[str, float] | None = None,
            **kwargs: Any,
        ) -> None:
            numeric = {
                f"train/{key}": float(value)
                for key, value in (logs or {}).items()
                if isinstance(value, int | float)
            }
            if numeric:
                run.log_metrics(numeric, step=int(state.global_step))

    return RunLossCallback()


def _step_timer() -> Any:
    """A Trainer callback that sums the wall time of optimizer steps and counts their tokens."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds = 0.0
            self.tokens_before = 0
            self.tokens = 0
            self._started = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.tokens_before = int(state.num_input_tokens_seen)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if torch.cuda.is_available():  # pragma: no cover - kernels run asynchronously
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - self._started
            self.tokens = int(state.num_input_tokens_seen) - self.tokens_before

    return StepTimer()


def _quiet_terminal(trainer: Any, progress: bool) -> None:
    """One progress bar (or none) instead of a dict per logged step: the losses go to
    MLflow and to the summary `make train` prints at the end."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class BarOnly(ProgressCallback):
        """The training bar only: no log lines, no bar per validation pass."""

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            pass

        def on_prediction_step(
            self, args: Any, state: Any, control: Any, eval_dataloader: Any = None, **kwargs: Any
        ) -> None:
            pass

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(BarOnly())


def _checkpointing_args(enabled: bool) -> dict[str, Any]:
    """Gradient checkpointing under the name this transformers knows: recent releases
    call it activation checkpointing and warn about the old name."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    prefix = "activation" if "activation_checkpointing" in names else "gradient"
    if not enabled:
        return {f"{prefix}_checkpointing": False}
    return {
        f"{prefix}_checkpointing": True,
        f"{prefix}_checkpointing_kwargs": {"use_reentrant": False},
    }


def training_arguments(
    settings: Settings, chosen: recipe.Recipe, precision: modeling.Precision
) -> Any:
    """The Trainer's arguments: the settings, with the recipe's choice for each `auto`."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(settings.checkpoint_dir),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=chosen.batch_size,
        per_device_eval_batch_size=chosen.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=chosen.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,
        logging_steps=1,
        eval_strategy="epoch",
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        bf16=precision.bf16,
        **_checkpointing_args(chosen.gradient_checkpointing),
        train_sampling_strategy="group_by_length" if chosen.group_by_length else "random",
        use_cpu=precision.device == "cpu",
        seed=settings.seed,
        data_seed=settings.seed,
        report_to="none",
        disable_tqdm=not settings.progress,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        # LoRA uses every trainable weight in every step: DDP need not look for unused ones.
        ddp_find_unused_parameters=False,
    )


def fine_tune(
    model: Any,
    tokenizer: "PreTrainedTokenizerBase",
    splits: dict[str, list[dataset.Example]],
    settings: Settings,
    precision: modeling.Precision,
    *,
    callbacks: list[Any] | None = None,
    chosen: recipe.Recipe | None = None,
) -> Fit:
    """Run the Trainer with the recipe for this machine (resuming if asked).

    The one training path: `make train`, `make gpu-smoke` and the benchmark all call it;
    under `accelerate launch` every process calls it and trains on its shard.
    """
    from transformers import DataCollatorWithFlattening, Trainer

    train_features = encode_split(tokenizer, splits["train"], settings.max_length)
    chosen = chosen or plan(model, train_features, settings, precision)
    args = training_arguments(settings, chosen, precision)
    model.config.use_cache = False  # incompatible with gradient checkpointing
    timer = _step_timer()
    collator: Any = sft.Collator(int(tokenizer.pad_token_id))
    if chosen.padding_free:
        collator = DataCollatorWithFlattening()  # type: ignore[no-untyped-call]
    trainer = distributed.rank_zero_rng_trainer(Trainer)(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=encode_split(tokenizer, splits["validation"], settings.max_length),
        data_collator=collator,
        callbacks=[timer, *(callbacks or [])],
    )
    _quiet_terminal(trainer, settings.progress)
    resume = last_checkpoint(settings.checkpoint_dir) if settings.resume else None
    if resume:
        logger.info("resuming", extra={"checkpoint": resume})
    trainer.train(resume_from_checkpoint=resume)
    model.config.use_cache = True
    history = trainer.state.log_history
    train_curve = _curve(history, "loss")
    return Fit(
        [loss for _, loss in train_curve],
        int(trainer.state.global_step),
        timer.seconds,
        timer.tokens,
        chosen,
        train_curve=train_curve,
        eval_curve=_curve(history, "eval_loss"),
    )


def _curve(history: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    """(step, value) of `key` in the Trainer's log history, in the order logged."""
    return [(int(entry.get("step", 0)), float(entry[key])) for entry in history if key in entry]


Merge = Callable[[Any], Any]


def _merge(model: Any) -> Any:
    return model.merge_and_unload()


def merge_max_abs_diff(
    model: Any,
    tokenizer: "PreTrainedTokenizerBase",
    examples: list[dataset.Example],
    precision: modeling.Precision,
    merge: Merge = _merge,
) -> float | None:
    """Largest |logit| difference between adapter and merged model, both in fp32.

    Both run from an fp32 copy of the same weights, so the figure measures the merge
    (scaling, target modules), not bf16 rounding: it means the same in every
    precision, and `model` itself is left as it was. None on 4-bit, where merging
    rounds the sum back to 4 bits by design (ADR 0009).
    """
    if precision.quantize_4bit:  # pragma: no cover - needs a CUDA GPU
        return None
    conversations = [ex.prompt for ex in examples]
    reference = copy.deepcopy(model).float()
    with_adapter = sft.last_token_logits(reference, tokenizer, conversations)
    merged_logits = sft.last_token_logits(merge(reference), tokenizer, conversations)
    return float((with_adapter - merged_logits).abs().max())


def _evaluate(
    model: Any,
    tokenizer: "PreTrainedTokenizerBase",
    test: list[dataset.Example],
    settings: Settings,
    batch_size: int,
) -> tuple[list[str], dict[str, Estimate]]:
    answers = predict(model, tokenizer, test, settings, batch_size)
    estimates = evaluation.evaluate(
        dataset.labels_of(test),
        answers,
        dataset.LABELS,
        n_bootstrap=settings.bootstrap_samples,
        seed=settings.seed,
    )
    return answers, estimates


def _log_export(run: "tracking.Run", staging: Path, base_model: str) -> None:
    """The export as an MLflow artifact; a saved local-folder base (GBs) stays out,
    the tiny one (a few hundred KB) goes with it so the run alone can be served."""
    for path in sorted(staging.iterdir()):
        if path.is_file():
            run.log_artifact(path, "adapter")
        elif base_model == modeling.TINY:
            run.log_artifact(path, f"adapter/{path.name}")


def _promotion_failures(
    settings: Settings, tuned_accuracy: float, lift: float, diff: float | None
) -> list[str]:
    from .platform.tracking import failed_thresholds

    failures = failed_thresholds(
        {"accuracy": tuned_accuracy, "accuracy_lift": lift},
        {"accuracy": settings.min_accuracy, "accuracy_lift": settings.min_accuracy_lift},
    )
    if diff is not None and diff > settings.merge_tolerance:
        failures.append(
            f"merged and adapter outputs differ by {diff:.2e} "
            f"(tolerance {settings.merge_tolerance:.0e})"
        )
    return failures


def _tracked_job(
    settings: Settings,
    *,
    splits: dict[str, list[dataset.Example]],
    precision: modeling.Precision,
    base: Any,
    tokenizer: "PreTrainedTokenizerBase",
    staging: Path,
    run: "tracking.Run",
    params: dict[str, object],
    announce: Callable[[str], None],
) -> TrainResult:
    """Inside the MLflow run: base eval, fine-tune, tuned eval, save, merge check, log."""
    test = splits["test"]
    chosen = plan(
        base, encode_split(tokenizer, splits["train"], settings.max_length), settings, precision
    )
    announce(chosen.describe(precision.device))
    run.log_params(chosen.params())
    base.train(False)
    base_answers, base_metrics = _evaluate(base, tokenizer, test, settings, chosen.eval_batch_size)
    model = with_adapter(base, settings, precision)
    trainable, total = modeling.parameter_counts(model)
    run.log_params({"trainable_parameters": trainable, "total_parameters": total})
    if precision.device == "cuda":  # pragma: no cover - needs a CUDA GPU
        import torch

        torch.cuda.reset_peak_memory_stats()
    fit = fine_tune(
        model,
        tokenizer,
        splits,
        settings,
        precision,
        callbacks=[_tracking_callback(run)],
        chosen=chosen,
    )
    peak_mb, memory_kind = modeling.peak_memory(precision.device)
    losses = fit.losses
    model.eval()
    tuned_answers, tuned_metrics = _evaluate(
        model, tokenizer, test, settings, chosen.eval_batch_size
    )
    cases = evaluation.failures(
        [ex.id for ex in test], [ex.text for ex in test], dataset.labels_of(test), tuned_answers
    )
    with modeling.no_progress_bars():
        modeling.save_adapter(model, tokenizer, staging)
    resources: dict[str, float | str] = {
        "device": precision.device,
        "processes": distributed.world().size,
        "batch_size": chosen.batch_size,
        "learning_rate": chosen.learning_rate,
        "train_seconds": round(fit.step_seconds, 3),
        "train_tokens": fit.tokens,
        "tokens_per_second": round(fit.tokens_per_second, 1),
        "peak_memory_mb": round(peak_mb, 1),
        "memory_kind": memory_kind,
        "adapter_bytes": modeling.adapter_bytes(staging),
    }
    _log_export(run, staging, settings.base_model)
    diff = merge_max_abs_diff(model, tokenizer, test[:32], precision)
    lift = tuned_metrics["accuracy"].value - base_metrics["accuracy"].value
    metrics = {
        **{f"base_{k}": v.value for k, v in base_metrics.items()},
        **{f"tuned_{k}": v.value for k, v in tuned_metrics.items()},
        **{f"tuned_{k}_low": v.low for k, v in tuned_metrics.items()},
        "accuracy_lift": lift,
        **{k: float(v) for k, v in resources.items() if not isinstance(v, str)},
    }
    if losses:
        metrics["final_train_loss"] = losses[-1]
    if diff is not None:
        metrics["merge_max_abs_diff"] = diff
    run.log_metrics(metrics)
    run.log_text(evaluation.failure_table(cases), "failures.md")
    failures = _promotion_failures(settings, tuned_metrics["accuracy"].value, lift, diff)
    broken = modeling.non_finite_weights(model)
    if broken:  # a diverged run: the API would refuse these weights anyway
        failures.append(f"{len(broken)} adapter weights hold NaN or infinite values")
    run.set_tags({"promotion": "rejected" if failures else "exported"})
    return TrainResult(
        run_id=run.id,
        base_metrics=base_metrics,
        tuned_metrics=tuned_metrics,
        losses=losses,
        merge_max_abs_diff=diff,
        failures=cases,
        promoted=not failures,
        promotion_failures=failures,
        global_step=fit.global_step,
        predictions=[
            Prediction(ex.id, ex.text, ex.completion, base_answer, tuned_answer)
            for ex, base_answer, tuned_answer in zip(test, base_answers, tuned_answers, strict=True)
        ],
        resources=resources,
        extra={"trainable_parameters": trainable, "total_parameters": total},
        params={**params, **chosen.params()},
        train_curve=fit.train_curve,
        eval_curve=fit.eval_curve,
        adapter_dir=settings.adapter_dir,
    )


def preflight(settings: Settings) -> distributed.World:
    """This process's place in the launch, after the checks that take milliseconds: a
    bad launch, data file or folder, or an unreachable hub fails before the imports
    and loads that take seconds (MLflow, torch, the base model)."""
    here = distributed.world()
    for split in dataset.SPLITS:
        dataset.load_jsonl(settings.split_path(split))
    if settings.base_model != modeling.TINY:
        modeling.resolve_base(settings.base_model)
    return here


def load(
    settings: Settings,
) -> tuple[dict[str, list[dataset.Example]], modeling.Precision, Any, "PreTrainedTokenizerBase"]:
    """Data first, so a bad file fails before any model loads; then the base (every
    process builds the same one from the seed)."""
    import torch

    splits = {split: dataset.load_jsonl(settings.split_path(split)) for split in dataset.SPLITS}
    precision = modeling.detect_precision(settings.quantization)
    torch.manual_seed(settings.seed)
    base, tokenizer = modeling.load_base(
        settings.base_model, precision, tiny_corpus(splits), settings.seed
    )
    return splits, precision, base, tokenizer


def run(settings: Settings, announce: Callable[[str], None] = logger.info) -> TrainResult:
    """`make train`: the whole job (rank 0's part of it in a distributed run).

    `announce` hears the recipe chosen for this machine before training starts.
    """
    preflight(settings)
    from .platform.tracking import tracked_run  # MLflow: seconds to import

    splits, precision, base, tokenizer = load(settings)
    data_files = {split: settings.split_path(split) for split in dataset.SPLITS}
    staging = clean_staging(settings)
    try:
        with modeling.no_progress_bars():  # a bar per weights file says nothing here
            modeling.save_base(base, settings.base_model, staging)
        params = _params(settings, precision)
        with tracked_run(settings, "fine-tune", params, data_files) as run:
            result = _tracked_job(
                settings,
                splits=splits,
                precision=precision,
                base=base,
                tokenizer=tokenizer,
                staging=staging,
                run=run,
                params=params,
                announce=announce,
            )
        if result.promoted:
            with staged_directory(settings.adapter_dir) as target:
                shutil.copytree(staging, target, dirs_exist_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_results(result, settings)
    return result


def _write_results(result: TrainResult, settings: Settings) -> None:
    payload = {
        "run_id": result.run_id,
        "base_model": settings.base_model,
        "base_metrics": {k: asdict(v) for k, v in result.base_metrics.items()},
        "tuned_metrics": {k: asdict(v) for k, v in result.tuned_metrics.items()},
        "first_train_loss": result.losses[0] if result.losses else None,
        "final_train_loss": result.losses[-1] if result.losses else None,
        "merge_max_abs_diff": result.merge_max_abs_diff,
        "failures": len(result.failures),
        "promoted": result.promoted,
        "promotion_failures": result.promotion_failures,
        "global_step": result.global_step,
        **result.resources,
        **result.extra,
    }
    write_json(settings.results_dir / "metrics.json", payload)
    # The run's parameters and loss curves: what `make report` quotes and draws.
    write_json(
        settings.results_dir / TRAINING_RUN_FILE,
        {
            "run_id": result.run_id,
            "params": result.params,
            "train_loss": [list(point) for point in result.train_curve],
            "eval_loss": [list(point) for point in result.eval_curve],
        },
    )
    write_json(
        settings.results_dir / "predictions.json",
        {"labels": list(dataset.LABELS), "examples": [asdict(p) for p in result.predictions]},
    )
    table = evaluation.comparison_table(
        {"base": result.base_metrics, "fine-tuned": result.tuned_metrics}
    )
    failures = evaluation.failure_table(result.failures)
    write_text(
        settings.results_dir / "evaluation.md", f"{table}\n\n## Failure cases\n\n{failures}\n"
    )
