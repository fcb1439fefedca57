"""Cases from an experiment's ``params``: a grid's cartesian product, a list
of cases, or a scikit-learn ``ParameterGrid`` or ``ParameterSampler``; each
:class:`Case` with its values, id, display values and mark.

Pure functions: nothing here imports pytest, mlflow, NumPy or scikit-learn.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .conditions import DeclarationError, DeclarationProblems
from .ids import param_forms, python_scalar, short_repr


@dataclass(frozen=True)
class Case:
    """One parametrised case of an experiment."""

    #: The values as declared, by key, in declared order.
    values: Mapping[str, Any]
    #: ``n_estimators=100-max_depth=3`` (empty when the experiment has no params).
    id: str
    #: JSON-friendly values for tracking and reports.
    display: Mapping[str, Any]
    #: The ``params`` mark's keywords: display values, floats as their id text.
    mark: Mapping[str, Any]


def expand_cases(params: object) -> list[Case]:
    """Turn a ``params`` declaration into cases.

    A dict of columns is a grid (cartesian product, keys in declared order): a
    column is a list, tuple, range or 1-d NumPy array. A list of dicts is an
    explicit list of cases, and so is a scikit-learn ``ParameterGrid`` or
    ``ParameterSampler`` (see :func:`search_space`); None is a single empty
    case. Raises
    :class:`DeclarationProblems` listing every malformed column or entry.
    """
    if params is None:
        return [Case(values={}, id="", display={}, mark={})]
    space = search_space(params)
    if space is not None:
        params = space
    problems: list[str] = []
    if isinstance(params, Mapping):
        if len(params) == 0:
            raise DeclarationProblems(
                [
                    "params is an empty dict: the grid has no cases "
                    "(leave params out for a single case without params)"
                ]
            )
        keys: list[str] = []
        columns: list[list[Any]] = []
        for key, column in params.items():
            try:
                _check_key(key)
                keys.append(key)
                columns.append(_column(key, column))
            except DeclarationError as exc:
                problems.append(str(exc))
        if problems:
            raise DeclarationProblems(problems)
        forms = [
            [(key, *param_forms(key, v)) for v in column]
            for key, column in zip(keys, columns, strict=True)
        ]
        cases = []
        for combination in itertools.product(*(range(len(c)) for c in columns)):
            chosen = [forms[i][j] for i, j in enumerate(combination)]
            values = {
                k: columns[i][j] for i, (k, j) in enumerate(zip(keys, combination, strict=True))
            }
            cases.append(_case(values, chosen))
        return cases
    if isinstance(params, (list, tuple)):
        if len(params) == 0:
            raise DeclarationProblems(["params is an empty list: there are no cases"])
        entries: list[dict[str, Any]] = []
        for index, entry in enumerate(params):
            if not isinstance(entry, Mapping):
                problems.append(
                    f"params[{index}] must be a dict of param values, "
                    f"got {type(entry).__name__}: {short_repr(entry)}"
                )
                continue
            for key in entry:
                try:
                    _check_key(key)
                except DeclarationError as exc:
                    problems.append(str(exc))
            entries.append(dict(entry))
        if problems:
            raise DeclarationProblems(problems)
        return [_case(e, [(k, *param_forms(k, v)) for k, v in e.items()]) for e in entries]
    raise DeclarationProblems(
        [
            "params must be a dict of lists (a grid), a list of dicts (cases), or a "
            "scikit-learn ParameterGrid or ParameterSampler, "
            f"got {type(params).__name__}: {short_repr(params)}"
        ]
    )


def search_space(params: object) -> list[Any] | None:
    """The cases of a scikit-learn ``ParameterGrid`` or ``ParameterSampler``
    (a list of dicts); None for anything else. scikit-learn is never imported
    here: such an object exists only once it is.

    A sampler must draw the same cases in every process (each xdist worker
    collects on its own) and every session (each case's id keys its baseline
    entry and its cached runs): its ``random_state`` must be an int. Sampled
    floats get ids as every float does (:func:`float_text`), their exact
    values are logged."""
    selection = sys.modules.get("sklearn.model_selection")
    if selection is None:
        return None
    sampler = getattr(selection, "ParameterSampler", None)
    grid = getattr(selection, "ParameterGrid", None)
    kinds = tuple(k for k in (sampler, grid) if isinstance(k, type))
    if not kinds or not isinstance(params, kinds):
        return None
    kind = type(params).__name__
    if sampler is not None and isinstance(params, sampler):
        state = getattr(params, "random_state", None)
        if isinstance(state, bool) or not isinstance(python_scalar(state), int):
            raise DeclarationProblems(
                [
                    f"params is a ParameterSampler with random_state={short_repr(state)}: it would "
                    "draw other cases in every xdist worker and every session; give it a "
                    "fixed seed, ParameterSampler(..., random_state=0)"
                ]
            )
    try:
        cases: list[Any] = list(params)  # type: ignore[call-overload]
    except Exception as exc:
        raise DeclarationProblems(
            [f"params is a {kind} that raised {type(exc).__name__}: {short_repr(str(exc), 200)}"]
        ) from None
    if not cases:
        raise DeclarationProblems([f"params is a {kind} without cases"])
    return cases


def _column(key: str, column: object) -> list[Any]:
    """A grid column's values (a list, tuple, range or 1-d NumPy array)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(column, numpy.ndarray):
        if column.ndim != 1:
            raise DeclarationError(
                f"params[{key!r}] is a {column.ndim}-d array of shape {column.shape}: a grid "
                "column must be 1-d, one value per case (list(array) gives one case per row)"
            )
        values = list(column)
    elif isinstance(column, (list, tuple, range)):
        values = list(column)
    else:
        raise DeclarationError(
            f"params[{key!r}] must be a list of values (a grid column), "
            f"got {type(column).__name__}: {short_repr(column)}"
        )
    if not values:
        raise DeclarationError(f"params[{key!r}] is empty: the grid has no cases")
    return values


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise DeclarationError(f"param name {key!r} must be a non-empty string")


def _case(values: dict[str, Any], forms: Sequence[tuple[str, str, Any, Any]]) -> Case:
    """A case from its values and each key's (key, id text, display, mark)."""
    return Case(
        values=values,
        id="-".join(f"{key}={text}" for key, text, _, _ in forms),
        display={key: shown for key, _, shown, _ in forms},
        mark={key: mark for key, _, _, mark in forms},
    )
