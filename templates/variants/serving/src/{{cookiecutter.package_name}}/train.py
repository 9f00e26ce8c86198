"""Training job: fit, compare with the baseline, track, register, promote, export."""

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn

from . import dataset, drift, evaluation, model, registry
from .platform import tracking
from .platform.files import atomic_path, json_text, staged_directory, write_json
from .platform.stats import Estimate
from .schema import NUMERIC_FEATURES
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: str
    metrics: dict[str, Estimate]
    baseline_metrics: dict[str, Estimate]
    promoted: bool
    failures: list[str]


def pip_requirements() -> list[str]:
    """Pinned to what trained the model; listing them also skips MLflow's slow inference."""
    import scipy
    import skops

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"scipy=={scipy.__version__}",
        f"skops=={skops.__version__}",
    ]


def _params(settings: Settings) -> dict[str, object]:
    return {
        "model": "logistic_regression",
        "regularization_c": settings.regularization_c,
        "test_size": settings.test_size,
        "seed": settings.seed,
        "decision_threshold": settings.decision_threshold,
        "min_roc_auc": settings.min_roc_auc,
        "min_auc_lift_over_baseline": settings.min_auc_lift_over_baseline,
    }


def train(settings: Settings) -> TrainResult:
    """Run the whole training job and return what it decided."""
    frame = dataset.load(settings.data_path)
    dataset.check_trainable(frame, settings.data_path)
    data = dataset.split(frame, settings.test_size, settings.seed)
    logger.info(
        "training on %d rows, %d held out for the test",
        len(data.y_train),
        len(data.y_test),
        extra={"data_path": str(settings.data_path)},
    )
    pipeline = model.candidate(settings.regularization_c, settings.seed)
    pipeline.fit(data.x_train, data.y_train)
    floor = model.baseline(settings.seed).fit(data.x_train, data.y_train)

    def score(probabilities: Any) -> dict[str, Estimate]:
        return evaluation.evaluate(
            data.y_test,
            probabilities,
            threshold=settings.decision_threshold,
            n_bootstrap=settings.bootstrap_samples,
            seed=settings.seed,
        )

    held_out = pipeline.predict_proba(data.x_test)[:, 1]
    metrics, baseline_metrics = score(held_out), score(floor.predict_proba(data.x_test)[:, 1])
    lift = metrics["roc_auc"].value - baseline_metrics["roc_auc"].value
    logger.info("held-out ROC AUC %s, baseline %s", metrics["roc_auc"], baseline_metrics["roc_auc"])
    gate = {**evaluation.point_values(metrics), "auc_lift_over_baseline": lift}
    minimums = {
        "roc_auc": settings.min_roc_auc,
        "auc_lift_over_baseline": settings.min_auc_lift_over_baseline,
    }

    # Integers declared as floats in the signature, so a missing value is not a schema error.
    example = data.x_train.astype(dict.fromkeys(NUMERIC_FEATURES, float))
    with tracking.tracked_run(
        settings, "train", _params(settings), {"train": settings.data_path}
    ) as run:
        for name, estimate in metrics.items():
            run.log_metrics(
                {
                    f"test_{name}": estimate.value,
                    f"test_{name}_ci_low": estimate.low,
                    f"test_{name}_ci_high": estimate.high,
                    f"baseline_{name}": baseline_metrics[name].value,
                }
            )
        run.log_metrics({"auc_lift_over_baseline": lift})
        run.log_text(
            evaluation.markdown_table({"candidate": metrics, "baseline": baseline_metrics}),
            "evaluation.md",
        )
        version = registry.log_model(
            run,
            pipeline,
            settings.model_name,
            example=example,
            metadata={"reference_stats": drift.reference(data.x_train, settings.seed)},
            pip_requirements=pip_requirements(),
        )
        logger.info("registered model version %s", version, extra={"run_id": run.id})
        failures = tracking.failed_thresholds(gate, minimums)
        run.set_tags({"promotion": "rejected" if failures else "champion"})
        summary = {
            "run_id": run.id,
            "model_version": version,
            "promoted": not failures,
            "failures": failures,
            "model": "logistic regression",
            "decision_threshold": settings.decision_threshold,
            "test_rows": len(data.y_test),
            "metrics": {k: vars(v) for k, v in metrics.items()},
            "baseline_metrics": {k: vars(v) for k, v in baseline_metrics.items()},
            # What `make report` plots, so that it reads results/ and reloads nothing.
            "held_out_scores": {
                "churned": [int(label) for label in data.y_test],
                "churn_probability": [round(float(value), 6) for value in held_out],
            },
        }
        results = settings.results_dir / "metrics.json"
        if failures:
            registry.promote_if_passing(settings.model_name, version, gate, minimums)
            write_json(results, summary)
        else:
            # One transaction: export and results are staged, the alias moves, then both
            # land. A crash or a full disk before the alias leaves all three as they were,
            # and the alias never names a version whose export failed.
            with staged_directory(settings.export_dir) as staging, atomic_path(results) as tmp:
                registry.fill_export(staging, settings.model_name, version)
                tmp.write_text(json_text(summary), encoding="utf-8")
                registry.promote_if_passing(settings.model_name, version, gate, minimums)

    if failures:
        logger.warning("model not promoted", extra={"version": version, "failures": failures})
    else:
        logger.info("version %s is the champion, exported to %s", version, settings.export_dir)
    return TrainResult(run.id, version, metrics, baseline_metrics, not failures, failures)
