"""Unit and property tests of ``pytest_experiments.collection``: grids, case ids,
declaration checks, secret masking and experiment-file patterns, plus one check
that ids are the same in two separate processes."""

from __future__ import annotations

import enum
import itertools
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments import ExperimentSpec, experiment
from pytest_experiments.collection import (
    MASK,
    declaration_for,
    expand_cases,
    format_value,
    is_experiment_function,
    is_secret_name,
    matches_any,
)
from pytest_experiments.conditions import DeclarationError, Tolerance

ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
ZERO = Tolerance(amount=0.0, relative=False)


class Model:
    """A value with a memory address in its repr."""


class Other:
    def __repr__(self) -> str:
        return f"<Other at {hex(id(self))}>"


class Colour(enum.IntEnum):
    RED = 1


class Mode(str, enum.Enum):
    FAST = "fast"


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


def test_numpy_float_is_shown_like_a_float() -> None:
    (case,) = expand_cases({"C": [np.float64(0.1)]})
    assert case.id == "C=0.1"
    assert case.display["C"] == 0.1
    assert type(case.display["C"]) is float
    assert format_value(np.float64(1e-3), 0) == format_value(1e-3, 0) == "0.001"


def test_str_enum_is_shown_as_its_text() -> None:
    (case,) = expand_cases({"mode": [Mode.FAST]})
    assert case.id == "mode=fast"
    assert case.display["mode"] == "fast"


def test_non_plain_values_are_named_by_type_and_position() -> None:
    grid = expand_cases({"model": [Model(), Model(), Other()], "k": [1]})
    assert [c.id for c in grid] == ["model=Model#0-k=1", "model=Model#1-k=1", "model=Other#2-k=1"]
    listed = expand_cases([{"k": 1}, {"k": 2, "est": Model()}, {"k": 3, "est": [1, 2]}])
    # In a list of cases the position is the case's index.
    assert [c.id for c in listed] == ["k=1", "k=2-est=Model#1", "k=3-est=list#2"]
    odd = ids({"v": [np.int64(5), Colour.RED, {"a": 1}, (1, 2), object(), len, lambda: 0]})
    assert odd == [
        "v=int64#0",
        "v=Colour#1",
        "v=dict#2",
        "v=tuple#3",
        "v=object#4",
        "v=builtin_function_or_method#5",
        "v=function#6",
    ]
    for case_id in odd:
        assert not ADDRESS.search(case_id)
        assert "0x" not in case_id


def test_display_values_are_json_friendly() -> None:
    (case,) = expand_cases([{"n": 3, "s": "x", "f": 0.5, "b": True, "z": None, "m": Model()}])
    assert dict(case.display) == {"n": 3, "s": "x", "f": 0.5, "b": True, "z": None, "m": "Model#0"}


def test_ids_are_deterministic_across_calls() -> None:
    def grid() -> dict[str, list[Any]]:
        return {"model": [Model(), Other()], "s": [frozenset({"b", "a"}), "x"], "n": [1, 2.0]}

    assert ids(grid()) == ids(grid())
    assert len(set(ids(grid()))) == 8


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
        ({"n": np.array([1, 2])}, "'n'"),
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
    for case in cases:
        assert case.id == f"{name}={MASK}-n=1"
        assert case.display[name] == MASK
    assert [c.values[name] for c in cases] == ["hunter2", "s3cr3t"]  # the function gets them
    listed = expand_cases([{name: "hunter2"}])
    assert "hunter2" not in listed[0].id and MASK in listed[0].id


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
    st.lists(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.builds(np.float64, st.floats(allow_nan=False)),
)


@given(column=st.lists(anything, min_size=1, max_size=6))
def test_any_value_property_no_addresses_and_stable(column: list[Any]) -> None:
    first = ids({"v": column})
    assert first == ids({"v": list(column)})
    for position, (value, case_id) in enumerate(zip(column, first, strict=True)):
        shown = case_id.removeprefix("v=")
        if value is None or isinstance(value, (bool, int, float, str)):
            if isinstance(value, float) and not isinstance(value, bool):
                assert float(shown) == value or (math.isnan(value) and shown == "nan")
            elif isinstance(value, str):
                assert shown == value
            else:
                assert shown == str(value)
        else:
            assert shown == f"{type(value).__name__}#{position}"
            assert not ADDRESS.search(case_id)


# ------------------------------------------------------------------ across processes

ODD_VALUES_FILE = """
from pytest_experiments import experiment

class Net:
    pass

@experiment(params={
    "model": [Net(), object(), frozenset({"a", "b", "c"}), {"x", "y"}],
    "lr": [0.1, 1e-05],
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
    assert len(outputs[0]) == 16
    assert "exp_001_odd.py::exp_odd[model=Net#0-lr=0.1-name=a]" in outputs[0]
    assert "exp_001_odd.py::exp_odd[model=set#3-lr=1e-05-name=b]" in outputs[0]
    assert not any(ADDRESS.search(line) for line in outputs[0])
