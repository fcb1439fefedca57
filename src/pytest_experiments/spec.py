"""The declaration that :func:`pytest_experiments.experiment` attaches to a function.

A module of its own so that importing the package (which pytest does at the
start of every run) does not build the dataclass.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExperimentSpec:
    """An experiment's declaration, as written. Validated at collection time,
    so a mistake becomes a collection error that names file and experiment."""

    #: A grid (columns: lists, tuples, ranges, 1-d NumPy arrays) or a list of cases.
    params: Mapping[str, Collection[Any]] | Iterable[Mapping[str, Any]] | None = None
    expect: Mapping[str, str] = field(default_factory=dict)
    tolerance: Mapping[str, float | str] | float | str | None = None
    lower_is_better: tuple[str, ...] = ()
    higher_is_better: tuple[str, ...] = ()
    repeats: int | None = None
    #: K: every returned sequence is the scores of the same K cross-validation
    #: folds, in order (the gate then tests them fold by fold).
    folds: int | None = None
    #: Metric name -> ``function(y_true, y_pred[, y_score])`` recomputing it from
    #: logged predictions (for the paired gate), beside scikit-learn's by name.
    metric_functions: Mapping[str, Any] = field(default_factory=dict)
    primary_metric: str | None = None
