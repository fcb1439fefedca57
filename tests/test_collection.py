"""Unit and property tests of what experiment collection rests on: value ids
and secret masking (``ids``), grids (``grids``), declaration checks
(``declarations``), experiment-file patterns (``discovery``) and the collector
(``collection``), plus one check that ids are the same in two separate processes."""

from __future__ import annotations

import copy
import enum
import hashlib
import itertools
import json
import math
import os
import re
import subprocess
import sys
import unittest.mock
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _forked import runpytest_forked
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import loguniform, randint, uniform
from sklearn.model_selection import ParameterGrid, ParameterSampler

# Imported here, so that pytester's in-process runs keep them (it unloads the
# modules a run imports): baselines they read must be this Summary.
import pytest_experiments.stats  # noqa: F401
from pytest_experiments import ExperimentSpec, experiment
from pytest_experiments.collection import parametrize_values
from pytest_experiments.conditions import DeclarationError, Tolerance
from pytest_experiments.declarations import declaration_for
from pytest_experiments.discovery import CASE_MARK, is_experiment_function, matches_any
from pytest_experiments.grids import expand_cases
from pytest_experiments.ids import (
    ID_TEXT_LIMIT,
    describe_estimator,
    format_value,
    mask_secret,
    tracked_params,
)
from pytest_experiments.redaction import is_secret_name

ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
MASKED = re.compile(r"\*\*\*[0-9a-f]{8}")
ZERO = Tolerance(amount=0.0, relative=False)


class Model:
    """A value with a memory address in its repr."""


class Other:
    def __repr__(self) -> str:
        return f"<Other at {hex(id(self))}>"


class Slotted:
    """A value without a repr of its own or a ``__dict__``."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class NoRepr:
    """A value without a repr of its own, told apart by its attributes."""

    def __init__(self, size: int) -> None:
        self.size = size


class Colour(enum.IntEnum):
    RED = 1


class Mode(str, enum.Enum):
    FAST = "fast"


def sha8(text: str) -> str:
    """The contract's short hash: 8 hex digits of sha256."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def ids(params: object) -> list[str]:
    return [case.id for case in expand_cases(params)]


# ------------------------------------------------------------------ grids and lists


def test_grid_is_the_cartesian_product_in_declared_key_order() -> None:
    cases = expand_cases({"b": [1, 2, 3], "a": ["x", "y"]})
    assert [c.id for c in cases] == [
        "b=1-a=x",
        "b=1-a=y",
        "b=2-a=x",
        "b=2-a=y",
        "b=3-a=x",
        "b=3-a=y",
    ]
    assert all(list(c.values) == ["b", "a"] for c in cases)
    assert [tuple(c.values.values()) for c in cases] == list(
        itertools.product([1, 2, 3], ["x", "y"])
    )


def test_grid_columns_may_be_tuples_or_ranges() -> None:
    assert ids({"n": range(2), "m": (True, None)}) == [
        "n=0-m=True",
        "n=0-m=None",
        "n=1-m=True",
        "n=1-m=None",
    ]


def test_grid_columns_may_be_1d_numpy_arrays() -> None:
    # Literal values: the test must not hang on how NumPy's logspace rounds.
    alphas = np.array([0.001, 0.01, 0.1, 1.0, 10.0])
    cases = expand_cases({"alpha": alphas, "n": np.arange(2)})
    assert [c.id for c in cases][:4] == [
        "alpha=0.001-n=0",
        "alpha=0.001-n=1",
        "alpha=0.01-n=0",
        "alpha=0.01-n=1",
    ]
    assert len(cases) == 10
    assert cases[-1].id == "alpha=10.0-n=1"
    assert dict(cases[-1].display) == {"alpha": 10.0, "n": 1}
    assert [type(v) for v in cases[-1].display.values()] == [float, int]
    # The function receives the array's own elements.
    assert [type(v) for v in cases[-1].values.values()] == [np.float64, np.int64]
    (text,) = expand_cases({"s": np.array(["a b"])})
    assert text.id == "s=a b"


def test_explicit_list_of_cases_keeps_order_and_keys() -> None:
    cases = expand_cases([{"a": 1, "b": "x"}, {"b": "y", "a": 2}, {"a": 3}])
    assert [c.id for c in cases] == ["a=1-b=x", "b=y-a=2", "a=3"]
    assert [dict(c.values) for c in cases] == [{"a": 1, "b": "x"}, {"b": "y", "a": 2}, {"a": 3}]


def test_no_params_is_one_empty_case() -> None:
    (case,) = expand_cases(None)
    assert case.id == ""
    assert dict(case.values) == {}


def test_plain_values_in_ids() -> None:
    assert ids({"lr": [0.1, 1e-05, -2.5], "flag": [False]}) == [
        "lr=0.1-flag=False",
        "lr=1e-05-flag=False",
        "lr=-2.5-flag=False",
    ]
    assert ids({"n": [-3, 10**20]}) == ["n=-3", "n=100000000000000000000"]
    assert ids({"s": ["hello world", ""]}) == ["s=hello world", "s="]


def test_a_float_id_does_not_hang_on_its_last_bit() -> None:
    # 9.999999999999999e-06 is what NumPy 2.4's logspace(-5, -1, 2) gives for
    # 1e-05: a library upgrade must not turn a case (and its baseline key) new.
    (near,) = expand_cases({"lr": [9.999999999999999e-06]})
    assert near.id == "lr=1e-05"
    assert near.mark == {"lr": "1e-05"}
    assert near.display == {"lr": 9.999999999999999e-06}  # logged exactly
    assert ids({"x": [0.1 + 0.2, 100.0, 1e-300, -0.0, 123456789012.0]}) == [
        "x=0.3",
        "x=100.0",
        "x=1e-300",
        "x=-0.0",
        "x=123456789012.0",
    ]
    assert ids({"x": [float("nan"), float("inf"), -float("inf")]}) == [
        "x=nan",
        "x=inf",
        "x=-inf",
    ]


@given(
    st.integers(min_value=1, max_value=10**12 - 1),
    st.integers(min_value=-300, max_value=300),
)
def test_float_ids_are_twelve_digits_and_stable_under_one_ulp(digits: int, exponent: int) -> None:
    value = float(f"{digits}e{exponent}")
    if not math.isfinite(value) or value == 0.0:
        return
    text = format_value(value)
    assert text == repr(value)  # at most 12 significant digits: the id is today's
    for neighbour in (math.nextafter(value, math.inf), math.nextafter(value, -math.inf)):
        assert format_value(neighbour) == text
        assert format_value(np.float64(neighbour)) == text


def test_numpy_float_is_shown_like_a_float() -> None:
    (case,) = expand_cases({"C": [np.float64(0.1)]})
    assert case.id == "C=0.1"
    assert case.display["C"] == 0.1
    assert type(case.display["C"]) is float
    assert format_value(np.float64(1e-3)) == format_value(1e-3) == "0.001"


def test_numpy_scalars_are_shown_as_plain_python_values() -> None:
    (case,) = expand_cases([{"n": np.int64(5), "f": np.float32(0.5), "b": np.bool_(True)}])
    assert case.id == "n=5-f=0.5-b=True"
    assert dict(case.display) == {"n": 5, "f": 0.5, "b": True}
    assert [type(v) for v in case.display.values()] == [int, float, bool]
    assert [type(v) for v in case.values.values()] == [np.int64, np.float32, np.bool_]


def test_str_enum_is_shown_as_its_text() -> None:
    (case,) = expand_cases({"mode": [Mode.FAST]})
    assert case.id == "mode=fast"
    assert case.display["mode"] == "fast"


HASHED = re.compile(r"(?P<type>\w+)#(?P<hash>[0-9a-f]{8})")


def hashed(text: str) -> tuple[str, str]:
    """(type name, hash) of an id part such as ``Model#1a2b3c4d``."""
    match = HASHED.fullmatch(text)
    assert match is not None, text
    return match["type"], match["hash"]


def test_other_values_are_named_by_type_and_a_hash_of_their_repr() -> None:
    column = [Model(), Other(), np.int64(5), Colour.RED, {"a": 1}, (1, 2), object(), len]
    parts = [i.removeprefix("v=") for i in ids({"v": column})]
    assert parts[2] == "5"  # a NumPy integer is a plain number
    named = [hashed(p) for i, p in enumerate(parts) if i != 2]
    assert [t for t, _ in named] == [
        "Model",
        "Other",
        "Colour",
        "dict",
        "tuple",
        "object",
        "builtin_function_or_method",
    ]
    assert len({h for _, h in named}) == len(named)
    # Not by position: the same value has the same id wherever it stands,
    # and a fresh object (another address) is named like the first.
    again = ids({"v": [len, (1, 2), Other(), Model()]})
    assert again == [f"v={parts[i]}" for i in (7, 5, 1, 0)]
    listed = expand_cases([{"k": 1}, {"k": 2, "est": Model()}, {"k": 3, "est": [1, 2]}])
    assert [c.id for c in listed] == [
        "k=1",
        f"k=2-est={parts[0]}",
        f"k=3-est={format_value([1, 2])}",
    ]
    assert hashed(format_value([1, 2]))[0] == "list"
    for case_id in parts:
        assert not ADDRESS.search(case_id) and "0x" not in case_id


def test_values_that_differ_have_different_ids() -> None:
    values: list[Any] = [
        [1, 2],
        [2, 1],
        (1, 2),
        {1, 2},
        frozenset({1, 2}),
        {"a": 1},
        {"a": 2},
        [Model()],
        [[]],
    ]
    assert len({format_value(v) for v in values}) == len(values)
    assert format_value(NoRepr(3)) != format_value(NoRepr(4))  # no repr: by attributes
    assert format_value(NoRepr(3)) == format_value(NoRepr(3))
    assert format_value(Slotted(3)) != format_value(Slotted(4))
    assert format_value(Slotted(3)) == format_value(Slotted(3))
    assert format_value(np.arange(3)) != format_value(np.arange(1, 4))
    assert format_value(np.zeros(5000)) != format_value(np.eye(1, 5000, 2500)[0])


def test_display_values_are_json_friendly() -> None:
    (case,) = expand_cases([{"n": 3, "s": "x", "f": 0.5, "b": True, "z": None, "m": Model()}])
    assert dict(case.display) == {
        "n": 3,
        "s": "x",
        "f": 0.5,
        "b": True,
        "z": None,
        "m": format_value(Model()),
    }
    assert hashed(case.display["m"])[0] == "Model"


def test_ids_are_deterministic_across_calls() -> None:
    def grid() -> dict[str, list[Any]]:
        return {"model": [Model(), Other()], "s": [frozenset({"b", "a"}), "x"], "n": [1, 2.0]}

    assert ids(grid()) == ids(grid())
    assert len(set(ids(grid()))) == 8


# ------------------------------------------------------------------ estimators


class Estimator:
    """scikit-learn's estimator protocol (``get_params``), without scikit-learn."""

    def __init__(
        self, depth: int | None = None, rate: float = 0.1, kind: str = "gini", inner: Any = None
    ) -> None:
        self.depth = depth
        self.rate = rate
        self.kind = kind
        self.inner = inner

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"depth": self.depth, "inner": self.inner, "kind": self.kind, "rate": self.rate}


def test_estimator_is_named_by_class_and_changed_settings() -> None:
    assert format_value(Estimator()) == "Estimator()"
    assert format_value(Estimator(depth=3)) == "Estimator(depth=3)"
    assert (
        format_value(Estimator(kind="entropy", rate=0.5)) == "Estimator(kind='entropy', rate=0.5)"
    )
    assert format_value(Estimator(rate=np.float64(0.1))) == "Estimator()"  # the default value
    assert (
        format_value(Estimator(inner=Estimator(depth=2))) == "Estimator(inner=Estimator(depth=2))"
    )
    assert format_value(Estimator(inner=Other())) == "Estimator(inner=<Other>)"  # no address
    (case,) = expand_cases({"model": [Estimator(depth=3)]})
    assert case.id == "model=Estimator(depth=3)"
    assert case.display == {"model": "Estimator(depth=3)"}


def test_long_estimator_text_is_cut_and_ends_with_a_hash_of_the_whole() -> None:
    long = Estimator(kind="entropy", depth=12, inner=Estimator(depth=3, rate=0.25))
    other = Estimator(kind="entropy", depth=12, inner=Estimator(depth=3, rate=0.5))
    whole = describe_estimator(long)
    assert whole == "Estimator(depth=12, inner=Estimator(depth=3, rate=0.25), kind='entropy')"
    shown = format_value(long)
    assert len(shown) <= ID_TEXT_LIMIT
    head, _, digest = shown.rpartition("#")
    assert head.endswith("...") and whole.startswith(head.removesuffix("..."))
    assert digest == sha8(whole)
    assert format_value(other) != shown
    assert format_value(Estimator(depth=10**50)) != format_value(Estimator(depth=10**50 + 1))


def test_things_with_a_get_params_attribute_that_are_not_estimators() -> None:
    mock = unittest.mock.Mock()  # every attribute exists, get_params returns a Mock
    assert hashed(format_value(mock))[0] == "Mock"
    assert describe_estimator(Estimator) is None  # the class, not an estimator
    assert format_value(Estimator) == format_value(Estimator)
    assert hashed(format_value(Estimator))[0] == "type"


def test_sklearn_estimators_read_like_their_repr() -> None:
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    linear = pytest.importorskip("sklearn.linear_model")
    forest = sklearn_ensemble.RandomForestClassifier(max_depth=3)
    assert format_value(forest) == "RandomForestClassifier(max_depth=3)"
    assert format_value(sklearn_ensemble.RandomForestClassifier()) == "RandomForestClassifier()"
    bagging = sklearn_ensemble.BaggingClassifier(linear.LogisticRegression(C=0.5))
    assert describe_estimator(bagging) == " ".join(repr(bagging).split())


@given(
    c=st.floats(1e-6, 1e6),
    max_iter=st.integers(1, 10_000),
    tol=st.sampled_from([1e-4, 1e-3, 0.5]),
    fit_intercept=st.booleans(),
    solver=st.sampled_from(["lbfgs", "liblinear", "saga"]),
)
def test_sklearn_property_text_is_the_repr_of_changed_params(
    c: float, max_iter: int, tol: float, fit_intercept: bool, solver: str
) -> None:
    linear = pytest.importorskip("sklearn.linear_model")
    model = linear.LogisticRegression(
        C=c, max_iter=max_iter, tol=tol, fit_intercept=fit_intercept, solver=solver
    )
    assert describe_estimator(model) == " ".join(repr(model).split())


settings = st.fixed_dictionaries(
    {
        "depth": st.none() | st.integers(-5, 10**6),
        "rate": st.floats(allow_nan=False),
        "kind": st.text(max_size=30),
    }
)


@given(a=settings, b=settings, nested=st.booleans())
def test_estimator_property_different_settings_different_ids(
    a: dict[str, Any], b: dict[str, Any], nested: bool
) -> None:
    def build(setting: dict[str, Any]) -> Estimator:
        return Estimator(inner=Estimator(**setting)) if nested else Estimator(**setting)

    first, second = format_value(build(a)), format_value(build(b))
    assert first == format_value(build(dict(a)))  # deterministic
    whole = describe_estimator(build(a))
    assert whole is not None
    if len(whole) <= ID_TEXT_LIMIT:
        assert first == whole
    else:
        assert len(first) <= ID_TEXT_LIMIT and first.endswith(sha8(whole))
    same = all(repr(a[k]) == repr(b[k]) for k in a)
    assert (first == second) == same


# ------------------------------------------------------------------ marks, case lookup, tracking


def test_mark_carries_floats_as_their_id_text() -> None:
    values = {"alpha": 0.1, "f": np.float64(1e-05), "n": 2, "s": "x", "b": False, "z": None}
    (case,) = expand_cases([{**values, "m": Model()}])
    assert dict(case.mark) == {
        "alpha": "0.1",
        "f": "1e-05",
        "n": 2,
        "s": "x",
        "b": False,
        "z": None,
        "m": case.display["m"],
    }
    assert case.display["alpha"] == 0.1 and case.display["f"] == 1e-05
    assert case.id == "alpha=0.1-f=1e-05-n=2-s=x-b=False-z=None-m=" + case.display["m"]


def test_each_param_carries_its_case() -> None:
    @experiment(params={"alpha": [0.1, 1.0], "model": [Estimator(depth=3), Estimator()]})
    def exp_x(alpha: float, model: Estimator) -> dict[str, float]:
        return {}

    decl = declare(exp_x)
    entries = parametrize_values(decl)
    assert len(entries) == len(decl.cases) == 4
    for entry, case in zip(entries, decl.cases, strict=True):
        assert entry.id == case.id and list(entry.values) == [case.values[a] for a in decl.argnames]
        marks = {mark.name: mark for mark in entry.marks}
        assert set(marks) == {"params", CASE_MARK}
        assert marks[CASE_MARK].args == (case,) and not marks[CASE_MARK].kwargs
        assert marks["params"].kwargs == dict(case.mark) and not marks["params"].args
    found = decl.cases[2]
    assert found.values["alpha"] == 1.0 and found.values["model"].depth == 3
    assert dict(found.display) == {"alpha": 1.0, "model": "Estimator(depth=3)"}


class Client:
    """An estimator-like object (``get_params``) with a secret setting."""

    def __init__(self, api_token: str = "", timeout: int = 3, weights: Any = None) -> None:
        self.api_token = api_token
        self.timeout = timeout
        self.weights = weights

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"api_token": self.api_token, "timeout": self.timeout, "weights": self.weights}


def test_tracked_params_spell_out_estimator_settings() -> None:
    values = {
        "model": Estimator(depth=3, inner=Estimator(kind="x")),
        "alpha": np.float64(0.5),
        "n": 3,
        "api_key": "sk-123",
        "obj": Model(),
        "client": Client(api_token="tok-999", weights={0: 1, 1: Other()}),
    }
    (case,) = expand_cases([values])
    tracked = tracked_params(values)
    assert tracked == {
        "model": case.display["model"],
        "model.depth": 3,
        "model.inner": "Estimator(kind='x')",
        "model.kind": "gini",
        "model.rate": 0.1,
        "alpha": 0.5,
        "n": 3,
        "api_key": case.display["api_key"],
        "obj": case.display["obj"],
        "client": case.display["client"],
        "client.api_token": mask_secret("tok-999"),
        "client.timeout": 3,
        "client.weights": "{0: 1, 1: <Other>}",
    }
    assert {k: tracked[k] for k in values} == dict(case.display)
    assert tracked["model"].endswith(sha8("Estimator(depth=3, inner=Estimator(kind='x'))"))
    assert MASKED.fullmatch(tracked["api_key"])
    text = json.dumps(tracked)
    assert "sk-123" not in text and "tok-999" not in text
    # A secret setting of an estimator is masked in its id text too.
    assert "tok-999" not in case.id
    client = describe_estimator(values["client"])
    assert client == f"Client(api_token={mask_secret('tok-999')}, weights={{0: 1, 1: <Other>}})"


# ------------------------------------------------------------------ declaration errors


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"n": []}, "'n'"),
        ({"n": [1], "m": ()}, "'m'"),
        ({}, "empty"),
        ([], "empty"),
        ({"n": 5}, "'n'"),
        ({"n": "abc"}, "'n'"),
        ({"n": {1, 2}}, "'n'"),
        ({"n": {"a": 1}}, "'n'"),
        ({"n": np.array([[1, 2], [3, 4]])}, "params['n'] is a 2-d array of shape (2, 2)"),
        ({"n": np.array(5)}, "params['n'] is a 0-d array"),
        ({"n": (i for i in range(2))}, "'n'"),
        ({"n": None}, "'n'"),
        ([{"n": 1}, 2], "params[1]"),
        ([{"n": 1}, [("n", 2)]], "params[1]"),
        ([None], "params[0]"),
        ({1: [1]}, "1"),
        ({("a", "b"): [1]}, "('a', 'b')"),
        ({"": [1]}, "''"),
        ([{"n": 1}, {2: 3}], "2"),
        ("n=1", "'n=1'"),
        (5, "5"),
    ],
)
def test_malformed_params_are_declaration_errors(params: object, fragment: str) -> None:
    with pytest.raises(DeclarationError) as excinfo:
        expand_cases(params)
    assert fragment in str(excinfo.value)


def test_grid_value_error_names_the_type() -> None:
    with pytest.raises(DeclarationError, match=r"params\['n_estimators'\].*int: 100"):
        expand_cases({"n_estimators": 100})


def declare(func: Any, name: str = "exp_x") -> Any:
    return declaration_for(func, name, ZERO, None)


def test_unknown_key_names_the_key_and_the_signature() -> None:
    @experiment(params={"n": [1], "depth": [2]})
    def exp_x(n: int, data: object) -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError) as excinfo:
        declare(exp_x)
    message = str(excinfo.value)
    assert "'depth'" in message and "exp_x(n, data)" in message
    assert "'n'" not in message


def test_values_by_name_and_the_whole_dict() -> None:
    @experiment(params={"n": [1, 2], "extra": ["a"]})
    def exp_x(n: int, params: dict[str, Any], seed: int) -> dict[str, float]:
        return {}

    decl = declare(exp_x)
    assert decl.argnames == ("n", "params")
    assert [c.id for c in decl.cases] == ["n=1-extra=a", "n=2-extra=a"]


def test_cases_with_different_keys_need_params() -> None:
    @experiment(params=[{"a": 1}, {"b": 2}])
    def exp_by_name(a: int, b: int) -> dict[str, float]:
        return {}

    @experiment(params=[{"a": 1}, {"b": 2}])
    def exp_mixed(a: int, params: dict[str, Any]) -> dict[str, float]:
        return {}

    @experiment(params=[{"a": 1}, {"b": 2}])
    def exp_whole(params: dict[str, Any]) -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError, match=r"case 'a=1' gives no value for 'b'"):
        declare(exp_by_name)
    with pytest.raises(DeclarationError, match=r"case 'b=2' gives no value for 'a'"):
        declare(exp_mixed)
    assert declare(exp_whole).argnames == ("params",)


def test_several_empty_cases_are_an_error() -> None:
    @experiment(params=[{}, {}])
    def exp_x() -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError, match="2 cases"):
        declare(exp_x)


def test_expect_and_tolerance_errors_name_metric_and_text() -> None:
    @experiment(expect={"acc": "=> 0.8"})
    def exp_cond() -> dict[str, float]:
        return {}

    @experiment(tolerance={"acc": "abc"})
    def exp_tol() -> dict[str, float]:
        return {}

    @experiment(tolerance="-1")
    def exp_all() -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError, match=r"expect\['acc'\].*'=> 0\.8'"):
        declare(exp_cond)
    with pytest.raises(DeclarationError, match=r"tolerance\['acc'\].*'abc'"):
        declare(exp_tol)
    with pytest.raises(DeclarationError, match=r"'-1'"):
        declare(exp_all)


def test_every_problem_of_a_declaration_is_listed() -> None:
    @experiment(
        params={"n": [1], "k": 5, "m": []},
        expect={"acc": "=> 0.8", "f1": ">= 0.5", "auc": "high"},
        tolerance={"acc": "abc", "f1": 0.1},
        lower_is_better=("x", "y"),
        higher_is_better=("x", "y"),
        repeats=0,
    )
    def exp_x(n: int) -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError) as excinfo:
        declare(exp_x)
    lines = str(excinfo.value).splitlines()
    expected = [
        "params['k'] must be a list",
        "params['m'] is empty",
        "expect['acc']: malformed condition '=> 0.8'",
        "expect['auc']: malformed condition 'high'",
        "tolerance['acc']: ",
        "metric 'x' is in both",
        "metric 'y' is in both",
        "repeats=0 must be",
    ]
    assert len(lines) == len(expected), lines
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)

    @experiment(params={"n": [1], "depth": [3], "width": [4]}, tolerance="-1")
    def exp_y(n: int) -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError) as excinfo:
        declare(exp_y, "exp_y")
    lines = str(excinfo.value).splitlines()
    assert [line.split(" is not")[0] for line in lines[:2]] == ["param 'depth'", "param 'width'"]
    assert len(lines) == 3 and "'-1'" in lines[2]


def test_metric_in_both_direction_lists_is_an_error() -> None:
    @experiment(lower_is_better=("brier", "loss"), higher_is_better="brier")
    def exp_x() -> dict[str, float]:
        return {}

    with pytest.raises(DeclarationError, match="'brier'"):
        declare(exp_x)


def test_declaration_direction_tolerance_and_doc() -> None:
    @experiment(
        expect={"log_loss": ">= 0.1", "acc": ">= 0.5"},
        tolerance={"acc": "2%"},
        lower_is_better="brier",
    )
    def exp_x() -> dict[str, float]:
        """Does it work?"""
        return {}

    decl = declaration_for(exp_x, "exp_x", Tolerance(0.5, False), "Module doc.")
    assert decl.direction("log_loss") == "higher"  # expect's operator beats the name
    assert decl.direction("brier") == "lower"
    assert decl.direction("fit_time") == "lower"
    assert decl.tolerance("acc") == Tolerance(0.02, True)
    assert decl.tolerance("f1") == Tolerance(0.5, False)
    assert decl.doc == "Does it work?"

    @experiment(tolerance=0.01)
    def exp_y() -> dict[str, float]:
        return {}

    decl = declaration_for(exp_y, "exp_y", Tolerance(0.5, False), "  Module doc.\n")
    assert decl.tolerance("anything") == Tolerance(0.01, False)
    assert decl.doc == "Module doc."


def test_declaration_follows_the_tolerance_and_spec_it_is_asked_for() -> None:
    def exp_x() -> dict[str, float]:
        return {}

    first = declaration_for(exp_x, "exp_x", Tolerance(0.5, False), None)
    assert first.default_tolerance == Tolerance(0.5, False)
    assert declaration_for(exp_x, "exp_x", Tolerance(0.1, False), None).default_tolerance == (
        Tolerance(0.1, False)
    )
    experiment(tolerance="2%")(exp_x)  # declared again: the new spec counts
    assert declaration_for(exp_x, "exp_x", Tolerance(0.5, False), None).default_tolerance == (
        Tolerance(0.02, True)
    )
    assert declaration_for(exp_x, "exp_y", Tolerance(0.5, False), None).name == "exp_y"


def test_plain_exp_function_has_one_case() -> None:
    def exp_plain(seed: int) -> dict[str, float]:
        return {}

    decl = declare(exp_plain, "exp_plain")
    assert [c.id for c in decl.cases] == [""]
    assert decl.argnames == ()
    assert dict(decl.expect) == {}


# ------------------------------------------------------------------ decorator


def test_experiment_decorator_forms() -> None:
    @experiment
    def bare() -> None: ...

    @experiment(params={"n": [1]}, lower_is_better="brier", higher_is_better=["auc"])
    def full(n: int) -> None: ...

    assert bare.__pytest_experiment__ == ExperimentSpec()  # type: ignore[attr-defined]
    spec = full.__pytest_experiment__  # type: ignore[attr-defined]
    assert spec.lower_is_better == ("brier",)
    assert spec.higher_is_better == ("auc",)
    assert full(3) is None  # the function itself is unchanged


def test_experiment_with_a_positional_declaration_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"keywords.*@experiment\(params=\.\.\.\)"):
        experiment({"n": [1, 2]})  # type: ignore[call-overload]


def test_is_experiment_function() -> None:
    def exp_a() -> None: ...

    async def exp_b() -> None: ...

    @experiment
    def anything() -> None: ...

    def helper() -> None: ...

    class exp_class: ...

    assert is_experiment_function(exp_a, "exp_a")
    assert is_experiment_function(exp_b, "exp_b")
    assert is_experiment_function(anything, "anything")
    assert not is_experiment_function(helper, "helper")
    assert not is_experiment_function(exp_class, "exp_class")
    assert not is_experiment_function(3, "exp_three")


# ------------------------------------------------------------------ secrets


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "db_password",
        "dbPassword",
        "HF_TOKEN",
        "authToken",
        "api_key",
        "APIKey",
        "apikey",
        "aws_secret_access_key",
        "client-secret",
        "credentials",
        "passwd",
    ],
)
def test_secret_names_are_masked(name: str) -> None:
    assert is_secret_name(name)
    cases = expand_cases({name: ["hunter2", "s3cr3t"], "n": [1]})
    masks = []
    for case in cases:
        shown = case.display[name]
        assert MASKED.fullmatch(shown), shown
        assert case.id == f"{name}={shown}-n=1"
        assert case.mark[name] == shown
        masks.append(shown)
    assert masks[0] != masks[1]  # two secrets are two cases, two baseline entries
    assert [c.values[name] for c in cases] == ["hunter2", "s3cr3t"]  # the function gets them
    listed = expand_cases([{name: "hunter2"}])
    assert listed[0].id == f"{name}={masks[0]}"  # the same value, the same mask
    assert "hunter2" not in str(tracked_params(listed[0].values))


SECRET_NAMES = ("password", "api_key", "HF_TOKEN", "dbPassword", "client_secret")
# Letters that cannot occur in a mask (``***`` and lowercase hex) or a secret's name.
unguessable = st.text(alphabet="GJLMQRSUVWXYZ!%&+~", min_size=1, max_size=12)


@given(name=st.sampled_from(SECRET_NAMES), a=unguessable, b=unguessable)
def test_secret_property_never_shown(name: str, a: str, b: str) -> None:
    (first,) = expand_cases([{name: a, "n": 1}])
    (second,) = expand_cases([{name: b, "n": 1}])
    for case, value in ((first, a), (second, b)):
        where = [case.id, *map(str, case.display.values()), *map(str, case.mark.values())]
        where.append(json.dumps(tracked_params(case.values)))
        assert not any(value in text for text in where), (value, where)
    assert (first.id == second.id) == (a == b)


secret_values = st.one_of(
    st.text(max_size=8),
    st.integers(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
)


@given(name=st.sampled_from(SECRET_NAMES), a=secret_values, b=secret_values)
def test_secret_property_masks_never_collide(name: str, a: Any, b: Any) -> None:
    masks = [mask_secret(a), mask_secret(b)]
    assert all(MASKED.fullmatch(m) for m in masks)
    assert masks[0] == mask_secret(copy.deepcopy(a))
    assert (masks[0] == masks[1]) == (type(a) is type(b) and repr(a) == repr(b))
    grid = expand_cases({name: [a, b]}) if masks[0] != masks[1] else expand_cases({name: [a]})
    assert len({c.id for c in grid}) == len(grid)


@pytest.mark.parametrize(
    "name", ["tokenizer", "max_tokens", "n_estimators", "keyword", "api_version", "secretary"]
)
def test_ordinary_names_are_not_masked(name: str) -> None:
    assert not is_secret_name(name)
    assert ids({name: ["bert"]}) == [f"{name}=bert"]


# ------------------------------------------------------------------ file patterns


def test_matches_any_like_python_files() -> None:
    path = Path("/repo/experiments/exp_001_rf.py")
    assert matches_any(path, ["exp_*.py"])
    assert matches_any(path, ["test_*.py", "exp_*.py"])
    assert not matches_any(path, ["test_*.py"])
    assert not matches_any(path, [])
    assert not matches_any(Path("/repo/experiments/my_exp_001.py"), ["exp_*.py"])
    # A pattern with a separator matches whole trailing parts of the path.
    assert matches_any(path, ["experiments/exp_*.py"])
    assert matches_any(path, ["experiments\\exp_*.py"])
    assert matches_any(path, ["/repo/experiments/*.py"])
    assert not matches_any(Path("/repo/myexperiments/exp_001.py"), ["experiments/exp_*.py"])
    assert not matches_any(Path("/repo/other/exp_001.py"), ["experiments/exp_*.py"])


# ------------------------------------------------------------------ properties

# Key alphabet without the letters of any secret word, so nothing is masked.
keys = st.text(alphabet="abcdfghijlm", min_size=1, max_size=5)
int_column = st.lists(st.integers(-1000, 1000), min_size=1, max_size=3, unique=True)
str_column = st.lists(
    st.text(alphabet="xyzXYZ019 _", min_size=1, max_size=4), min_size=1, max_size=3, unique=True
)
grids = st.dictionaries(keys, st.one_of(int_column, str_column), min_size=1, max_size=4)


@given(grid=grids)
def test_grid_property_product_order_and_unique_ids(grid: dict[str, list[Any]]) -> None:
    cases = expand_cases(grid)
    assert len(cases) == math.prod(len(column) for column in grid.values())
    combos = Counter(tuple(c.values[k] for k in grid) for c in cases)
    assert set(combos) == set(itertools.product(*grid.values()))
    assert set(combos.values()) == {1}
    for case in cases:
        assert list(case.values) == list(grid)
        assert case.id == "-".join(f"{k}={v}" for k, v in case.values.items())
    assert len({c.id for c in cases}) == len(cases)
    assert [c.id for c in expand_cases(grid)] == [c.id for c in cases]


plain = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), st.text(max_size=5)
)
anything = st.one_of(
    plain,
    st.builds(object),
    st.builds(Model),
    st.builds(Other),
    st.builds(NoRepr, st.integers()),
    st.builds(Estimator, depth=st.none() | st.integers(0, 5), inner=st.builds(Other)),
    st.lists(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.builds(np.float64, st.floats(allow_nan=False)),
)


@given(column=st.lists(anything, min_size=1, max_size=6))
def test_any_value_property_no_addresses_and_stable(column: list[Any]) -> None:
    first = ids({"v": column})
    assert first == ids({"v": list(column)})
    assert first == ids({"v": copy.deepcopy(column)})  # new objects, new addresses
    assert first == [ids({"v": [value]})[0] for value in column]  # not by position
    for value, case_id in zip(column, first, strict=True):
        shown = case_id.removeprefix("v=")
        assert not ADDRESS.search(case_id)
        tracked = tracked_params({"v": value})
        assert tracked["v"] == expand_cases([{"v": value}])[0].display["v"]
        assert not ADDRESS.search(json.dumps(tracked))  # JSON-friendly, no addresses
        if value is None or isinstance(value, (bool, int, float, str)):
            if isinstance(value, float) and not isinstance(value, bool):
                # Python's repr of the value rounded to 12 significant digits
                assert shown == repr(float(f"{value:.12g}"))
                assert math.isclose(float(shown), value, rel_tol=1e-11)
            elif isinstance(value, str):
                assert shown == value
            else:
                assert shown == str(value)
        elif isinstance(value, Estimator):
            assert shown == describe_estimator(value)
        else:
            assert hashed(shown)[0] == type(value).__name__


# ------------------------------------------------------------------ in real pytest runs


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    """Node ids printed by ``--collect-only -q``."""
    result = pytester.runpytest("--exp-no-tracking", "--collect-only", "-q", *args)
    return [line for line in result.outlines if "::" in line]


NUMPY_GRID = """
import numpy as np
from pytest_experiments import experiment


@experiment(params={"alpha": np.logspace(-3, 1, 5), "n": range(1, 3)})
def exp_ridge(alpha, n):
    assert type(alpha) is np.float64 and type(n) is int
    return {"score": float(alpha) * n}


@experiment(params=[{"lr": 0.5, "deep": True}, {"lr": 2.5, "deep": False}])
def exp_listed(lr, deep):
    return {"score": lr}
"""

ALPHAS = ("0.001", "0.01", "0.1", "1.0", "10.0")
RIDGE = [f"exp_001_grid.py::exp_ridge[alpha={a}-n={n}]" for a in ALPHAS for n in (1, 2)]
LISTED = [
    "exp_001_grid.py::exp_listed[lr=0.5-deep=True]",
    "exp_001_grid.py::exp_listed[lr=2.5-deep=False]",
]


def test_numpy_array_and_range_columns_run(project: pytest.Pytester) -> None:
    project.makepyfile(exp_001_grid=NUMPY_GRID)
    assert collected(project) == RIDGE + LISTED
    result = project.runpytest("--exp-no-tracking", "-p", "no:xdist")
    result.assert_outcomes(passed=12)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("params(alpha='0.1')", RIDGE[4:6]),
        ("params(alpha='0.1', n=2)", RIDGE[5:6]),
        ("params(alpha='10.0') or params(lr='2.5')", [*RIDGE[8:], LISTED[1]]),
        ("params(n=2)", RIDGE[1::2]),
        ("params(deep=True)", LISTED[:1]),
        ("params(alpha=0)", []),
        ("not params(lr='0.5')", RIDGE + LISTED[1:]),
    ],
)
def test_floats_are_selected_by_their_text(
    project: pytest.Pytester, expression: str, expected: list[str]
) -> None:
    project.makepyfile(exp_001_grid=NUMPY_GRID)
    assert collected(project, "-m", expression) == expected


def test_a_2d_array_is_a_collection_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        exp_001_bad="""
        import numpy as np
        from pytest_experiments import experiment

        @experiment(params={"x": np.ones((2, 3))})
        def exp_matrix(x):
            return {"score": 1.0}
        """
    )
    result = project.runpytest("--exp-no-tracking", "-p", "no:xdist")
    result.assert_outcomes(errors=1)
    expected = "exp_001_bad.py::exp_matrix: params['x'] is a 2-d array of shape (2, 3): "
    assert any(line.startswith(expected) for line in result.outlines), result.outlines


ESTIMATORS = """
from pytest_experiments import experiment


class Forest:
    def __init__(self, n_estimators=100, max_depth=None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth

    def get_params(self, deep=True):
        return {"max_depth": self.max_depth, "n_estimators": self.n_estimators}


@experiment(params={"model": [Forest(), Forest(max_depth=DEPTH), Forest(n_estimators=10**40)]})
def exp_forest(model):
    return {"accuracy": 0.9}
"""


def test_estimator_settings_name_the_case_and_its_baseline_entry(project: pytest.Pytester) -> None:
    project.makepyfile(exp_001_forest=ESTIMATORS.replace("DEPTH", "3"))
    prefix = "exp_001_forest.py::exp_forest[model="
    ids = collected(project)
    assert ids[:2] == [f"{prefix}Forest()]", f"{prefix}Forest(max_depth=3)]"]
    whole = f"Forest(n_estimators={10**40})"
    assert ids[2] == f"{prefix}{whole[:28]}...#{sha8(whole)}]"
    args = ("--exp-no-tracking", "-p", "no:xdist", "--exp-json", "r.json")
    project.runpytest(*args, "--exp-update-baseline").assert_outcomes(passed=3)

    # Another size too: pytest's cache of the rewritten module is keyed by the
    # file's size and whole-second mtime, and both runs fit in one second.
    project.makepyfile(exp_001_forest=ESTIMATORS.replace("DEPTH", "10"))
    result = project.runpytest(*args)
    result.assert_outcomes(passed=3)
    outcomes = {
        r["case_id"]: r["outcome"]
        for r in json.loads((project.path / "r.json").read_text())["results"]
    }
    assert outcomes == {
        "exp_forest[model=Forest()]": "passed",
        "exp_forest[model=Forest(max_depth=10)]": "new",  # new settings, no baseline entry
        ids[2].split("::")[1]: "passed",
    }


CASE_LOOKUP_CONFTEST = """
import json

from pytest_experiments.collection import case_of
from pytest_experiments.conditions import Tolerance
from pytest_experiments.declarations import declaration_for


def pytest_collection_modifyitems(config, items):
    found = {}
    for item in items:
        decl = declaration_for(item.function, item.originalname, Tolerance(0.0, False), None)
        case = case_of(item, decl)
        for arg in decl.argnames:
            assert case.values[arg] is item.callspec.params[arg], (item.name, arg)
        found[item.name] = [i for i, c in enumerate(decl.cases) if c is case]
    config.rootpath.joinpath("found.json").write_text(json.dumps(found))
"""

CASE_LOOKUP = """
import pytest

from pytest_experiments import experiment


class Box:
    def __init__(self, size):
        self.size = size

    def __repr__(self):
        return f"Box({self.size})"


@experiment(params={"box": [Box(1), Box(1), Box(2)], "word": ["café", "x"]})
def exp_boxes(box, word):
    return {"size": box.size}


@pytest.mark.parametrize("extra", [1, 2])
@experiment(params={"n": [1, 2]})
def exp_more(n, extra):
    return {"n": n}


@pytest.mark.parametrize("extra", [1, 2])
def exp_plain(extra):
    return {"extra": extra}
"""


def test_case_of_finds_every_collected_case(project: pytest.Pytester) -> None:
    """From the mark each case's param carries, also where pytest changes an
    id: escapes non-ASCII text, tells apart cases whose values look the same,
    adds its own parametrization."""
    project.makeconftest(CASE_LOOKUP_CONFTEST)
    project.makepyfile(exp_001_lookup=CASE_LOOKUP)
    result = project.runpytest("--exp-no-tracking", "--collect-only", "-q", "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    found = json.loads((project.path / "found.json").read_text())
    names = [line.split("::")[1] for line in result.outlines if "::" in line]
    assert list(found) == names and len(names) == 12
    assert [found[n] for n in names[:6]] == [[i] for i in range(6)]  # exp_boxes, in order
    assert len({n for n in names[:6]}) == 6 and "\\xe9" in names[0]
    assert [found[n] for n in names[6:10]] == [[0], [0], [1], [1]]  # exp_more[n=1-1] ...
    assert [found[n] for n in names[10:]] == [[0], [0]]


BAD_FILE = """
from pytest_experiments import experiment


def exp_fine():
    return {"acc": 1.0}


@experiment(params={"n": [1], "depth": [3]})
def exp_unknown_key(n):
    return {"acc": 1.0}


@experiment(params={"n": 100})
def exp_not_a_list(n):
    return {"acc": 1.0}


@experiment(expect={"acc": "=> 0.8"}, tolerance={"acc": "abc"})
def exp_two_problems():
    return {"acc": 1.0}
"""


@pytest.mark.parametrize("mode", ["no-xdist", "xdist"])
def test_every_bad_declaration_in_a_file_is_reported(project: pytest.Pytester, mode: str) -> None:
    project.makepyfile(exp_001_bad=BAD_FILE)
    if mode == "xdist":
        result = runpytest_forked(project, "--exp-no-tracking", "-n", "2")
    else:
        result = project.runpytest("--exp-no-tracking", "-p", "no:xdist")
    assert result.ret != pytest.ExitCode.OK
    result.assert_outcomes(errors=1)
    output = result.stdout.str() + result.stderr.str()
    # The errors section (with CI set, pytest repeats the whole message in
    # its short summary too).
    lines = result.outlines
    summary = next((i for i, line in enumerate(lines) if "short test summary" in line), len(lines))
    problems = [line for line in lines[:summary] if line.startswith("exp_001_bad.py::")]
    expected = [
        "exp_001_bad.py::exp_unknown_key: param 'depth' is not an argument of exp_unknown_key(n);",
        "exp_001_bad.py::exp_not_a_list: params['n'] must be a list of values (a grid column), "
        "got int: 100",
        "exp_001_bad.py::exp_two_problems: expect['acc']: malformed condition '=> 0.8':",
        "exp_001_bad.py::exp_two_problems: tolerance['acc']: malformed tolerance 'abc':",
    ]
    assert len(problems) == len(expected), problems
    for line, start in zip(problems, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "Traceback" not in output
    assert "src/pytest_experiments" not in output and "_pytest" not in output
    assert not re.search(r"\.py:\d+", output)  # no file:line of a traceback


# ------------------------------------------------------------------ across processes

ODD_VALUES_FILE = """
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from pytest_experiments import experiment

class Net:
    pass

@experiment(params={
    "model": [
        Net(),
        object(),
        frozenset({"a", "b", "c"}),
        {"x", "y"},
        RandomForestClassifier(max_depth=3),
        RandomForestClassifier(criterion="entropy", class_weight={"a": {"x", "y", "z"}}),
    ],
    "lr": np.array([9.999999999999999e-06, 0.1]),
    "name": ["a", "b"],
})
def exp_odd(model, lr, name):
    return {"acc": 1.0}
"""


def test_ids_identical_in_separate_processes(project: pytest.Pytester) -> None:
    project.makepyfile(exp_001_odd=ODD_VALUES_FILE)
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        env.pop("PYTEST_ADDOPTS", None)
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "--exp-no-tracking"],
            cwd=project.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        outputs.append([line for line in completed.stdout.splitlines() if "::" in line])
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) == len(outputs[0]) == 24
    assert not any(ADDRESS.search(line) for line in outputs[0])
    prefix = "exp_001_odd.py::exp_odd[model="
    assert f"{prefix}RandomForestClassifier(max_depth=3)-lr=1e-05-name=a]" in outputs[0]
    models = list(dict.fromkeys(line[len(prefix) :].split("-lr=")[0] for line in outputs[0]))
    assert [hashed(m)[0] for m in models[:4]] == ["Net", "object", "frozenset", "set"]
    assert models[4] == "RandomForestClassifier(max_depth=3)"
    long = models[5]
    assert long.startswith("RandomForestClassifier(class")
    assert len(long) <= ID_TEXT_LIMIT and re.search(r"\.\.\.#[0-9a-f]{8}$", long)
    assert {line.split("-lr=")[1] for line in outputs[0]} == {
        "1e-05-name=a]",
        "1e-05-name=b]",
        "0.1-name=a]",
        "0.1-name=b]",
    }


# ---------------------------------------------- scikit-learn search spaces (issue 28)


@given(
    seed=st.integers(0, 2**32 - 1),
    n_iter=st.integers(1, 8),
    low=st.floats(1e-8, 1.0),
    width=st.floats(1e-3, 1e3),
)
def test_sampled_floats_get_twelve_digit_ids_and_exact_logged_values(
    seed: int, n_iter: int, low: float, width: float
) -> None:
    space = {"alpha": loguniform(low, low * (1 + width)), "depth": randint(1, 9), "k": ["a", "b"]}
    drawn = list(ParameterSampler(space, n_iter=n_iter, random_state=seed))
    cases = expand_cases(ParameterSampler(space, n_iter=n_iter, random_state=seed))
    again = expand_cases(ParameterSampler(space, n_iter=n_iter, random_state=seed))
    assert [c.id for c in cases] == [c.id for c in again]
    assert len(cases) == n_iter
    for case, values in zip(cases, drawn, strict=True):
        alpha = float(values["alpha"])
        assert tracked_params(case.values)["alpha"] == alpha  # the exact value
        assert case.display == {"alpha": alpha, "depth": int(values["depth"]), "k": values["k"]}
        fields = re.fullmatch(r"alpha=(.+)-depth=(\d+)-k=(\w+)", case.id)
        assert fields is not None, case.id
        text, depth, k = fields.groups()
        assert float(text) == float(f"{alpha:.12g}")
        assert len(text.replace(".", "").split("e")[0].strip("0")) <= 12
        assert depth == str(values["depth"]) and k == values["k"]


def test_a_parameter_grid_is_an_explicit_list_of_cases() -> None:
    grid = ParameterGrid([{"kernel": ["rbf"], "C": [1, 10]}, {"kernel": ["linear"], "C": [1]}])
    cases = expand_cases(grid)
    assert [dict(c.values) for c in cases] == list(grid)
    assert [c.id for c in cases] == [
        "C=" + str(v["C"]) + "-kernel=" + v["kernel"] for v in list(grid)
    ]


def test_a_sampler_without_a_fixed_seed_is_a_declaration_error() -> None:
    for state in (None, np.random.RandomState(0), 1.5):
        with pytest.raises(DeclarationError, match=r"random_state=.*ParameterSampler\(\.\.\., "):
            expand_cases(ParameterSampler({"a": uniform()}, n_iter=2, random_state=state))
    assert len(expand_cases(ParameterSampler({"a": uniform()}, 2, random_state=np.int64(3)))) == 2


SEARCH_FILE = """
from scipy.stats import loguniform, randint
from sklearn.model_selection import ParameterGrid, ParameterSampler

from pytest_experiments import experiment


@experiment(
    params=ParameterSampler(
        {"alpha": loguniform(1e-4, 1e-1), "depth": randint(1, 6)}, n_iter=4, random_state=7
    )
)
def exp_sampled(alpha, depth):
    return {"score": alpha * depth}


@experiment(params=ParameterGrid({"C": [0.1, 1.0], "kernel": ["rbf", "linear"]}))
def exp_grid(params):
    return {"score": params["C"]}
"""

UNSEEDED_FILE = """
from scipy.stats import uniform
from sklearn.model_selection import ParameterSampler

from pytest_experiments import experiment


@experiment(params=ParameterSampler({"a": uniform()}, n_iter=3))
def exp_unseeded(a):
    return {"score": a}
"""


def test_search_spaces_run_under_xdist_with_exact_values_logged(
    project: pytest.Pytester, template: Path
) -> None:
    """Every worker collects the same sampled cases (xdist refuses to run
    otherwise); each case's run logs the exact values its id abbreviates."""
    from _runs import sqlite_uri
    from _server import copy_store, runs_by_name

    project.makepyfile(exp_search=SEARCH_FILE)
    uri = sqlite_uri(copy_store(template, project.path / "store.db"))
    result = runpytest_forked(project, "-n", "2", "--exp-tracking-uri", uri, timeout=300)
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.assert_outcomes(passed=8)
    runs = runs_by_name(uri, "exp_search")
    sampled = {name: run for name, run in runs.items() if name.startswith("exp_sampled[")}
    assert len(sampled) == 4
    for name, run in sampled.items():
        alpha = float(run.data.params["alpha"])
        depth = int(run.data.params["depth"])
        assert 1e-4 <= alpha <= 1e-1 and 1 <= depth <= 5
        assert name == f"exp_sampled[alpha={float(f'{alpha:.12g}')!r}-depth={depth}]"
        assert run.data.metrics["score"] == alpha * depth
    grid = {name for name in runs if name.startswith("exp_grid[")}
    assert grid == {f"exp_grid[C={c}-kernel={k}]" for c in (0.1, 1.0) for k in ("rbf", "linear")}


@pytest.mark.parametrize("mode", ["no-xdist", "xdist"])
def test_an_unseeded_sampler_is_a_collection_error(project: pytest.Pytester, mode: str) -> None:
    project.makepyfile(exp_unseeded=UNSEEDED_FILE)
    if mode == "xdist":
        result = runpytest_forked(project, "--exp-no-tracking", "-n", "2")
    else:
        result = runpytest_forked(project, "--exp-no-tracking", "-p", "no:xdist")
    result.assert_outcomes(errors=1)
    output = result.stdout.str() + result.stderr.str()
    assert (
        "exp_unseeded.py::exp_unseeded: params is a ParameterSampler with random_state=None"
        in output
    )
    assert "ParameterSampler(..., random_state=0)" in output
    assert "Traceback" not in output and "src/pytest_experiments" not in output
