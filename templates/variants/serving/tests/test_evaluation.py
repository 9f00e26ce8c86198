import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from {{ cookiecutter.package_name }}.evaluation import evaluate, markdown_table
from {{ cookiecutter.package_name }}.platform.stats import Estimate


def _scores(n: int, seed: int, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    p = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(0, 1.5, size=n))))
    return y, np.round(p, 2)  # rounding creates ties, which AUC must count as half


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed: int) -> None:
    y, p = _scores(300, seed)
    reference = {
        "roc_auc": roc_auc_score(y, p),
        "f1": f1_score(y, p >= 0.4),
        "precision": precision_score(y, p >= 0.4, zero_division=0),
        "recall": recall_score(y, p >= 0.4),
        "accuracy": accuracy_score(y, p >= 0.4),
        "brier": brier_score_loss(y, p),
    }

    estimates = evaluate(y, p, threshold=0.4, n_bootstrap=100)

    for name, expected in reference.items():
        assert estimates[name].value == pytest.approx(expected, abs=1e-12), name


def test_interval_brackets_the_estimate_and_narrows_with_more_data() -> None:
    small = evaluate(*_scores(200, 0), n_bootstrap=500)["roc_auc"]
    large = evaluate(*_scores(5000, 0), n_bootstrap=500)["roc_auc"]

    assert small.low <= small.value <= small.high
    assert large.low <= large.value <= large.high
    assert (large.high - large.low) < (small.high - small.low) / 2


def test_interval_is_reproducible_for_a_seed() -> None:
    y, p = _scores(300, 4)
    assert evaluate(y, p, seed=9) == evaluate(y, p, seed=9)


def test_informative_scores_beat_constant_scores() -> None:
    y, p = _scores(1000, 0, signal=2.0)
    constant = np.full_like(p, y.mean())

    informative = evaluate(y, p)["roc_auc"]
    baseline = evaluate(y, constant)["roc_auc"]

    assert baseline.value == pytest.approx(0.5)
    assert informative.low > baseline.high


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        (np.ones(10), np.full(10, 0.5), "both classes"),
        (np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]), "0/1 labels"),
        (np.array([0, 1]), np.array([0.1, 0.2, 0.3]), "equal length"),
    ],
)
def test_invalid_inputs_are_refused(y: np.ndarray, p: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(y, p)


def test_markdown_table_has_a_row_per_model() -> None:
    table = markdown_table(
        {
            "candidate": {"roc_auc": Estimate(0.8, 0.75, 0.85)},
            "baseline": {"roc_auc": Estimate(0.5, 0.5, 0.5)},
        }
    )

    assert table.splitlines() == [
        "| model | roc_auc |",
        "|---|---|",
        "| candidate | 0.800 [0.750, 0.850] |",
        "| baseline | 0.500 [0.500, 0.500] |",
    ]
