import numpy as np
import pytest

from {{ cookiecutter.package_name }}.platform import stats
from {{ cookiecutter.package_name }}.platform.stats import Estimate


def test_estimate_prints_value_and_interval() -> None:
    assert str(Estimate(0.8291, 0.8, 0.85649)) == "0.829 [0.800, 0.856]"


def test_interval_is_the_central_share_of_the_samples() -> None:
    samples = np.arange(1001, dtype=float)

    assert stats.percentile_interval(samples, 0.9) == pytest.approx((50.0, 950.0))


@pytest.mark.parametrize(
    ("samples", "confidence", "message"),
    [([1.0], 1.0, "between 0 and 1"), ([1.0], 0.0, "between 0 and 1"), ([], 0.95, "one sample")],
)
def test_invalid_interval_requests_are_refused(
    samples: list[float], confidence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        stats.percentile_interval(samples, confidence)
