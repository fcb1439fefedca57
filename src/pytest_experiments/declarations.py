"""Checking an experiment's declaration: its @experiment spec (or the empty
one of a plain ``exp_*`` function) against its signature, into a
:class:`Declaration` with its cases, conditions, tolerances and directions.

Pure functions: nothing here imports pytest or mlflow. Every problem is
found before any is raised (:class:`.conditions.DeclarationProblems`).
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import SPEC_ATTR
from .conditions import (
    Condition,
    DeclarationError,
    DeclarationProblems,
    Tolerance,
    direction_for,
    problems_of,
)
from .grids import Case, expand_cases
from .ids import short_repr
from .results import Direction
from .spec import ExperimentSpec


@dataclass(frozen=True)
class Declaration:
    """A validated experiment declaration."""

    name: str
    cases: tuple[Case, ...]
    #: Arguments the cases fill by name (``params`` included when the function takes it).
    argnames: tuple[str, ...]
    expect: Mapping[str, Condition]
    tolerances: Mapping[str, Tolerance]
    #: Tolerance for metrics not listed (from the decorator's single value or ini).
    default_tolerance: Tolerance
    lower_is_better: tuple[str, ...]
    higher_is_better: tuple[str, ...]
    doc: str | None
    #: Times each case's body runs (None: the session's --exp-repeats).
    repeats: int | None = None
    #: ``folds=K``: each returned sequence is the K scores of the same
    #: cross-validation folds, in order (None: samples of unknown kind).
    folds: int | None = None
    #: ``metric_functions=``: metric -> function recomputing it from predictions.
    metric_functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    #: The metric the leaderboard ranks its file by (None: the session's default).
    primary_metric: str | None = None

    def declared_metrics(self) -> tuple[str, ...]:
        """Metrics the declaration names (expect, tolerance, direction lists)."""
        names: dict[str, None] = {}
        for group in (self.expect, self.tolerances, self.lower_is_better, self.higher_is_better):
            names.update(dict.fromkeys(group))
        return tuple(names)

    def gated(self, metrics: Iterable[str]) -> set[str]:
        """The metrics that can fail the case: the declared ones, or all of
        ``metrics`` when the declaration names none."""
        declared = self.declared_metrics()
        return set(declared) if declared else set(metrics)

    def direction(self, metric: str) -> Direction:
        return direction_for(
            metric,
            lower_is_better=self.lower_is_better,
            higher_is_better=self.higher_is_better,
            expect=self.expect,
        )

    def tolerance(self, metric: str) -> Tolerance:
        return self.tolerances.get(metric, self.default_tolerance)


def declaration_for(
    func: Callable[..., Any], name: str, ini_tolerance: Tolerance, module_doc: str | None
) -> Declaration:
    """Validate ``func``'s @experiment spec (or the empty one for a plain
    ``exp_*`` function). Raises :class:`DeclarationProblems` listing every
    problem, each naming the offending text."""
    spec = getattr(func, SPEC_ATTR, None)
    asked = (spec, name, ini_tolerance, module_doc)
    try:
        checked = _CHECKED.get(func)
    except TypeError:  # not weakly referenceable
        checked = None
    if checked is not None and checked[0][0] is spec and checked[0][1:] == asked[1:]:
        return checked[1]
    declaration = _declaration(func, spec, name, ini_tolerance, module_doc)
    with contextlib.suppress(TypeError):
        _CHECKED[func] = (asked, declaration)
    return declaration


#: Declarations already made, by function: ExperimentModule.collect checks
#: every experiment, then the plugin's pytest_generate_tests asks again.
_CHECKED: weakref.WeakKeyDictionary[
    Callable[..., Any], tuple[tuple[object, str, Tolerance, str | None], Declaration]
] = weakref.WeakKeyDictionary()


def _declaration(
    func: Callable[..., Any],
    spec: ExperimentSpec | None,
    name: str,
    ini_tolerance: Tolerance,
    module_doc: str | None,
) -> Declaration:
    if spec is None:
        spec = ExperimentSpec()
    problems: list[str] = []

    argnames: tuple[str, ...] = ()
    try:
        cases = expand_cases(spec.params)
    except DeclarationError as exc:
        problems.extend(problems_of(exc))
        cases = []
    else:
        argnames = _check_arguments(func, name, cases, problems)

    expect: dict[str, Condition] = {}
    if not isinstance(spec.expect, Mapping):
        problems.append(
            f"expect must be a dict of metric -> condition, got {short_repr(spec.expect)}"
        )
    else:
        for metric, text in spec.expect.items():
            try:
                expect[str(metric)] = Condition.parse(text)
            except DeclarationError as exc:
                problems.append(f"expect[{metric!r}]: {exc}")

    tolerances: dict[str, Tolerance] = {}
    default_tolerance = ini_tolerance
    if isinstance(spec.tolerance, Mapping):
        for metric, value in spec.tolerance.items():
            try:
                tolerances[str(metric)] = Tolerance.parse(value)
            except DeclarationError as exc:
                problems.append(f"tolerance[{metric!r}]: {exc}")
    elif spec.tolerance is not None:
        try:
            default_tolerance = Tolerance.parse(spec.tolerance)
        except DeclarationError as exc:
            problems.append(str(exc))

    higher = tuple(spec.higher_is_better)
    for metric in dict.fromkeys(m for m in spec.lower_is_better if m in higher):
        problems.append(f"metric {metric!r} is in both lower_is_better and higher_is_better")

    repeats = spec.repeats
    if repeats is not None and (
        isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1
    ):
        problems.append(f"repeats={repeats!r} must be a positive integer")

    folds = spec.folds
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 2):
        problems.append(
            f"folds={short_repr(folds)} must be the number of cross-validation folds "
            "each returned sequence scores (an integer >= 2)"
        )

    functions: dict[str, Callable[..., Any]] = {}
    if not isinstance(spec.metric_functions, Mapping):
        problems.append(
            "metric_functions must be a dict of metric -> function(y_true, y_pred), "
            f"got {short_repr(spec.metric_functions)}"
        )
    else:
        for metric, function in spec.metric_functions.items():
            if not callable(function):
                problems.append(
                    f"metric_functions[{metric!r}] is not callable: {short_repr(function)}"
                )
            else:
                functions[str(metric)] = function
    primary = spec.primary_metric
    if primary is not None and (not isinstance(primary, str) or not primary.strip()):
        problems.append(f"primary_metric={primary!r} must be a metric name (a non-empty string)")

    if problems:
        raise DeclarationProblems(problems)
    doc = inspect.getdoc(func) or (inspect.cleandoc(module_doc) if module_doc else None)
    return Declaration(
        name=name,
        cases=tuple(cases),
        argnames=argnames,
        expect=expect,
        tolerances=tolerances,
        default_tolerance=default_tolerance,
        lower_is_better=tuple(spec.lower_is_better),
        higher_is_better=higher,
        doc=doc,
        repeats=repeats,
        folds=folds,
        metric_functions=functions,
        primary_metric=primary,
    )


def _check_arguments(
    func: Callable[..., Any], name: str, cases: list[Case], problems: list[str]
) -> tuple[str, ...]:
    """The arguments the cases fill by name; adds what does not fit to *problems*."""
    arguments = _argument_names(func)
    keys = list(dict.fromkeys(k for case in cases for k in case.values))
    takes_params = "params" in arguments
    unknown = [] if takes_params else [k for k in keys if k not in arguments]
    for key in unknown:
        problems.append(
            f"param {key!r} is not an argument of {name}"
            f"({', '.join(arguments)}); add it to the signature, or "
            "take an argument named 'params' to receive the whole dict"
        )
    argnames = tuple(k for k in keys if k in arguments and k != "params")
    for case in cases:
        # Values that reach the function by argument name must be in every case.
        missing = [k for k in argnames if k not in case.values]
        if missing:
            problems.append(
                f"case {case.id or '(empty)'!r} gives no value for "
                f"{', '.join(map(repr, missing))}, which other cases set; give "
                "every case the same keys, or read them from the 'params' dict"
            )
            break
    if takes_params:
        argnames += ("params",)
    if not argnames and not unknown and len(cases) > 1:
        problems.append(
            f"params lists {len(cases)} cases that set no values: they would be one case"
        )
    return argnames


def _argument_names(func: Callable[..., Any]) -> list[str]:
    signature = inspect.signature(func)
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
