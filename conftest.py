"""Project fixtures for the heart-disease study in experiments/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data" / "heart.csv"


@dataclass(frozen=True)
class HeartData:
    """UCI Heart Disease (Cleveland): a fixed, stratified 80/20 split."""

    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any


@pytest.fixture(scope="session")
def heart() -> HeartData:
    """The heart data, read once per process. Missing values stay NaN:
    imputation belongs in each model's pipeline."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(DATA, na_values="?")
    features = frame.drop(columns="target")
    target = frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(
        features, target, test_size=0.2, stratify=target, random_state=0
    )
    return HeartData(X_train, X_test, y_train, y_test)
