from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from {{ cookiecutter.package_name }} import model, scoring
from {{ cookiecutter.package_name }}.schema import FEATURES, TARGET


@pytest.fixture
def fitted(accounts: pd.DataFrame) -> Pipeline:
    return model.candidate().fit(accounts[list(FEATURES)], accounts[TARGET])


def test_compiled_scorer_matches_the_pipeline(fitted: Pipeline, accounts: pd.DataFrame) -> None:
    scorer = scoring.compile_linear(fitted)
    frame = accounts[list(FEATURES)]

    assert scorer is not None
    np.testing.assert_allclose(
        scorer.predict_proba(frame), fitted.predict_proba(frame), rtol=0, atol=1e-12
    )


def test_unknown_category_weighs_nothing_as_in_the_pipeline(
    fitted: Pipeline, accounts: pd.DataFrame
) -> None:
    scorer = scoring.compile_linear(fitted)
    frame = accounts[list(FEATURES)].head(5).assign(payment_method="crypto")

    assert scorer is not None
    np.testing.assert_allclose(
        scorer.predict_proba(frame), fitted.predict_proba(frame), rtol=0, atol=1e-12
    )


def test_other_model_shapes_keep_the_pipeline(accounts: pd.DataFrame) -> None:
    x, y = accounts[list(FEATURES)], accounts[TARGET]
    boosted = model.candidate()
    boosted.steps[-1] = ("classifier", HistGradientBoostingClassifier(max_iter=5))
    dropping = model.candidate()
    dropping.named_steps["features"].transformers[1] = (
        "categorical",
        OneHotEncoder(drop="first", handle_unknown="ignore"),
        ["contract", "payment_method", "has_internet"],
    )

    assert scoring.compile_linear(boosted.fit(x, y)) is None
    assert scoring.compile_linear(dropping.fit(x, y)) is None
    assert scoring.compile_linear("not a model") is None


def test_probe_rejects_a_scorer_that_disagrees(fitted: Pipeline) -> None:
    parts = scoring._parts(fitted)
    scorer = scoring.compile_linear(fitted)
    assert parts is not None
    assert scorer is not None

    assert scoring._agrees(scorer, parts)
    assert not scoring._agrees(replace(scorer, intercept=scorer.intercept + 1e-6), parts)
