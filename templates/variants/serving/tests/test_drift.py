import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import drift
from {{ cookiecutter.package_name }}.dataset import generate
from {{ cookiecutter.package_name }}.schema import FEATURES


@pytest.fixture
def reference_frame() -> pd.DataFrame:
    return generate(3000, seed=11)[list(FEATURES)]


def test_psi_is_zero_for_identical_and_grows_with_shift() -> None:
    base = [0.25, 0.25, 0.25, 0.25]

    assert drift.psi(base, base) == pytest.approx(0.0)
    assert drift.psi(base, [0.3, 0.3, 0.2, 0.2]) < drift.psi(base, [0.7, 0.1, 0.1, 0.1])


def test_reference_is_json_serialisable(reference_frame: pd.DataFrame) -> None:
    ref = drift.reference(reference_frame)

    assert json.loads(json.dumps(ref)) == ref
    assert set(ref["numeric"]) | set(ref["categorical"]) == set(FEATURES)


def test_fresh_sample_from_the_same_process_does_not_drift(
    reference_frame: pd.DataFrame,
) -> None:
    ref = drift.reference(reference_frame)
    live = generate(800, seed=12)[list(FEATURES)]

    assert not any(result.drifted for result in drift.compare(ref, live))


def test_only_the_shifted_features_are_flagged(reference_frame: pd.DataFrame) -> None:
    ref = drift.reference(reference_frame)
    live = generate(800, seed=12)[list(FEATURES)]
    live["monthly_charges"] = live["monthly_charges"] * 1.6
    live["contract"] = "month-to-month"

    flagged = {r.feature for r in drift.compare(ref, live) if r.drifted}
    by_feature = {r.feature: r for r in drift.compare(ref, live)}

    assert flagged == {"monthly_charges", "contract"}
    pvalue = by_feature["monthly_charges"].ks_pvalue
    assert pvalue is not None
    assert pvalue < 1e-6


def test_unseen_category_counts_as_drift(reference_frame: pd.DataFrame) -> None:
    ref = drift.reference(reference_frame)
    live = generate(300, seed=1)[list(FEATURES)]
    live["payment_method"] = np.where(np.arange(300) % 2 == 0, "crypto", live["payment_method"])

    result = {r.feature: r for r in drift.compare(ref, live)}["payment_method"]

    assert result.drifted
    assert result.ks_pvalue is None


def test_empty_window_is_refused(reference_frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="at least one live row"):
        drift.compare(drift.reference(reference_frame), reference_frame.head(0))


def test_records_are_plain_dicts(reference_frame: pd.DataFrame) -> None:
    ref = drift.reference(reference_frame)
    records = drift.as_records(drift.compare(ref, reference_frame.head(100)))

    assert {record["feature"] for record in records} == set(FEATURES)
    assert json.dumps(records)
