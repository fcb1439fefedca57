"""How a param value is named: its text in a case id, its display and mark
values, the text that stands for it in hashes, a secret's stand-in and the
params a case logs.

Pure functions: nothing here imports pytest, mlflow, NumPy or scikit-learn
(NumPy scalars and arrays, and estimators, are recognised without importing them).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import inspect
import math
import re
import sys
from collections.abc import Mapping
from typing import Any

from .redaction import MASK, is_secret_name

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


def python_scalar(value: object) -> object:
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
    value = python_scalar(value)
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
    value = python_scalar(value)
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


def mask_secret(value: object) -> str:
    """``***1a2b3c4d``: what ids, tracking and reports show for a secret.

    The hash tells different values apart, so two secrets are two cases with
    two baseline entries; it does not hide a guessable value (a short
    password) from someone who hashes candidates."""
    return MASK + short_hash("secret:" + canonical_text(value))


def param_forms(key: str, value: object) -> tuple[str, Any, Any]:
    """(text in the case id, display value, ``params`` mark value) of the
    param *key*: a secret masked, else as :func:`format_value`,
    :func:`display_value` and :func:`mark_value` give it."""
    if is_secret_name(key):
        masked = mask_secret(value)
        return masked, masked, masked
    return _forms(value)


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
        settings = estimator_params(python_scalar(value))
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
    value = python_scalar(value)
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
    value = python_scalar(value)
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        return float(value)
    if estimator_params(value) is not None:
        return format_value(value)
    return _cut(canonical_text(value), SETTING_TEXT_LIMIT)


def short_repr(value: object, limit: int = 60) -> str:
    """*value*'s repr for a message, cut to *limit* characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
