from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import dataset
from {{ cookiecutter.package_name }}.schema import FEATURES, TARGET

from variant_fixtures import BUNDLED_DATA

HEADER = ",".join([*FEATURES, TARGET])
GOOD_ROW = "12,70.5,1,one-year,card,True,0"


def test_bundled_csv_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    regenerated = tmp_path / "churn.csv"
    dataset.write_csv(dataset.generate(5000, seed=42), regenerated)

    assert regenerated.read_bytes() == BUNDLED_DATA.read_bytes()


def test_bundled_data_loads_with_both_classes() -> None:
    frame = dataset.load(BUNDLED_DATA)

    assert list(frame.columns) == [*FEATURES, TARGET]
    assert len(frame) == 5000
    assert 0.1 < frame[TARGET].mean() < 0.4


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("12,70.5,1,weekly,card,True,0", "contract"),
        ("-1,70.5,1,one-year,card,True,0", "tenure_months"),
        ("12,nan,1,one-year,card,True,0", "monthly_charges"),
        ("12,70.5,1,one-year,card,maybe,0", "has_internet"),
        ("12,70.5,1,one-year,card,True,2", "churned must be 0 or 1"),
        ("12,70.5,1,one-year,card", "expected 7 fields"),
    ],
)
def test_bad_row_is_refused_naming_file_and_line(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"{HEADER}\n{GOOD_ROW}\n{row}\n", encoding="utf-8")

    with pytest.raises(dataset.DataError) as caught:
        dataset.load(path)

    assert str(caught.value).startswith(f"{path}:3:")
    assert problem in str(caught.value)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "narrow.csv"
    path.write_text("tenure_months,churned\n1,0\n", encoding="utf-8")

    with pytest.raises(dataset.DataError, match=r"missing column.*monthly_charges"):
        dataset.load(path)


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\n".encode() + b"12,70.5,1,one-year,caf\xe9,True,0\n")

    with pytest.raises(dataset.DataError, match="not UTF-8"):
        dataset.load(path)


@pytest.mark.parametrize("content", ["", f"{HEADER}\n"])
def test_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(dataset.DataError):
        dataset.load(path)


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(dataset.DataError, match="make data"):
        dataset.load(tmp_path / "absent.csv")


def test_features_only_file_loads_without_target(tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    path.write_text(",".join(FEATURES) + "\n12,70.5,1,one-year,card,True\n", encoding="utf-8")

    assert list(dataset.load(path, with_target=False).columns) == list(FEATURES)


def test_split_is_stratified_and_disjoint() -> None:
    frame = dataset.generate(2000, seed=1)
    data = dataset.split(frame, test_size=0.25, seed=0)

    assert len(data.x_test) == 500
    assert set(data.x_train.index).isdisjoint(data.x_test.index)
    assert abs(data.y_train.mean() - data.y_test.mean()) < 0.01


def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "churn.csv"
    path.write_text("previous\n")

    def half_write(_: pd.DataFrame, handle: TextIO, **__: object) -> None:
        handle.write("tenure_months,mon")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(OSError, match="disk full"):
        dataset.write_csv(dataset.generate(100, seed=0), path)

    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["churn.csv"]


def test_generated_churn_rises_with_support_calls() -> None:
    frame = dataset.generate(20_000, seed=5)
    calls = frame["support_calls"].to_numpy()

    assert frame[TARGET][calls >= 3].mean() > frame[TARGET][calls == 0].mean() + 0.1
    assert np.isin(frame["contract"].unique(), list(dataset.CONTRACT_EFFECT)).all()
