"""A study where the fits dominate (issue 17's parallelism benchmark): 40
cases of about 0.5-0.7 s of single-threaded fitting each, 20-30 s in all on a
2-core machine. Shared by the experiment file (through the plugin) and by
``capacity.py`` (the same fits as plain Python). ``BENCH_FITS_SIZES=N``
keeps the N smallest sizes (a smaller workload for a quick check)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

#: 4 models x 10 sizes = 40 cases.
MODELS = ("forest", "extra", "boosting", "logistic")
SIZES = tuple(range(1, int(os.environ.get("BENCH_FITS_SIZES", "10")) + 1))


@lru_cache(maxsize=1)
def data() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=3000, n_features=30, n_informative=12, random_state=0)
    return tuple(train_test_split(X, y, test_size=0.25, random_state=0))  # type: ignore[return-value]


def make_model(model: str, size: int, seed: int) -> Any:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    if model == "forest":
        return RandomForestClassifier(n_estimators=40 + 12 * size, random_state=seed, n_jobs=1)
    if model == "extra":
        return ExtraTreesClassifier(n_estimators=60 + 20 * size, random_state=seed, n_jobs=1)
    if model == "boosting":
        return HistGradientBoostingClassifier(max_iter=40 + 16 * size, random_state=seed)
    return make_pipeline(
        PolynomialFeatures(2), StandardScaler(), LogisticRegression(C=0.1 * size, max_iter=2000)
    )


def fit_and_score(model: str, size: int, seed: int) -> tuple[Any, dict[str, float]]:
    from sklearn.metrics import accuracy_score

    X_train, X_test, y_train, y_test = data()
    estimator = make_model(model, size, seed)
    estimator.fit(X_train, y_train)
    return estimator, {"accuracy": float(accuracy_score(y_test, estimator.predict(X_test)))}
