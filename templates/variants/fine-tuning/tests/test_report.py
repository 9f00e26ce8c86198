import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.evaluation import per_label
from {{ cookiecutter.package_name }}.platform.readme import ReportError
from {{ cookiecutter.package_name }}.report import (
    LABEL_FIGURE,
    LOSS_FIGURE,
    TRAINING_RUN_FILE,
    Predictions,
    TrainingRun,
    capacity_section,
    evaluation_section,
    failures_section,
    per_label_section,
    plot_loss,
    plot_per_label,
    read_predictions,
    read_training_run,
    smoke_section,
    training_section,
)
from {{ cookiecutter.package_name }}.settings import get_settings

from variant_fixtures import Trained

runner = CliRunner()
LABELS = ("cancel", "billing", "outage", "upgrade", "praise")
PARAMS: dict[str, object] = {
    "lora_rank": "16",
    "lora_target_modules": "q_proj,v_proj",
    "learning_rate": "0.01",
    "batch_size": "16",
    "seed": "42",
    "device": "cpu",
}
METRICS: dict[str, Any] = {
    "run_id": "set-by-the-fixture",
    "base_model": "tiny",
    "base_metrics": {
        "accuracy": {"value": 0.0, "low": 0.0, "high": 0.0},
        "macro_f1": {"value": 0.0, "low": 0.0, "high": 0.0},
    },
    "tuned_metrics": {
        "accuracy": {"value": 0.8, "low": 0.5, "high": 1.0},
        "macro_f1": {"value": 0.78, "low": 0.45, "high": 1.0},
    },
    "global_step": 100,
    "promoted": True,
    "promotion_failures": [],
    "merge_max_abs_diff": 2.86e-06,
    "trainable_parameters": 26112,
    "total_parameters": 121584,
    "device": "cpu",
    "train_seconds": 12.5,
    "train_tokens": 250_000,
    "tokens_per_second": 20000.0,
    "peak_memory_mb": 812.4,
    "memory_kind": "process max RSS",
    "adapter_bytes": 107_624,
}
# Ten test messages: the tuned model misroutes one billing message and rambles on one
# praise message; the base answers one label, wrongly, and noise otherwise.
EXPECTED = [label for label in LABELS for _ in range(2)]
TUNED = [*EXPECTED[:3], "cancel", *EXPECTED[4:9], "I think praise"]
BASE = ["zq", "zq", "cancel", "zq", "", "zq", "zq", "zq", "zq", "zq"]
PREDICTIONS = Predictions(
    ids=[f"test-{i:04d}" for i in range(10)],
    texts=[f"message {i}" for i in range(10)],
    expected=EXPECTED,
    base=BASE,
    tuned=TUNED,
)
LOSSES = [(1, 7.736), (2, 5.1), (50, 0.9), (100, 0.186)]
RUN = TrainingRun("abc123", PARAMS, LOSSES, [(25, 1.2), (100, 0.188)])
SMOKE = {
    "device": "cuda",
    "device_name": "NVIDIA H100",
    "torch_version": "2.13.0",
    "parameters": 203_000_000,
    "trainable_parameters": 1_500_000,
    "steps": 20,
    "batch_size": 4,
    "sequence_length": 512,
    "tokens_per_second": 41234.5,
    "peak_memory_mb": 5120.0,
    "memory_kind": "cuda max_memory_allocated",
    "first_loss": 10.4,
    "last_loss": 9.1,
}
README = (
    "# Project\n\nIntro the author wrote.\n\n"
    + "".join(
        f"## {name}\n\n<!-- results:{name} -->\nold {name}\n<!-- /results:{name} -->\n\n"
        f"Prose after {name}.\n\n"
        for name in ("evaluation", "per-label", "training", "smoke", "failures", "capacity")
    )
    + "Closing words.\n"
)


def _predictions_payload(predictions: Predictions) -> dict[str, object]:
    rows = zip(
        predictions.ids,
        predictions.texts,
        predictions.expected,
        predictions.base,
        predictions.tuned,
        strict=True,
    )
    return {
        "labels": list(LABELS),
        "examples": [
            {"example_id": i, "text": t, "expected": e, "base": b, "tuned": u}
            for i, t, e, b, u in rows
        ],
    }


def _training_run_payload(run: TrainingRun) -> dict[str, object]:
    """`results/training_run.json` as `make train` writes it."""
    return {
        "run_id": run.run_id,
        "params": run.params,
        "train_loss": [list(point) for point in run.train_loss],
        "eval_loss": [list(point) for point in run.eval_loss],
    }


@pytest.fixture
def project(isolated_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the results of a run and a README, and no MLflow store:
    the tracking URI names a folder that does not exist."""
    results = isolated_workdir / "results"
    results.mkdir()
    (results / "metrics.json").write_text(json.dumps(METRICS | {"run_id": RUN.run_id}))
    (results / "predictions.json").write_text(json.dumps(_predictions_payload(PREDICTIONS)))
    (results / TRAINING_RUN_FILE).write_text(json.dumps(_training_run_payload(RUN)))
    (isolated_workdir / "README.md").write_text(README, encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{isolated_workdir / 'gone' / 'm.db'}")
    get_settings.cache_clear()
    return isolated_workdir


def _report(project: Path) -> Any:
    get_settings.cache_clear()
    return runner.invoke(app, ["report", "--readme", str(project / "README.md")])


def test_evaluation_section_quotes_both_models_with_intervals_and_the_lift() -> None:
    lines = evaluation_section(METRICS, RUN, tests=10).splitlines()

    assert lines[0].startswith("Base model `tiny`, LoRA rank 16 on `q_proj,v_proj`, 100 optimizer")
    assert "MLflow run `abc123`" in lines[0]
    assert "Test split, 10 messages" in lines[2]
    assert lines[4:9] == [
        "| model | accuracy | macro F1 |",
        "|---|---|---|",
        "| base (`tiny`) | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] |",
        "| fine-tuned (LoRA, 100 steps) | 0.800 [0.500, 1.000] | 0.780 [0.450, 1.000] |",
        "| lift (point estimates) | +0.800 | +0.780 |",
    ]
    assert "exported for serving" in lines[-1]


def test_evaluation_section_says_why_an_adapter_was_not_exported() -> None:
    rejected = METRICS | {"promoted": False, "promotion_failures": ["accuracy=0.1 is low"]}

    section = evaluation_section(rejected, RUN, tests=10)

    assert section.endswith("The adapter was **not exported**: accuracy=0.1 is low.")


def test_per_label_scores_count_each_label_against_its_own_answers() -> None:
    scores = per_label(EXPECTED, TUNED, LABELS)

    assert scores["cancel"].precision == pytest.approx(2 / 3)
    assert scores["cancel"].recall == 1.0
    assert scores["cancel"].f1 == pytest.approx(0.8)
    assert scores["billing"].recall == 0.5
    assert scores["praise"].f1 == pytest.approx(2 / 3)
    assert scores["outage"].f1 == 1.0
    assert {label: s.support for label, s in scores.items()} == dict.fromkeys(LABELS, 2)


def test_per_label_section_has_a_row_per_label_for_both_models() -> None:
    lines = per_label_section(PREDICTIONS, LABELS).splitlines()

    assert lines[0].startswith("| label | test messages | base precision |")
    assert lines[2] == "| cancel | 2 | 0.000 | 0.000 | 0.000 | 0.667 | 1.000 | 0.800 |"
    assert lines[3] == "| billing | 2 | 0.000 | 0.000 | 0.000 | 1.000 | 0.500 | 0.667 |"
    assert lines[6] == "| praise | 2 | 0.000 | 0.000 | 0.000 | 1.000 | 0.500 | 0.667 |"
    assert "Answers that are not a label: base 9 of 10, fine-tuned 1 of 10." in lines
    assert lines[-1] == f"![F1 per label, base vs fine-tuned]({LABEL_FIGURE.as_posix()})"


def test_failures_section_lists_the_tuned_model_mistakes() -> None:
    section = failures_section(PREDICTIONS, LABELS)

    assert section.startswith("The fine-tuned model got 2 of 10 test messages wrong")
    assert "(the base got 10 wrong)" in section
    assert "| test-0003 | message 3 | billing | cancel |" in section
    assert "| test-0009 | message 9 | praise | I think praise |" in section


def test_failures_section_without_mistakes_says_so() -> None:
    perfect = Predictions(
        PREDICTIONS.ids, PREDICTIONS.texts, EXPECTED, PREDICTIONS.base, list(EXPECTED)
    )

    assert failures_section(perfect, LABELS) == (
        "The fine-tuned model answered all 10 test messages correctly (the base got 10 wrong)."
    )


def test_training_section_reports_steps_losses_speed_memory_and_size() -> None:
    section = training_section(METRICS, RUN)

    assert "| optimizer steps | 100 |" in section
    assert "| 7.736 (step 1) → 0.186 (step 100) |" in section
    assert "| validation loss, first → last evaluation | 1.200 → 0.188 |" in section
    assert "| time in optimizer steps | 12.5 s |" in section
    assert "| 20,000 tokens/s (250,000 tokens on cpu) |" in section
    assert "| peak memory | 812 MiB (process max RSS) |" in section
    assert "| 26,112 / 121,584 (21.5%) |" in section
    assert "| adapter weights on disk | 105.1 KiB |" in section
    assert "| 2.9e-06 |" in section
    assert section.endswith(f"![Training loss by step]({LOSS_FIGURE.as_posix()})")


def test_training_section_of_a_4bit_run_skips_the_merge_check_and_eval_loss() -> None:
    section = training_section(
        METRICS | {"merge_max_abs_diff": None, "adapter_bytes": 3 * 2**20},
        TrainingRun("r", PARAMS, LOSSES, []),
    )

    assert "not checked (4-bit base)" in section
    assert "validation loss" not in section
    assert "| 3.0 MiB |" in section


def test_smoke_section_quotes_the_gpu_smoke_figures() -> None:
    section = smoke_section(SMOKE)

    assert "| device | cuda (NVIDIA H100), torch 2.13.0 |" in section
    assert "| throughput | 41,234 tokens/s |" in section
    assert "| peak memory | 5,120 MiB (cuda max_memory_allocated) |" in section
    assert (
        "| load | 20 steps of `make train`'s path, batches of 4 examples of ~512 tokens |"
        in section
    )


def test_smoke_section_without_a_run_says_how_to_make_one() -> None:
    assert "make gpu-smoke" in smoke_section(None)


@pytest.mark.parametrize(
    "payload", [{"examples": []}, {"examples": [{"example_id": "a"}]}, {"rows": []}]
)
def test_incomplete_predictions_are_refused_naming_the_file(
    tmp_path: Path, payload: dict[str, object]
) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(payload))

    with pytest.raises(ReportError, match=r"predictions\.json .*make train"):
        read_predictions(path)


def test_the_training_run_file_gives_its_params_and_loss_histories(tmp_path: Path) -> None:
    path = tmp_path / TRAINING_RUN_FILE
    path.write_text(json.dumps(_training_run_payload(RUN)))

    assert read_training_run(path) == RUN


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (None, "training_run.json is missing: run `make train` first"),
        ({"run_id": "r", "params": {}}, "training_run.json lacks 'train_loss'"),
        ({"run_id": "r", "params": {}, "train_loss": [[1]], "eval_loss": []}, "lacks"),
        (
            {"run_id": "r", "params": {}, "train_loss": [], "eval_loss": []},
            "has no training loss: run `make train` again",
        ),
    ],
)
def test_an_unusable_training_run_file_is_refused_naming_it(
    tmp_path: Path, payload: dict[str, object] | None, needle: str
) -> None:
    path = tmp_path / TRAINING_RUN_FILE
    if payload is not None:
        path.write_text(json.dumps(payload))

    with pytest.raises(ReportError, match=r"training_run\.json") as raised:
        read_training_run(path)
    assert needle in str(raised.value)


def _assert_png(data: bytes, path: Path, size: tuple[int, int]) -> None:
    path.write_bytes(data)
    pixels = image.imread(str(path))
    assert pixels.shape[:2] == size
    assert float(np.std(pixels)) > 0.05


def test_loss_figure_is_a_non_blank_png_of_the_expected_size(tmp_path: Path) -> None:
    _assert_png(plot_loss(RUN), tmp_path / "loss.png", (450, 800))


def test_per_label_figure_is_a_non_blank_png_of_the_expected_size(tmp_path: Path) -> None:
    base = per_label(EXPECTED, BASE, LABELS)
    tuned = per_label(EXPECTED, TUNED, LABELS)

    _assert_png(plot_per_label(base, tuned, LABELS), tmp_path / "labels.png", (450, 800))


def test_report_rewrites_only_the_results_sections_and_draws_the_figures(
    project: Path,
) -> None:
    outcome = _report(project)

    assert outcome.exit_code == 0, outcome.output
    text = (project / "README.md").read_text(encoding="utf-8")
    assert "old " not in text
    assert text.startswith("# Project\n\nIntro the author wrote.\n\n## evaluation\n")
    for name in ("evaluation", "per-label", "training", "smoke", "failures", "capacity"):
        assert f"<!-- /results:{name} -->\n\nProse after {name}.\n" in text
    assert text.endswith("Closing words.\n")
    assert "| fine-tuned (LoRA, 100 steps) | 0.800 [0.500, 1.000] |" in text
    assert "| cancel | 2 | 0.000 | 0.000 | 0.000 | 0.667 | 1.000 | 0.800 |" in text
    assert "| 7.736 (step 1) → 0.186 (step 100) |" in text
    assert "| test-0003 | message 3 | billing | cancel |" in text
    assert "make gpu-smoke" in text
    for figure in (LOSS_FIGURE, LABEL_FIGURE):
        assert image.imread(str(project / figure)).shape[:2] == (450, 800)


def test_report_twice_gives_the_same_readme(project: Path) -> None:
    assert _report(project).exit_code == 0
    once = (project / "README.md").read_text(encoding="utf-8")

    assert _report(project).exit_code == 0
    assert (project / "README.md").read_text(encoding="utf-8") == once


LOAD_TEST = {
    "requests": 100,
    "concurrency": 4,
    "max_new_tokens": 8,
    "errors": 0,
    "seconds": 50.0,
    "requests_per_second": 2.0,
    "p50_ms": 1900.0,
    "p95_ms": 2400.0,
    "p99_ms": 2600.0,
    "model_version": "tiny+lora",
    "machine": "x86_64 Linux, 2 CPUs",
}


def test_capacity_section_turns_one_replicas_throughput_into_replicas() -> None:
    section = capacity_section(LOAD_TEST)

    # 2 generations/s at the 70% target plan for 1.4 per replica; never below 2 replicas.
    assert "answered 2.00 generations/s" in section
    assert "plans for 1.40 generations/s" in section
    assert "p99 2,600 ms" in section
    assert section.splitlines()[-3:] == [
        "| 10 generations/s | 8 |",
        "| 100 generations/s | 72 |",
        "| 1,000 generations/s | 715 |",
    ]


def test_capacity_section_without_a_load_test_says_how_to_make_one() -> None:
    assert "`make load-test`" in capacity_section(None)


def test_capacity_section_of_a_load_test_with_no_answer_says_so() -> None:
    section = capacity_section(LOAD_TEST | {"requests_per_second": 0.0, "errors": 100})

    assert "no answer (100 errors of 100)" in section
    assert "replicas |" not in section


def test_report_includes_the_capacity_when_a_load_test_ran(project: Path) -> None:
    (project / "results" / "load_test.json").write_text(json.dumps(LOAD_TEST))

    outcome = _report(project)

    assert outcome.exit_code == 0, outcome.output
    assert "| 100 generations/s | 72 |" in (project / "README.md").read_text()


def test_report_includes_the_gpu_smoke_results_when_there_are_some(project: Path) -> None:
    (project / "results" / "gpu_smoke.json").write_text(json.dumps(SMOKE))

    outcome = _report(project)

    assert outcome.exit_code == 0, outcome.output
    assert "| throughput | 41,234 tokens/s |" in (project / "README.md").read_text()


@pytest.mark.parametrize(
    ("broken", "needle"),
    [
        ("metrics.json", "metrics.json is missing: run `make train` first"),
        ("predictions.json", "predictions.json is missing: run `make train` first"),
        ("run", "training_run.json is missing: run `make train` first"),
        ("marker", "README has no '<!-- results:smoke -->'"),
        ("gpu_smoke.json", "gpu_smoke.json lacks 'device': run `make gpu-smoke` again"),
        ("load_test.json", "load_test.json lacks 'requests_per_second': run `make serve`"),
        ("metrics key", "metrics.json lacks 'tokens_per_second': run `make train` again"),
    ],
)
def test_report_with_a_missing_source_exits_1_naming_it_and_writes_nothing(
    project: Path, broken: str, needle: str
) -> None:
    results = project / "results"
    readme = project / "README.md"
    metrics = json.loads((results / "metrics.json").read_text())
    if broken in ("metrics.json", "predictions.json"):
        (results / broken).unlink()
    elif broken == "run":
        (results / TRAINING_RUN_FILE).unlink()
    elif broken == "marker":
        readme.write_text(README.replace("<!-- /results:smoke -->", ""))
    elif broken in ("gpu_smoke.json", "load_test.json"):
        (results / broken).write_text("{}")
    else:
        del metrics["tokens_per_second"]
        (results / "metrics.json").write_text(json.dumps(metrics))
    before = readme.read_text()

    outcome = _report(project)

    assert outcome.exit_code == 1
    assert needle in " ".join(outcome.output.split())
    assert readme.read_text() == before
    assert not (project / "docs").exists()


def test_report_without_a_readme_names_it(project: Path) -> None:
    (project / "README.md").unlink()

    outcome = _report(project)

    assert outcome.exit_code == 1
    assert "README.md is missing" in outcome.output


@pytest.mark.slow
def test_report_of_a_real_run_quotes_its_figures_without_its_mlflow_store(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # results/ alone, as on another machine: the run's store is out of reach, and an
    # import of mlflow would fail.
    shutil.copytree(trained.settings.results_dir, tmp_path / "results")
    (tmp_path / "README.md").write_text(README, encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'gone' / 'mlflow.db'}")
    monkeypatch.setitem(sys.modules, "mlflow", None)

    outcome = _report(tmp_path)

    assert outcome.exit_code == 0, outcome.output
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    tuned = trained.result.tuned_metrics
    steps = trained.result.global_step
    assert f"| fine-tuned (LoRA, {steps} steps) | {tuned['accuracy']} |" in text
    assert f"{trained.result.losses[0]:.3f} (step 1) → {trained.result.losses[-1]:.3f}" in text
    assert f"MLflow run `{trained.result.run_id}`" in text
    first_eval = trained.result.eval_curve[0][1]
    assert f"| validation loss, first → last evaluation | {first_eval:.3f}" in text
    assert not (tmp_path / "gone").exists()
    pixels = image.imread(str(tmp_path / LOSS_FIGURE))
    assert float(np.std(pixels)) > 0.05
