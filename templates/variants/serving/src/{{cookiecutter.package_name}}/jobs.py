"""The service's jobs besides training (`train.train`): each is `job(settings, ...) ->
result`, reads and writes files, and returns what its command prints. The modules
they call (evaluation, drift, report) stay pure functions."""

from dataclasses import dataclass, field
from pathlib import Path

from .dataset import load, split
from .drift import FeatureDrift, compare
from .evaluation import evaluate as score
from .evaluation import markdown_table
from .platform.files import write_json
from .platform.readme import read_json, update_sections
from .platform.stats import Estimate
from .registry import load_served
from .report import (
    FIGURE,
    capacity_table,
    held_out_scores,
    latency_table,
    metrics_table,
    plot_curves,
)
from .schema import FEATURES, TARGET
from .settings import Settings


@dataclass(frozen=True)
class Evaluated:
    model_version: str
    rows: int
    estimates: dict[str, Estimate]

    def summary(self) -> str:
        return markdown_table({f"version {self.model_version}": self.estimates})


def evaluate(settings: Settings, data_path: Path | None = None) -> Evaluated:
    """Score the served model on the held-out split (or a whole file); write
    results/evaluation.json. Raises DataError or ModelLoadError with the fix."""
    frame = load(data_path or settings.data_path)
    served = load_served(settings)
    if data_path is None:
        held_out = split(frame, settings.test_size, settings.seed)
        features, labels = held_out.x_test, held_out.y_test
    else:
        features, labels = frame[list(FEATURES)], frame[TARGET].to_numpy()
    estimates = score(
        labels,
        served.classifier.predict_proba(features)[:, 1],
        threshold=settings.decision_threshold,
        n_bootstrap=settings.bootstrap_samples,
        seed=settings.seed,
    )
    write_json(
        settings.results_dir / "evaluation.json",
        {"model_version": served.version, "rows": len(labels)}
        | {name: vars(estimate) for name, estimate in estimates.items()},
    )
    return Evaluated(served.version, len(labels), estimates)


@dataclass(frozen=True)
class Reported:
    readme: Path
    figure: Path

    def summary(self) -> str:
        return f"updated {self.readme} and {self.figure}"


def report(settings: Settings, readme: Path) -> Reported:
    """Rewrite the README's results sections and figure from results/ alone.
    Raises ReportError or MissingSectionError naming the command to run."""
    results = read_json(settings.results_dir / "metrics.json", "run `make train` first")
    runs = [
        read_json(path, "run `make load-test` again")
        for path in sorted(settings.results_dir.glob("load_test*.json"))
    ]
    plot_curves(*held_out_scores(results), FIGURE)
    update_sections(
        readme,
        {
            "metrics": metrics_table(results),
            "latency": latency_table(runs),
            "capacity": capacity_table(runs),
        },
    )
    return Reported(readme, FIGURE)


@dataclass(frozen=True)
class DriftCheck:
    features: list[FeatureDrift] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(feature.drifted for feature in self.features)


def check_drift(settings: Settings, input_path: Path) -> DriftCheck:
    """Compare recent inputs with the served model's training reference."""
    live = load(input_path, with_target=False)
    served = load_served(settings)
    return DriftCheck(compare(served.reference_stats, live, settings.drift_psi_alert))
