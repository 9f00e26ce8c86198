import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow import MlflowClient
from transformers import AutoTokenizer

from {{ cookiecutter.package_name }} import train
from {{ cookiecutter.package_name }}.dataset import LABELS, DataError, load_jsonl
from {{ cookiecutter.package_name }}.evaluation import normalize
from {{ cookiecutter.package_name }}.modeling import (
    BASE_MANIFEST,
    Precision,
    load_adapter,
)
from {{ cookiecutter.package_name }}.sft import encode

from variant_fixtures import Trained, training_settings, write_small_splits

# The learning check: trained in seconds from the tiny random model on the bundled
# task, the fine-tuned model must beat the untrained base by this much accuracy,
# and the lower end of its interval must clear the base's upper end.
MIN_ACCURACY_LIFT = 0.5


@pytest.mark.slow
def test_training_loss_falls(trained: Trained) -> None:
    losses = trained.result.losses

    assert len(losses) >= 50
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


@pytest.mark.slow
def test_fine_tuned_model_beats_the_untrained_base_by_the_stated_margin(
    trained: Trained,
) -> None:
    base, tuned = trained.result.base_metrics, trained.result.tuned_metrics

    assert tuned["accuracy"].value - base["accuracy"].value >= MIN_ACCURACY_LIFT
    assert tuned["accuracy"].low > base["accuracy"].high
    assert tuned["macro_f1"].low > base["macro_f1"].high


@pytest.mark.slow
def test_merged_model_matches_the_adapter_in_fp32(trained: Trained) -> None:
    diff = trained.result.merge_max_abs_diff

    assert diff is not None
    assert diff < trained.settings.merge_tolerance


def _doubled_scaling(model: Any) -> Any:
    """A merge that folds the adapter in at twice its alpha / r."""
    for module in model.modules():
        scaling = getattr(module, "scaling", None)
        if isinstance(scaling, dict):
            module.scaling = {name: 2 * value for name, value in scaling.items()}
    return model.merge_and_unload()


def _without_v_proj(model: Any) -> Any:
    """A merge that leaves one target module (v_proj) out."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "v_proj" in name and "lora_B" in name:
                parameter.zero_()
    return model.merge_and_unload()


@pytest.fixture(scope="module", params=[False, True], ids=["fp32", "bf16"])
def trained_adapter(request: pytest.FixtureRequest, trained: Trained) -> tuple[Any, Any, Precision]:
    """The session's trained adapter, loaded back in fp32 or in bf16 (CPU torch runs both)."""
    precision = Precision("cpu", bf16=request.param, quantize_4bit=False)
    model, tokenizer, _ = load_adapter(trained.settings.adapter_dir, precision)
    return model, tokenizer, precision


@pytest.mark.slow
def test_correct_merge_passes_in_every_precision(
    trained: Trained, trained_adapter: tuple[Any, Any, Precision]
) -> None:
    model, tokenizer, precision = trained_adapter
    test = load_jsonl(trained.settings.split_path("test"))[:16]

    diff = train.merge_max_abs_diff(model, tokenizer, test, precision)

    assert diff is not None
    assert diff < trained.settings.merge_tolerance
    assert hasattr(model, "peft_config")  # checked on a copy: the model keeps its adapter


@pytest.mark.slow
@pytest.mark.parametrize("broken", [_doubled_scaling, _without_v_proj])
def test_broken_merge_stops_the_export_in_every_precision(
    trained: Trained, trained_adapter: tuple[Any, Any, Precision], broken: train.Merge
) -> None:
    model, tokenizer, precision = trained_adapter
    test = load_jsonl(trained.settings.split_path("test"))[:16]

    diff = train.merge_max_abs_diff(model, tokenizer, test, precision, merge=broken)
    failures = train._promotion_failures(trained.settings, 1.0, 1.0, diff)

    assert diff is not None
    assert diff > 100 * trained.settings.merge_tolerance
    assert failures == [
        f"merged and adapter outputs differ by {diff:.2e} "
        f"(tolerance {trained.settings.merge_tolerance:.0e})"
    ]


@pytest.mark.slow
def test_passing_adapter_is_exported_with_its_base(trained: Trained) -> None:
    adapter = trained.settings.adapter_dir

    assert trained.result.promoted
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "base" / "config.json").is_file()
    assert json.loads((adapter / BASE_MANIFEST).read_text())["base_model"] == "tiny"


@pytest.mark.slow
def test_run_records_params_loss_curve_metrics_and_adapter(trained: Trained) -> None:
    client = MlflowClient(trained.settings.mlflow_tracking_uri)
    run = client.get_run(trained.result.run_id)

    assert run.data.params["lora_rank"] == str(trained.settings.lora_rank)
    assert run.data.params["base_model"] == "tiny"
    assert len(run.data.tags["data_sha256.train"]) == 64
    curve = client.get_metric_history(run.info.run_id, "train/loss")
    assert len(curve) == len(trained.result.losses)
    assert run.data.metrics["accuracy_lift"] >= MIN_ACCURACY_LIFT
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert "adapter/adapter_config.json" in artifacts
    assert "failures.md" in {a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.mark.slow
def test_results_files_hold_the_comparison_and_failures(trained: Trained) -> None:
    results = trained.settings.results_dir
    metrics = json.loads((results / "metrics.json").read_text())
    report = (results / "evaluation.md").read_text()

    assert (
        metrics["tuned_metrics"]["accuracy"]["value"]
        == trained.result.tuned_metrics["accuracy"].value
    )
    assert metrics["failures"] == len(trained.result.failures)
    assert "| fine-tuned |" in report
    assert "## Failure cases" in report


@pytest.mark.slow
def test_results_hold_every_test_answer_of_both_models(trained: Trained) -> None:
    payload = json.loads((trained.settings.results_dir / "predictions.json").read_text())
    examples = payload["examples"]
    tuned_right = sum(normalize(row["tuned"]) == row["expected"] for row in examples)

    assert payload["labels"] == list(LABELS)
    assert len(examples) == 150
    assert set(examples[0]) == {"example_id", "text", "expected", "base", "tuned"}
    assert tuned_right / 150 == trained.result.tuned_metrics["accuracy"].value


@pytest.mark.slow
def test_results_hold_the_speed_memory_and_adapter_size_of_the_run(trained: Trained) -> None:
    metrics = json.loads((trained.settings.results_dir / "metrics.json").read_text())
    weights = trained.settings.adapter_dir / "adapter_model.safetensors"

    assert metrics["device"] == "cpu"
    assert metrics["memory_kind"] == "process max RSS"
    assert metrics["peak_memory_mb"] > 100  # torch alone is more than that
    assert metrics["train_seconds"] > 0
    # Non-padding tokens only: every training example once per epoch, padding not counted.
    tokenizer = AutoTokenizer.from_pretrained(str(trained.settings.adapter_dir))
    examples = load_jsonl(trained.settings.split_path("train"))
    per_epoch = sum(
        len(encode(tokenizer, ex, trained.settings.max_length).input_ids) for ex in examples
    )
    assert metrics["train_tokens"] == trained.settings.epochs * per_epoch
    rate = metrics["train_tokens"] / metrics["train_seconds"]
    assert metrics["tokens_per_second"] == pytest.approx(rate, rel=0.01)
    assert metrics["adapter_bytes"] == weights.stat().st_size


@pytest.mark.slow
def test_undertrained_adapter_is_not_exported_and_training_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], Path]
) -> None:
    monkeypatch.chdir(tmp_path)
    new_store(tmp_path)
    data = write_small_splits(tmp_path / "data")
    first = training_settings(tmp_path, data_dir=data, max_steps=2, save_steps=1)

    stopped = train.run(first)
    resumed = train.run(first.model_copy(update={"max_steps": 3, "resume": True}))

    assert not stopped.promoted
    assert any("accuracy" in failure for failure in stopped.promotion_failures)
    assert not first.adapter_dir.exists()
    assert train.last_checkpoint(first.checkpoint_dir) is not None
    assert stopped.global_step == 2
    assert resumed.global_step == 3
    assert len(resumed.losses) == 3  # the log history came back from the checkpoint


def test_bad_data_fails_before_any_model_loads(tmp_path: Path) -> None:
    data = write_small_splits(tmp_path / "data")
    (data / "validation.jsonl").write_text('{"id": 1}\n', encoding="utf-8")

    with pytest.raises(DataError, match=r"validation\.jsonl:1"):
        train.run(training_settings(tmp_path, data_dir=data))


@pytest.mark.parametrize("batching", ["group_by_length", "padding_free"])
def test_gpu_batching_choices_train_on_the_cpu_too(
    tmp_path: Path, tiny_pair: tuple[Any, Any], batching: str
) -> None:
    """The GPU recipe's length-grouped and padding-free batches, run here on the CPU so
    that a GPU machine is not the first to execute them."""
    import dataclasses

    data = write_small_splits(tmp_path / "data")
    settings = training_settings(tmp_path, data_dir=data, max_steps=2, batch_size=4)
    splits = {split: load_jsonl(settings.split_path(split)) for split in ("train", "validation")}
    model, tokenizer = tiny_pair
    cpu = Precision("cpu", bf16=False, quantize_4bit=False)
    planned = train.plan(model, train.encode_split(tokenizer, splits["train"], 256), settings, cpu)
    if batching == "padding_free":
        chosen = dataclasses.replace(planned, padding_free=True, group_by_length=False)
    else:
        chosen = dataclasses.replace(planned, group_by_length=True)

    fit = train.fine_tune(model, tokenizer, splits, settings, cpu, chosen=chosen)

    assert fit.global_step == 2
    assert all(math.isfinite(loss) for loss in fit.losses)
    assert fit.tokens > 0


def test_resume_skips_a_checkpoint_that_was_cut_short(tmp_path: Path) -> None:
    for step, state in ((2, "{}"), (4, None), (6, '{"global_st')):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)

    # 4 lacks its trainer state (written last), 6 has half of it: 2 is the last whole one.
    assert train.last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")


def test_training_removes_staging_left_by_a_killed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], Path]
) -> None:
    monkeypatch.chdir(tmp_path)
    new_store(tmp_path)
    data = write_small_splits(tmp_path / "data")
    settings = training_settings(tmp_path, data_dir=data, max_steps=1, save_steps=1000)
    killed_export = settings.adapter_dir.parent / f".{settings.adapter_dir.name}.x1y2z3"
    killed_staging = settings.checkpoint_dir / ".export"
    for folder in (killed_export, killed_staging):
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"half")

    train.run(settings)

    assert not killed_export.exists()
    assert not killed_staging.exists()
    assert not list(settings.adapter_dir.parent.glob(".*"))


@pytest.mark.slow
def test_results_hold_the_run_params_and_loss_curves_the_report_needs(
    trained: Trained,
) -> None:
    written = json.loads((trained.settings.results_dir / "training_run.json").read_text())
    client = MlflowClient(trained.settings.mlflow_tracking_uri)
    logged = client.get_metric_history(trained.result.run_id, "train/loss")

    assert written["run_id"] == trained.result.run_id
    assert written["params"]["lora_rank"] == trained.settings.lora_rank
    assert "recipe.learning_rate" in written["params"]
    # The curve the Trainer callback logged to MLflow, step by step, and no other.
    assert [tuple(point) for point in written["train_loss"]] == [
        (m.step, pytest.approx(m.value)) for m in sorted(logged, key=lambda m: m.step)
    ]
    assert written["eval_loss"], "no validation loss recorded"


def test_a_crash_during_training_ends_the_mlflow_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: Callable[[Path], Path]
) -> None:
    monkeypatch.chdir(tmp_path)
    new_store(tmp_path)
    data = write_small_splits(tmp_path / "data")
    settings = training_settings(tmp_path, data_dir=data, max_steps=1)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(train, "fine_tune", crash)
    with pytest.raises(RuntimeError, match="out of memory"):
        train.run(settings)

    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert not settings.adapter_dir.exists()
    assert not (settings.checkpoint_dir / ".export").exists()


def test_last_checkpoint_is_none_without_a_folder(tmp_path: Path) -> None:
    assert train.last_checkpoint(tmp_path / "missing") is None
