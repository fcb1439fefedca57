"""Experiment discovery, parameter grids, case ids and declaration checks.

Pure functions plus the :class:`ExperimentModule` collector. Nothing here
imports mlflow.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from . import SPEC_ATTR
from .conditions import Condition, DeclarationError, Tolerance, direction_for
from .discovery import DECLARED_KEY as DECLARED_KEY
from .discovery import is_experiment_function as is_experiment_function
from .discovery import matches_any as matches_any
from .discovery import relative_file
from .spec import ExperimentSpec

#: Plain values that appear in case ids as themselves.
_PLAIN = (str, int, float, bool, type(None))


def format_value(value: object, position: int) -> str:
    """How one param value appears in a case id.

    Plain values appear as themselves; anything else is named by its type and
    position (``RandomForestClassifier#0``) so ids never hold memory addresses
    and are identical on every xdist worker.
    """
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass's own __str__ could differ
    if type(value) is int:
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)  # also numpy.float64, a float subclass
    # int subclasses (IntEnum...), numpy ints and everything else: by type
    return f"{type(value).__name__}#{position}"


def display_value(value: object, position: int) -> Any:
    """A JSON-friendly form of a param value, for results, baselines and MLflow."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if type(value) is int:
        return value
    if isinstance(value, float):
        return float(value)
    return format_value(value, position)


@dataclass(frozen=True)
class Case:
    """One parametrised case of an experiment."""

    #: The values as declared, by key, in declared order.
    values: Mapping[str, Any]
    #: ``n_estimators=100-max_depth=3`` (empty when the experiment has no params).
    id: str
    #: JSON-friendly values for tracking and reports.
    display: Mapping[str, Any]


def expand_cases(params: object) -> list[Case]:
    """Turn a ``params`` declaration into cases.

    A dict of lists is a grid (cartesian product, keys in declared order); a
    list of dicts is an explicit list of cases; None is a single empty case.
    """
    if params is None:
        return [Case(values={}, id="", display={})]
    if isinstance(params, Mapping):
        if len(params) == 0:
            raise DeclarationError(
                "params is an empty dict: the grid has no cases "
                "(leave params out for a single case without params)"
            )
        keys = list(params)
        columns: list[list[Any]] = []
        for key in keys:
            _check_key(key)
            column = params[key]
            if not isinstance(column, (list, tuple, range)):
                raise DeclarationError(
                    f"params[{key!r}] must be a list of values (a grid column), "
                    f"got {type(column).__name__}: {_short(column)}"
                )
            if len(column) == 0:
                raise DeclarationError(f"params[{key!r}] is empty: the grid has no cases")
            columns.append(list(column))
        cases = []
        for indices in itertools.product(*(range(len(c)) for c in columns)):
            values = {k: columns[i][j] for i, (k, j) in enumerate(zip(keys, indices, strict=True))}
            positions = dict(zip(keys, indices, strict=True))
            cases.append(_case(values, positions))
        return cases
    if isinstance(params, (list, tuple)):
        if len(params) == 0:
            raise DeclarationError("params is an empty list: there are no cases")
        cases = []
        for index, entry in enumerate(params):
            if not isinstance(entry, Mapping):
                raise DeclarationError(
                    f"params[{index}] must be a dict of param values, "
                    f"got {type(entry).__name__}: {_short(entry)}"
                )
            for key in entry:
                _check_key(key)
            cases.append(_case(dict(entry), {k: index for k in entry}))
        return cases
    raise DeclarationError(
        "params must be a dict of lists (a grid) or a list of dicts (cases), "
        f"got {type(params).__name__}: {_short(params)}"
    )


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise DeclarationError(f"param name {key!r} must be a non-empty string")


#: A word of a param name that ends with one of these marks a secret
#: (``hf_token``, ``dbPassword``, ``authtoken``), while ``tokenizer`` or
#: ``max_tokens`` are ordinary params.
SECRET_WORD = re.compile(r"(passwords?|passwd|passphrase|pwd|token|secrets?|apikey|credentials?)$")
#: Two consecutive words that mark a secret (``api_key``, ``AWS_ACCESS_KEY``).
SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key")})
MASK = "***"


def is_secret_name(name: str) -> bool:
    """Params named like secrets are masked in ids, tracking and reports."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)  # camelCase -> camel_Case
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", spaced)  # APIKey -> API_Key
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]
    if any(SECRET_WORD.search(word) for word in words):
        return True
    return any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


def _case(values: dict[str, Any], positions: Mapping[str, int]) -> Case:
    def shown(key: str, value: Any) -> Any:
        return MASK if is_secret_name(key) else display_value(value, positions[key])

    def in_id(key: str, value: Any) -> str:
        return MASK if is_secret_name(key) else format_value(value, positions[key])

    case_id = "-".join(f"{k}={in_id(k, v)}" for k, v in values.items())
    display = {k: shown(k, v) for k, v in values.items()}
    return Case(values=values, id=case_id, display=display)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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

    def direction(self, metric: str) -> str:
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
    ``exp_*`` function). Raises DeclarationError naming the offending text."""
    spec = getattr(func, SPEC_ATTR, None)
    if spec is None:
        spec = ExperimentSpec()
    cases = expand_cases(spec.params)

    arguments = _argument_names(func)
    keys: list[str] = []
    for case in cases:
        keys.extend(k for k in case.values if k not in keys)
    takes_params = "params" in arguments
    if not takes_params:
        for key in keys:
            if key not in arguments:
                raise DeclarationError(
                    f"param {key!r} is not an argument of {name}"
                    f"({', '.join(arguments)}); add it to the signature, or "
                    "take an argument named 'params' to receive the whole dict"
                )
    argnames = tuple(k for k in keys if k in arguments and k != "params")
    for case in cases:
        # Values that reach the function by argument name must be in every case.
        missing = [k for k in argnames if k not in case.values]
        if missing:
            raise DeclarationError(
                f"case {case.id or '(empty)'!r} gives no value for "
                f"{', '.join(map(repr, missing))}, which other cases set; give "
                "every case the same keys, or read them from the 'params' dict"
            )
    if takes_params:
        argnames += ("params",)
    if not argnames and len(cases) > 1:
        raise DeclarationError(
            f"params lists {len(cases)} cases that set no values: they would be one case"
        )

    if not isinstance(spec.expect, Mapping):
        raise DeclarationError(
            f"expect must be a dict of metric -> condition, got {_short(spec.expect)}"
        )
    expect: dict[str, Condition] = {}
    for metric, text in spec.expect.items():
        try:
            expect[str(metric)] = Condition.parse(text)
        except DeclarationError as exc:
            raise DeclarationError(f"expect[{metric!r}]: {exc}") from None

    tolerances: dict[str, Tolerance] = {}
    default_tolerance = ini_tolerance
    if isinstance(spec.tolerance, Mapping):
        for metric, value in spec.tolerance.items():
            try:
                tolerances[str(metric)] = Tolerance.parse(value)
            except DeclarationError as exc:
                raise DeclarationError(f"tolerance[{metric!r}]: {exc}") from None
    elif spec.tolerance is not None:
        default_tolerance = Tolerance.parse(spec.tolerance)

    both = [m for m in spec.lower_is_better if m in tuple(spec.higher_is_better)]
    if both:
        raise DeclarationError(
            f"metric {both[0]!r} is in both lower_is_better and higher_is_better"
        )

    repeats = spec.repeats
    if repeats is not None and (
        isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1
    ):
        raise DeclarationError(f"repeats={repeats!r} must be a positive integer")

    doc = inspect.getdoc(func) or (inspect.cleandoc(module_doc) if module_doc else None)
    return Declaration(
        name=name,
        cases=tuple(cases),
        argnames=argnames,
        expect=expect,
        tolerances=tolerances,
        default_tolerance=default_tolerance,
        lower_is_better=tuple(spec.lower_is_better),
        higher_is_better=tuple(spec.higher_is_better),
        doc=doc,
        repeats=repeats,
    )


def _argument_names(func: Callable[..., Any]) -> list[str]:
    signature = inspect.signature(func)
    return [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def parametrize_values(declaration: Declaration) -> list[Any]:
    """``pytest.param`` entries for ``metafunc.parametrize(declaration.argnames, ...)``."""
    entries = []
    for case in declaration.cases:
        values = [
            dict(case.values) if arg == "params" else case.values[arg]
            for arg in declaration.argnames
        ]
        entries.append(
            pytest.param(*values, id=case.id, marks=[pytest.mark.params(**case.display)])
        )
    return entries


class ExperimentModule(pytest.Module):
    """A module of experiments: collects ``exp_*`` and @experiment functions
    besides whatever pytest would collect from it as tests."""

    #: What :func:`.discovery.is_experiment_item` looks for (no import needed).
    is_experiment_module = True

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        collected = list(super().collect())
        self.config.stash.setdefault(DECLARED_KEY, {})[relative_file(self)] = [
            node.name
            for node in collected
            if isinstance(node, pytest.Function)
            and is_experiment_function(node.function, node.originalname)
        ]
        return collected

    def istestfunction(self, obj: object, name: str) -> bool:
        if is_experiment_function(obj, name):
            # Imported experiments belong to the module that defines them.
            return bool(getattr(obj, "__module__", None) == self.obj.__name__)
        return super().istestfunction(obj, name)


def experiment_names(patterns: Sequence[str]) -> tuple[str, ...]:
    """Normalise the ``experiment_files`` ini value."""
    return tuple(p for p in patterns if p)
