"""How results are shown, alike in the report, the terminal and the plots.

One home for what :mod:`.reporting`, :mod:`.terminal` and :mod:`.plots` must
agree on: a case's label, a param value's text, the metrics (or params) of
several results in first-seen order, results grouped by experiment, the
metrics compared with a baseline, which way a metric is better and the half
width of a mean's 95% confidence interval. Pure: nothing here imports
pytest, mlflow or matplotlib.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from .conditions import name_direction
from .results import CaseResult, Direction
from .stats import Summary

__all__ = [
    "as_number",
    "by_experiment",
    "case_label",
    "delta_metrics",
    "direction",
    "finite",
    "half_width",
    "param_text",
    "union",
]


def as_number(value: object) -> float | None:
    """*value* as a float when it is a real number (bool excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):
        return None


def finite(value: object) -> float | None:
    """*value* as a finite float when it is a real number (bool excluded), else None."""
    number = as_number(value)
    return number if number is not None and math.isfinite(number) else None


def case_label(case_id: str) -> str:
    """The part of *case_id* inside its brackets (``n=100``), else the whole id."""
    start = case_id.find("[")
    if start != -1 and case_id.endswith("]"):
        return case_id[start + 1 : -1]
    return case_id


def param_text(value: object) -> str:
    """A param value as written: ``1.0`` stays ``1.0`` (it matches the case id)."""
    return "None" if value is None else str(value)


def union(keys: Iterable[Iterable[str]]) -> list[str]:
    """Every name of *keys* (mappings or lists of names) once, in first-seen order."""
    seen: dict[str, None] = {}
    for names in keys:
        for name in names:
            seen.setdefault(name, None)
    return list(seen)


def by_experiment(results: Sequence[CaseResult]) -> list[list[CaseResult]]:
    """Results grouped by (file, experiment), groups and members in first-seen order."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for result in results:
        groups.setdefault((result.file, result.experiment), []).append(result)
    return list(groups.values())


def delta_metrics(group: Sequence[CaseResult], metrics: Sequence[str]) -> list[str]:
    """Metrics with a baseline comparison in *group*: returned ones first, in order."""
    compared = union([r.comparisons for r in group])
    return [m for m in metrics if m in compared] + [m for m in compared if m not in metrics]


def direction(results: Sequence[CaseResult], metric: str) -> Direction:
    """Which way *metric* is better: as the first result that carries its
    direction states it (the declaration's, recorded by the runner), else by
    its name (``loss``: lower), as the gate decides an undeclared metric
    (:func:`~pytest_experiments.conditions.direction_for`)."""
    for result in results:
        if metric in result.directions:
            return "lower" if result.directions[metric] == "lower" else "higher"
    return name_direction(metric)


def half_width(result: CaseResult, metric: str) -> float | None:
    """Half width of the 95% confidence interval of *metric*'s mean in
    *result* when it has a spread over n > 1 values, else None."""
    spread = result.spread.get(metric)
    if not spread or int(spread.get("n", 1)) < 2 or spread.get("std") is None:
        return None
    half = Summary.from_dict(spread).half_width()
    return half if half is not None and math.isfinite(half) else None
