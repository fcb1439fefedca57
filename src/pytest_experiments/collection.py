"""Experiment discovery, parameter grids, case ids and declaration checks.

Pure functions plus the :class:`ExperimentModule` collector. Nothing here
imports mlflow.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import inspect
import itertools
import math
import re
import sys
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest

from . import SPEC_ATTR
from .conditions import Condition, DeclarationError, Tolerance, direction_for
from .discovery import is_experiment_function as is_experiment_function
from .discovery import matches_any as matches_any
from .discovery import relative_file
from .keys import DECLARED_KEY, SETTINGS_KEY
from .redaction import MASK as MASK
from .redaction import is_secret_name as is_secret_name
from .results import Direction
from .spec import ExperimentSpec

# -- how a value is named ---------------------------------------------------------

#: Estimator text longer than this is cut, and ends with a hash of the whole text.
ID_TEXT_LIMIT = 40
#: Longest text logged for one estimator setting that is not a plain value.
SETTING_TEXT_LIMIT = 250
#: Significant digits of a float in a case id (see :func:`float_text`).
FLOAT_ID_DIGITS = 12
#: Hex digits of sha256 that name a value (``Model#1a2b3c4d``, ``***1a2b3c4d``).
HASH_CHARS = 8
#: How deep nested values are spelled out (deeper ones, and cycles: by type).
_MAX_DEPTH = 8
#: Memory addresses in reprs (``<Model object at 0x7f...>``): they differ per process.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|\b0x[0-9a-fA-F]{8,}\b")


def short_hash(text: str) -> str:
    """The first :data:`HASH_CHARS` hex digits of the sha256 of *text*."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def _python_scalar(value: object) -> object:
    """A NumPy scalar as the Python number, bool or str it holds (else *value*).

    NumPy is never imported here: a NumPy scalar exists only once it is."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        try:
            return value.item()
        except Exception:
            return value
    return value


def estimator_params(value: object) -> dict[str, Any] | None:
    """``value.get_params(deep=False)`` when *value* is an estimator (an object
    with scikit-learn's ``get_params``, class not imported), else None."""
    if isinstance(value, type):
        return None  # the class itself: its get_params needs an instance
    try:
        get_params = getattr(value, "get_params", None)
        if not callable(get_params):
            return None
        try:
            params = get_params(deep=False)
        except TypeError:  # a get_params without scikit-learn's ``deep``
            params = get_params()
    except Exception:
        return None
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        return None
    return dict(params)


def _defaults(value: object) -> dict[str, Any]:
    """The defaults of the estimator class's ``__init__``, by argument name."""
    init = getattr(type(value), "__init__", None)
    init = getattr(init, "deprecated_original", init)  # scikit-learn's @deprecated
    try:
        parameters = inspect.signature(init).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}
    return {name: p.default for name, p in parameters.items() if p.default is not p.empty}


def _estimator_text(value: object, params: Mapping[str, Any], depth: int) -> str:
    """``RandomForestClassifier(max_depth=3)``: the settings that differ from
    the class's defaults, in get_params order (scikit-learn's changed-only
    repr); secret settings masked."""
    defaults = _defaults(value)
    shown = []
    for name, setting in params.items():
        text = canonical_text(setting, depth + 1)
        if name in defaults and text == canonical_text(defaults[name], depth + 1):
            continue
        shown.append(f"{name}={mask_secret(setting) if is_secret_name(name) else text}")
    return f"{type(value).__name__}({', '.join(shown)})"


def describe_estimator(value: object) -> str | None:
    """An estimator's whole text (``RandomForestClassifier(max_depth=3)``, as
    scikit-learn's repr prints it, changed settings only, on one line); None
    when *value* is no estimator. Ids cut it past :data:`ID_TEXT_LIMIT`."""
    params = estimator_params(value)
    return None if params is None else _estimator_text(value, params, 0)


def canonical_text(value: object, depth: int = 0) -> str:
    """Text that stands for *value* the same way in every process, for hashing.

    Its repr with memory addresses removed, except: containers are spelled out
    element by element (set elements sorted, since their order changes with
    PYTHONHASHSEED), NumPy scalars as Python values, estimators by their
    changed settings, arrays by dtype, shape and bytes (their repr elides),
    and objects without a repr of their own by their attributes."""
    value = _python_scalar(value)
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return repr(value)
    if depth >= _MAX_DEPTH:
        return f"<{kind.__qualname__}>"
    params = estimator_params(value)
    if params is not None:
        return _estimator_text(value, params, depth)
    inner = depth + 1
    # Exactly these types: a subclass may have a repr of its own (namedtuple...).
    if isinstance(value, (list, tuple)) and kind in (list, tuple):
        items = [canonical_text(v, inner) for v in value]
        if kind is list:
            return f"[{', '.join(items)}]"
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    if isinstance(value, dict) and kind is dict:
        pairs = (
            f"{canonical_text(k, inner)}: {canonical_text(v, inner)}" for k, v in value.items()
        )
        return f"{{{', '.join(pairs)}}}"
    if isinstance(value, (set, frozenset)) and kind in (set, frozenset):
        items = sorted(canonical_text(v, inner) for v in value)
        if not items:
            return f"{kind.__name__}()"
        text = f"{{{', '.join(items)}}}"
        return text if kind is set else f"frozenset({text})"
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        if value.dtype.hasobject:
            body = canonical_text(value.tolist(), inner)
        else:
            body = hashlib.sha256(numpy.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array(shape={value.shape}, dtype={value.dtype}, {body})"
    if kind.__repr__ is object.__repr__:
        # By class (without its module, whose name depends on pytest's import
        # mode) and attributes, which object's repr leaves out.
        fields = ", ".join(f"{k}={canonical_text(v, inner)}" for k, v in _attributes(value))
        return f"{kind.__qualname__}({fields})"
    try:
        text = repr(value)
    except Exception:
        text = f"<{kind.__qualname__}: repr failed>"
    return _ADDRESS.sub("", text)


def _attributes(value: object) -> list[tuple[str, Any]]:
    """An object's instance attributes: its ``__dict__``, then its slots."""
    found: dict[str, Any] = {}
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        found.update((k, v) for k, v in attributes.items() if isinstance(k, str))
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if isinstance(slot, str) and slot not in found and slot != "__dict__":
                with contextlib.suppress(Exception):
                    found[slot] = getattr(value, slot)
    return list(found.items())


def _cut(text: str, limit: int) -> str:
    """*text*, or past *limit* characters its start, ``...`` and a hash of the whole."""
    if len(text) <= limit:
        return text
    digest = short_hash(text)
    return f"{text[: limit - len(digest) - 4]}...#{digest}"


def float_text(value: float) -> str:
    """A float as it appears in a case id: Python's repr of the value rounded to
    :data:`FLOAT_ID_DIGITS` significant digits (``1e-05`` also for NumPy's
    ``9.999999999999999e-06``), so an id, and the baseline entry it keys, never
    hangs on the last bits of a computed float. Values written with at most 12
    digits keep the repr they always had; the exact value is what is logged."""
    value = float(value)  # also a float subclass or NumPy scalar
    if not math.isfinite(value):
        return repr(value)
    return repr(float(f"{value:.{FLOAT_ID_DIGITS}g}"))


def _forms(value: object) -> tuple[str, Any, Any]:
    """(text in the case id, display value, ``params`` mark value) of one param value."""
    value = _python_scalar(value)
    if value is None or isinstance(value, bool):
        return str(value), value, value
    if isinstance(value, str):
        text = str.__str__(value)  # a str subclass's own __str__ could differ
        return text, text, text
    if type(value) is int:
        return int.__repr__(value), value, value
    if isinstance(value, float):
        text = float_text(value)
        return text, float(value), text  # marker expressions cannot match a float
    # int subclasses (IntEnum...) and everything else
    params = estimator_params(value)
    if params is not None:
        text = _cut(_estimator_text(value, params, 0), ID_TEXT_LIMIT)
    else:
        text = f"{type(value).__name__}#{short_hash(canonical_text(value))}"
    return text, text, text


def format_value(value: object) -> str:
    """How one param value appears in a case id.

    str, int, float, bool and None (NumPy scalars too) appear as themselves;
    an estimator as its class and changed settings
    (``RandomForestClassifier(max_depth=3)``, cut past :data:`ID_TEXT_LIMIT`
    characters and ended with a hash of the whole); anything else as its type
    and a hash of its address-free repr (``Net#1a2b3c4d``). Never a memory
    address nor a position, so ids are the same on every xdist worker and in
    every session, and change when an estimator's settings change.
    """
    return _forms(value)[0]


def display_value(value: object) -> Any:
    """A JSON-friendly form of a param value, for results, baselines and MLflow:
    plain values as they are (NumPy scalars as Python ones), anything else as
    its id text."""
    return _forms(value)[1]


def mark_value(value: object) -> Any:
    """A param value in the case's ``params`` mark: its display value, but a
    float as its id text (``-m "params(alpha='0.1')"``; marker expressions
    match int, str, bool and None only)."""
    return _forms(value)[2]


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


class DeclarationProblems(DeclarationError):
    """Every problem found in one declaration: ``problems``, one per line of
    the message."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def problems_of(error: DeclarationError) -> list[str]:
    """The problems a DeclarationError reports, one line each."""
    if isinstance(error, DeclarationProblems):
        return list(error.problems)
    return [str(error)]


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
            [(key, *_shown(key, v)) for v in column]
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
                    f"got {type(entry).__name__}: {_short(entry)}"
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
        return [_case(e, [(k, *_shown(k, v)) for k, v in e.items()]) for e in entries]
    raise DeclarationProblems(
        [
            "params must be a dict of lists (a grid), a list of dicts (cases), or a "
            "scikit-learn ParameterGrid or ParameterSampler, "
            f"got {type(params).__name__}: {_short(params)}"
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
        if isinstance(state, bool) or not isinstance(_python_scalar(state), int):
            raise DeclarationProblems(
                [
                    f"params is a ParameterSampler with random_state={_short(state)}: it would "
                    "draw other cases in every xdist worker and every session; give it a "
                    "fixed seed, ParameterSampler(..., random_state=0)"
                ]
            )
    try:
        cases: list[Any] = list(params)  # type: ignore[call-overload]
    except Exception as exc:
        raise DeclarationProblems(
            [f"params is a {kind} that raised {type(exc).__name__}: {_short(str(exc), 200)}"]
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
            f"got {type(column).__name__}: {_short(column)}"
        )
    if not values:
        raise DeclarationError(f"params[{key!r}] is empty: the grid has no cases")
    return values


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise DeclarationError(f"param name {key!r} must be a non-empty string")


def mask_secret(value: object) -> str:
    """``***1a2b3c4d``: what ids, tracking and reports show for a secret.

    The hash tells different values apart, so two secrets are two cases with
    two baseline entries; it does not hide a guessable value (a short
    password) from someone who hashes candidates."""
    return MASK + short_hash("secret:" + canonical_text(value))


def _shown(key: str, value: object) -> tuple[str, Any, Any]:
    if is_secret_name(key):
        masked = mask_secret(value)
        return masked, masked, masked
    return _forms(value)


def _case(values: dict[str, Any], forms: Sequence[tuple[str, str, Any, Any]]) -> Case:
    """A case from its values and each key's (key, id text, display, mark)."""
    return Case(
        values=values,
        id="-".join(f"{key}={text}" for key, text, _, _ in forms),
        display={key: shown for key, _, shown, _ in forms},
        mark={key: mark for key, _, _, mark in forms},
    )


def tracked_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The params to log for a case with these values (``Case.values``).

    Each key's display value (as in ``Case.display``: plain values as they
    are, anything else as its id text, a secret as ``***<hash>``), and for an
    estimator one ``<key>.<setting>`` entry per item of its
    ``get_params(deep=False)``, defaults included: plain settings as they are,
    a nested estimator as its id text, anything else as its address-free repr
    (cut past :data:`SETTING_TEXT_LIMIT` characters), settings named like
    secrets masked. Every value is None, a bool, an int, a float or a str.
    """
    tracked: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_name(key):
            tracked[key] = mask_secret(value)
            continue
        tracked[key] = display_value(value)
        settings = estimator_params(_python_scalar(value))
        for name, setting in (settings or {}).items():
            tracked[f"{key}.{name}"] = (
                mask_secret(setting) if is_secret_name(name) else _setting_value(setting)
            )
    return tracked


def described_in_full(value: object, depth: int = 0) -> bool:
    """Whether :func:`tracked_params` pins *value* down: two values with the
    same tracked params are equal. True for None, bools, ints, floats, strs,
    enums, NumPy arrays of numbers, lists, tuples, dicts and sets of such
    values, and estimators whose settings are such values; False for anything
    else (a function, a closure, an object whose repr leaves its state out).
    The run cache leaves a sweep's literals out of the key only when every
    case's values are described in full."""
    value = _python_scalar(value)
    kind = type(value)
    if value is None or kind in (bool, int, float, str) or isinstance(value, enum.Enum):
        return True
    if depth >= _MAX_DEPTH:
        return False
    inner = depth + 1
    params = estimator_params(value)
    if params is not None:
        return all(described_in_full(v, inner) for v in params.values())
    if kind in (list, tuple, set, frozenset):
        return all(described_in_full(v, inner) for v in value)  # type: ignore[attr-defined]
    if kind is dict:
        return all(
            described_in_full(k, inner) and described_in_full(v, inner)
            for k, v in value.items()  # type: ignore[attr-defined]
        )
    numpy = sys.modules.get("numpy")
    return bool(
        numpy is not None and isinstance(value, numpy.ndarray) and not value.dtype.hasobject
    )


def _setting_value(value: object) -> Any:
    value = _python_scalar(value)
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return float(value)
    if estimator_params(value) is not None:
        return format_value(value)
    return _cut(canonical_text(value), SETTING_TEXT_LIMIT)


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

    def case(self, id: str) -> Case:
        """The case a collected item runs, from its id: the part of the item's
        name in brackets (``item.callspec.id``; "" without params).

        Also the id as pytest made it: non-ASCII text escaped, a counter
        added to cases whose ids are the same, the ids of the item's own
        ``parametrize`` marks joined with ``-``. Raises KeyError for an id that
        names none of the cases."""
        by_id = self._by_pytest_id
        found = by_id.get(id)
        if found is not None:
            return found
        if len(self.cases) == 1 and not self.cases[0].id:
            return self.cases[0]  # no params; the id is from other parametrization
        joined = [k for k in by_id if k and (id.startswith(f"{k}-") or id.endswith(f"-{k}"))]
        if joined:
            return by_id[max(joined, key=len)]
        raise KeyError(f"{self.name} has no case {id!r}")

    @cached_property
    def _by_pytest_id(self) -> dict[str, Case]:
        by_id: dict[str, Case] = {}
        ids = [case.id for case in self.cases]
        for variant in (ids, [_ascii_escaped(i) for i in ids]):
            for case_id, case in zip(_unique_ids(variant), self.cases, strict=True):
                by_id.setdefault(case_id, case)
        return by_id


_NON_PRINTABLE = {i: f"\\x{i:02x}" for i in (*range(32), *range(127, 256))}


def _ascii_escaped(text: str) -> str:
    """An id as pytest shows it (``_pytest.compat.ascii_escaped``)."""
    return text.encode("unicode_escape").decode("ascii").translate(_NON_PRINTABLE)


def _unique_ids(ids: list[str]) -> list[str]:
    """The ids as pytest makes them unique (``IdMaker.make_unique_parameterset_ids``):
    ``n=1_0``, ``n=1_1``, ``x0``, ``x1``."""
    counts = Counter(ids)
    if all(count == 1 for count in counts.values()):
        return ids
    taken = set(ids)
    suffixes: dict[str, int] = defaultdict(int)
    unique = []
    for case_id in ids:
        if counts[case_id] > 1:
            sep = "_" if case_id and case_id[-1].isdigit() else ""
            new_id = f"{case_id}{sep}{suffixes[case_id]}"
            while new_id in taken:
                suffixes[case_id] += 1
                new_id = f"{case_id}{sep}{suffixes[case_id]}"
            suffixes[case_id] += 1
            case_id = new_id
        unique.append(case_id)
    return unique


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
        problems.append(f"expect must be a dict of metric -> condition, got {_short(spec.expect)}")
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

    functions: dict[str, Callable[..., Any]] = {}
    if not isinstance(spec.metric_functions, Mapping):
        problems.append(
            "metric_functions must be a dict of metric -> function(y_true, y_pred), "
            f"got {_short(spec.metric_functions)}"
        )
    else:
        for metric, function in spec.metric_functions.items():
            if not callable(function):
                problems.append(f"metric_functions[{metric!r}] is not callable: {_short(function)}")
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


def parametrize_values(declaration: Declaration) -> list[Any]:
    """``pytest.param`` entries for ``metafunc.parametrize(declaration.argnames, ...)``."""
    entries = []
    for case in declaration.cases:
        values = [
            dict(case.values) if arg == "params" else case.values[arg]
            for arg in declaration.argnames
        ]
        entries.append(pytest.param(*values, id=case.id, marks=[pytest.mark.params(**case.mark)]))
    return entries


class ExperimentModule(pytest.Module):
    """A module of experiments: collects ``exp_*`` and @experiment functions
    besides whatever pytest would collect from it as tests."""

    #: What :func:`.discovery.is_experiment_item` looks for (no import needed).
    is_experiment_module = True

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        self._check_declarations()
        collected = list(super().collect())
        self.config.stash.setdefault(DECLARED_KEY, {})[relative_file(self)] = [
            node.name
            for node in collected
            if isinstance(node, pytest.Function)
            and is_experiment_function(node.function, node.originalname)
        ]
        return collected

    def _check_declarations(self) -> None:
        """Check every experiment of the module before pytest generates its
        cases (which would stop at the first bad one) and raise one
        CollectError listing every problem, a line ``file::experiment: problem``
        each."""
        module = self.obj
        tolerance = self.config.stash[SETTINGS_KEY].default_tolerance
        module_doc = getattr(module, "__doc__", None)
        problems: list[str] = []
        for name, obj in list(vars(module).items()):
            if not (
                is_experiment_function(obj, name)
                and self.istestfunction(obj, name)
                and getattr(obj, "__test__", True)
                and not inspect.isgeneratorfunction(obj)
            ):
                continue
            try:
                declaration_for(obj, name, tolerance, module_doc)
            except DeclarationError as exc:
                file = relative_file(self)
                problems.extend(f"{file}::{name}: {problem}" for problem in problems_of(exc))
        if problems:
            raise self.CollectError("\n".join(problems))

    def istestfunction(self, obj: object, name: str) -> bool:
        if is_experiment_function(obj, name):
            # Imported experiments belong to the module that defines them.
            return bool(getattr(obj, "__module__", None) == self.obj.__name__)
        return super().istestfunction(obj, name)
