"""The estimators: the candidate pipeline and the baseline it has to beat."""

from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES


def candidate(regularization_c: float = 1.0, seed: int = 0) -> Pipeline:
    """Scaled numeric features and one-hot categories into a logistic regression.

    Unknown categories at serving time encode as all zeros instead of failing.
    """
    features = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        ]
    )
    classifier = LogisticRegression(C=regularization_c, max_iter=1000, random_state=seed)
    return Pipeline([("features", features), ("classifier", classifier)])


def baseline(seed: int = 0) -> DummyClassifier:
    """Predicts the training churn rate for everyone: the floor any model must clear."""
    return DummyClassifier(strategy="prior", random_state=seed)
