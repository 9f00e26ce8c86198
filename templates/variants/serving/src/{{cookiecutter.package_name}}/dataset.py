"""The bundled churn dataset: a seeded generator, a validating loader and the split.

The data is synthetic on purpose (no customer data leaves anyone's systems), with
a known generating process so that what the model learns can be checked.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from .platform.contract import FROM_TEXT
from .platform.files import atomic_path
from .schema import FEATURES, TARGET, Customer

CONTRACT_EFFECT = {"month-to-month": 1.1, "one-year": -0.3, "two-year": -1.4}
PAYMENT_EFFECT = {"card": -0.1, "bank-transfer": -0.2, "electronic-check": 0.5}


class DataError(ValueError):
    """A data file that cannot be used, with the file and line that show why."""


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


def generate(n_rows: int, seed: int) -> pd.DataFrame:
    """Sample accounts and their churn from a fixed logistic process."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(list(CONTRACT_EFFECT), size=n_rows, p=[0.55, 0.25, 0.20])
    payment = rng.choice(list(PAYMENT_EFFECT), size=n_rows, p=[0.4, 0.3, 0.3])
    has_internet = rng.random(n_rows) < 0.7
    tenure = np.minimum(rng.geometric(1 / 28, size=n_rows) - 1, 120)
    charges = np.round(18 + 60 * rng.beta(2, 2, size=n_rows) + 22 * has_internet, 2)
    support_calls = rng.poisson(0.8 + 0.6 * (contract == "month-to-month"), size=n_rows)
    logit = (
        -1.6
        - 0.045 * tenure
        + 0.025 * (charges - 60)
        + 0.45 * support_calls
        + np.vectorize(CONTRACT_EFFECT.__getitem__)(contract)
        + np.vectorize(PAYMENT_EFFECT.__getitem__)(payment)
        + rng.normal(0, 0.6, size=n_rows)
    )
    churned = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "tenure_months": tenure.astype(int),
            "monthly_charges": charges,
            "support_calls": support_calls.astype(int),
            "contract": contract,
            "payment_method": payment,
            "has_internet": has_internet,
            TARGET: churned.astype(int),
        }
    )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically: a crash mid-write never leaves a truncated dataset behind."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        frame.to_csv(handle, index=False)


def _parse_target(raw: str | None, where: str) -> int:
    if raw not in {"0", "1"}:
        raise DataError(f"{where}: {TARGET} must be 0 or 1, got {raw!r}")
    return int(raw)


def load(path: Path, *, with_target: bool = True) -> pd.DataFrame:
    """Read and validate every row against the feature contract.

    Raises DataError naming the file and line of the first bad row, so a broken
    export is fixed at its source instead of silently training on garbage.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such data file; run `make data` to create the bundled one")
    expected = [*FEATURES, TARGET] if with_target else list(FEATURES)
    rows: list[dict[str, object]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [name for name in expected if name not in header]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {', '.join(missing)}")
            for record in reader:
                where = f"{path}:{reader.line_num}"
                if None in record or None in record.values():
                    raise DataError(f"{where}: expected {len(header)} fields")
                try:
                    customer = Customer.model_validate(
                        {name: record[name] for name in FEATURES}, context=FROM_TEXT
                    )
                except ValidationError as exc:
                    problem = exc.errors()[0]
                    field = ".".join(str(part) for part in problem["loc"])
                    raise DataError(f"{where}: {field}: {problem['msg']}") from None
                row: dict[str, object] = customer.model_dump()
                if with_target:
                    row[TARGET] = _parse_target(record[TARGET], where)
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not rows:
        raise DataError(f"{path}: no data rows")
    return pd.DataFrame(rows, columns=expected)


MIN_ROWS_PER_CLASS = 10


def check_trainable(frame: pd.DataFrame, path: Path) -> None:
    """Refuse data too small to split and score: both outcomes need rows on each side."""
    counts = [int((frame[TARGET] == label).sum()) for label in (0, 1)]
    if min(counts) < MIN_ROWS_PER_CLASS:
        raise DataError(
            f"{path}: {len(frame)} rows, {counts[0]} with {TARGET}=0 and {counts[1]} with "
            f"{TARGET}=1; training needs at least {MIN_ROWS_PER_CLASS} of each "
            "(`make data` writes the bundled set)"
        )


def split(frame: pd.DataFrame, test_size: float, seed: int) -> Split:
    """Stratified hold-out split, so both sides keep the churn rate."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        frame[list(FEATURES)],
        frame[TARGET].to_numpy(),
        test_size=test_size,
        random_state=seed,
        stratify=frame[TARGET],
    )
    return Split(x_train, x_test, np.asarray(y_train), np.asarray(y_test))
