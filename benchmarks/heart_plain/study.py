"""The heart study's 15 cases as plain Python, shared by the two scripts
beside it (workloads of ``benchmarks/vs_handwritten.py``).

Same data split, pipelines, seed and metrics as ``experiments/exp_00*.py`` and
the project's ``conftest.py``, so that ``fits_only.py`` and ``handwritten.py``
do exactly the work the plugin does, minus (or plus) the tracking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "heart.csv"
SEED = 42  # the plugin's default --exp-seed


def load(path: Path = DATA) -> tuple[Any, Any, Any, Any]:
    """X_train, X_test, y_train, y_test: the split of the project's ``heart`` fixture."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(path, na_values="?")
    features = frame.drop(columns="target")
    target = frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(
        features, target, test_size=0.2, stratify=target, random_state=0
    )
    return X_train, X_test, y_train, y_test


def _logistic(C: float) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=5000, random_state=SEED),
    )


def _forest(n_estimators: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        SimpleImputer(strategy="median"),
        RandomForestClassifier(n_estimators=n_estimators, random_state=SEED),
    )


def _boosting(n_estimators: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        SimpleImputer(strategy="median"),
        GradientBoostingClassifier(n_estimators=n_estimators, random_state=SEED),
    )


#: (MLflow experiment name, param name, values, model factory), in collection order.
STUDY: list[tuple[str, str, list[Any], Callable[[Any], Any]]] = [
    ("exp_001_logistic_regression", "C", [0.01, 0.1, 1.0, 10.0, 100.0], _logistic),
    ("exp_002_random_forest", "n_estimators", [50, 100, 200, 300, 500], _forest),
    ("exp_003_gradient_boosting", "n_estimators", [50, 100, 200, 300, 500], _boosting),
]


def cases(experiments: int = len(STUDY)) -> Iterator[tuple[str, str, Any, Any]]:
    """(experiment name, param name, value, unfitted model) for the 15 cases
    (those of the first ``experiments`` experiments)."""
    for name, param, values, factory in STUDY[:experiments]:
        for value in values:
            yield name, param, value, factory(value)


def score(model: Any, X_test: Any, y_test: Any) -> dict[str, float]:
    """The three metrics every experiment returns."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    pred = model.predict(X_test)
    proba = model.predict_proba(X_test)[:, 1]
    return {
        "accuracy": float(accuracy_score(y_test, pred)),
        "f1": float(f1_score(y_test, pred)),
        "roc_auc": float(roc_auc_score(y_test, proba)),
    }
