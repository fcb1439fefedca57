"""End-to-end tests of experiment files: collection, ids, selection, declaration
errors, the returned metrics, async experiments, seeding and the fixtures.

Every test drives a real pytest run in a user project made by ``pytester``,
with its own ``conftest.py``. Tracking is off (``--exp-no-tracking``) because
these tests are about what pytest does with experiments; the key scenarios run
in three modes: plain pytest, ``-n 2`` (in a subprocess) and ``-p no:xdist``.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import numpy as np
import pytest
from _forked import runpytest_forked

MODES = ("plain", "xdist", "no-xdist")

CONFTEST = '''
import random

import pytest


@pytest.fixture(scope="session")
def data():
    """The project's data, built once per process."""
    random.random()  # draws from the global RNG, as data loading code may
    return {"x": [1.0, 2.0, 3.0, 4.0]}
'''

STUDY = '''
"""A tiny study."""
from pytest_experiments import experiment


@experiment(params={"n": [1, 2, 3], "mode": ["a", "b"]}, expect={"score": ">= 1"})
def exp_grid(n, mode, data, seed):
    assert type(n) is int and mode in ("a", "b")
    return {"score": sum(data["x"][:n]) + (0.5 if mode == "b" else 0.0)}


@experiment(params=[{"depth": 2, "kind": "tree"}, {"depth": 5, "kind": "forest"}])
def exp_cases(depth, params):
    assert params == {"depth": depth, "kind": params["kind"]}
    return {"depth": depth, "n_keys": len(params), "forest": float(params["kind"] == "forest")}


def exp_plain(data):
    return {"rows": len(data["x"])}


def helper_not_collected():
    raise AssertionError("helpers are not experiments")


def test_regular_test_in_an_experiment_file():
    assert helper_not_collected is not None
'''

GRID_IDS = [
    f"exp_001_study.py::exp_grid[n={n}-mode={mode}]" for n in (1, 2, 3) for mode in ("a", "b")
]
CASE_IDS = [
    "exp_001_study.py::exp_cases[depth=2-kind=tree]",
    "exp_001_study.py::exp_cases[depth=5-kind=forest]",
]
ALL_IDS = [
    *GRID_IDS,
    *CASE_IDS,
    "exp_001_study.py::exp_plain",
    "exp_001_study.py::test_regular_test_in_an_experiment_file",
]


@pytest.fixture
def study(project: pytest.Pytester) -> pytest.Pytester:
    project.makeconftest(CONFTEST)
    project.makepyfile(exp_001_study=STUDY)
    return project


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(pytester: pytest.Pytester, mode: str, *args: str) -> pytest.RunResult:
    """Run pytest in the user project, tracking off, in one of the three modes."""
    base = ("--exp-no-tracking", "-rA", *args)
    if mode == "xdist":
        return runpytest_forked(pytester, "-n", "2", *base)
    if mode == "no-xdist":
        return pytester.runpytest("-p", "no:xdist", *base)
    return pytester.runpytest(*base)


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    """Node ids printed by ``--collect-only -q``."""
    result = pytester.runpytest("--exp-no-tracking", "--collect-only", "-q", *args)
    return [line for line in result.outlines if "::" in line]


def results_json(pytester: pytest.Pytester, name: str = "results.json") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((pytester.path / name).read_text())
    return {r["case_id"]: r for r in document["results"]}


def summary(result: pytest.RunResult) -> dict[str, str]:
    """Node id -> outcome word from the ``-rA`` short test summary."""
    outcomes: dict[str, str] = {}
    for line in result.outlines:
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR") and "::" in rest:
            outcomes[rest.split(" - ")[0]] = word
    return outcomes


# ------------------------------------------------------------------ collection and ids


def test_collect_only_shows_documented_ids(study: pytest.Pytester) -> None:
    assert collected(study) == ALL_IDS


def test_study_runs_with_values_by_name_and_whole_dict(study: pytest.Pytester, mode: str) -> None:
    result = run(study, mode, "--exp-json", "results.json")
    result.assert_outcomes(passed=len(ALL_IDS))
    assert result.ret == 0
    assert summary(result) == dict.fromkeys(ALL_IDS, "PASSED")
    cases = results_json(study)
    # The regular test is a test, not an experiment: it has no result.
    assert sorted(cases) == sorted(i.split("::")[1] for i in ALL_IDS[:-1])
    assert cases["exp_grid[n=2-mode=b]"]["metrics"] == {"score": 3.5}
    assert cases["exp_grid[n=3-mode=a]"]["metrics"] == {"score": 6.0}
    assert cases["exp_grid[n=1-mode=a]"]["params"] == {"n": 1, "mode": "a"}
    assert cases["exp_cases[depth=5-kind=forest]"]["metrics"] == {
        "depth": 5.0,
        "n_keys": 2.0,
        "forest": 1.0,
    }
    assert cases["exp_plain"]["metrics"] == {"rows": 4.0}
    assert cases["exp_plain"]["params"] == {}
    assert {c["outcome"] for c in cases.values()} == {"new"}
    assert cases["exp_grid[n=1-mode=a]"]["doc"] == "A tiny study."


def test_unparametrised_experiment_takes_fixtures_only(project: pytest.Pytester) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(
        exp_001_plain="""
        def exp_uses_fixtures(data, seed, tmp_path):
            assert tmp_path.is_dir()
            return {"rows": len(data["x"]), "seed": seed}
        """
    )
    result = project.runpytest("--exp-no-tracking", "-rA", "--exp-json", "r.json")
    result.assert_outcomes(passed=1)
    assert summary(result) == {"exp_001_plain.py::exp_uses_fixtures": "PASSED"}
    assert results_json(project, "r.json")["exp_uses_fixtures"]["metrics"] == {
        "rows": 4.0,
        "seed": 42.0,
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-k", "exp_cases or exp_plain"), [*CASE_IDS, ALL_IDS[-2]]),
        (("-k", "not exp_grid and not regular"), [*CASE_IDS, ALL_IDS[-2]]),
        (("-m", "params(n=2)"), GRID_IDS[2:4]),
        (("-m", "params(n=2, mode='b')"), GRID_IDS[3:4]),
        (("-m", "params(mode='a')"), GRID_IDS[0::2]),
        (("-m", "params(kind='forest')"), CASE_IDS[1:]),
        (("-m", "params(depth=2) or params(n=3)"), [*GRID_IDS[4:], CASE_IDS[0]]),
        (("-m", "params"), GRID_IDS + CASE_IDS),
        (("-m", "not params"), ALL_IDS[-2:]),
    ],
)
def test_selection_is_precise(
    study: pytest.Pytester, args: tuple[str, ...], expected: list[str]
) -> None:
    assert collected(study, *args) == expected


SAME_IDS = """
import pytest

from pytest_experiments import experiment

# 0.1 + 1e-15 has the id of 0.1 (12 significant digits): pytest adds counters
# to the ids, and the results' params (exact floats) tell the cases apart.
@pytest.mark.parametrize("extra", ["x", "y"])
@experiment(params={"alpha": [0.1, 0.1 + 1e-15], "word": ["café", "naïve"]})
def exp_same(alpha, word, extra):
    return {"alpha": alpha, "cafe": float(word == "café")}
"""


def test_each_case_runs_with_its_own_params_whatever_its_id(
    project: pytest.Pytester, mode: str
) -> None:
    """Cases whose ids are the same, with non-ASCII text and the project's own
    ``parametrize`` stacked on: each result names the case that ran."""
    project.makepyfile(exp_001_same=SAME_IDS)
    result = run(project, mode, "--strict-markers", "--exp-json", "r.json")
    result.assert_outcomes(passed=8)
    cases = results_json(project, "r.json")
    assert len(cases) == 8 and all("caf\\xe9" in i or "na\\xefve" in i for i in cases), cases
    seen = []
    for case_id, case in cases.items():
        params, metrics = case["params"], case["metrics"]
        assert params["alpha"] == metrics["alpha"], case_id
        assert params["word"] == ("café" if metrics["cafe"] else "naïve"), case_id
        seen.append((params["alpha"], params["word"]))
    assert sorted(seen) == sorted(
        [(a, w) for a in (0.1, 0.1 + 1e-15) for w in ("café", "naïve")] * 2
    )


# ------------------------------------------------------------------ never collected twice


@pytest.mark.parametrize(
    ("ini", "args"),
    [
        ("", ()),
        ("python_files = exp_*.py test_*.py", ()),
        ("python_files = exp_*.py", ()),
        ("", ("exp_001_study.py",)),
        ("python_files = exp_*.py test_*.py", ("exp_001_study.py",)),
        ("python_files = *.py", ("exp_001_study.py", ".")),
        ("", ("exp_001_study.py::exp_grid",)),
    ],
)
def test_file_is_never_collected_twice(
    study: pytest.Pytester, ini: str, args: tuple[str, ...]
) -> None:
    study.makeini(f"[pytest]\n{ini}\n")
    expected = GRID_IDS if args and args[0].endswith("::exp_grid") else ALL_IDS
    assert collected(study, *args) == expected


def test_experiment_files_ini_with_a_folder_pattern(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nexperiment_files = experiments/exp_*.py\n")
    project.mkdir("experiments")
    project.mkdir("other")
    body = "def exp_one():\n    return {'a': 1}\n"
    project.path.joinpath("experiments", "exp_001_a.py").write_text(body)
    project.path.joinpath("other", "exp_002_b.py").write_text(body)
    project.path.joinpath("experiments", "run_003_c.py").write_text(body)
    assert collected(project) == ["experiments/exp_001_a.py::exp_one"]


def test_imported_experiments_belong_to_their_own_file(project: pytest.Pytester) -> None:
    project.makepyfile(
        exp_001_base="""
        def exp_base():
            return {"a": 1}
        """,
        exp_002_reuse="""
        from exp_001_base import exp_base

        def exp_reuse():
            return {"a": exp_base()["a"] + 1}
        """,
    )
    assert collected(project) == ["exp_001_base.py::exp_base", "exp_002_reuse.py::exp_reuse"]


# ------------------------------------------------------------------ declaration errors

BAD_DECLARATIONS = [
    # (decorator arguments, signature, text the message must contain)
    ('params={"n": [1], "depth": [3]}', "n", "'depth'"),
    ('params={"n": []}', "n", "'n'"),
    ('params={"n": 100}', "n", "'n'"),
    ("params={}", "n", "empty"),
    ('params=[{"n": 1}, 2]', "n", "params[1]"),
    ('expect={"acc": "=> 0.8"}', "", "'=> 0.8'"),
    ('expect={"acc": ">= abc"}', "", "'>= abc'"),
    ('expect={"acc": 0.8}', "", "0.8"),
    ('tolerance={"acc": "abc"}', "", "'abc'"),
    ('tolerance="-2%"', "", "'-2%'"),
]


@pytest.mark.parametrize(("decl", "signature", "text"), BAD_DECLARATIONS)
def test_declaration_errors_are_clean_collection_errors(
    project: pytest.Pytester, decl: str, signature: str, text: str
) -> None:
    project.makepyfile(
        exp_001_bad=f"""
        from pytest_experiments import experiment

        def exp_fine():
            return {{"acc": 1.0}}

        @experiment({decl})
        def exp_broken({signature}):
            return {{"acc": 1.0}}
        """
    )
    result = project.runpytest("--exp-no-tracking")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    output = result.stdout.str() + result.stderr.str()
    message = next(line for line in result.outlines if "exp_broken" in line)
    assert "exp_001_bad.py" in message
    assert text in message
    assert "Traceback" not in output
    assert "src/pytest_experiments" not in output and "_pytest" not in output
    assert not re.search(r"\.py:\d+", output)  # no file:line of a traceback


def test_declaration_error_is_clean_under_xdist(project: pytest.Pytester) -> None:
    project.makepyfile(
        exp_001_bad="""
        from pytest_experiments import experiment

        @experiment(params={"n": [1]}, expect={"acc": "=> 0.8"})
        def exp_broken(n):
            return {"acc": 1.0}
        """
    )
    result = run(project, "xdist")
    assert result.ret != pytest.ExitCode.OK  # xdist reports it as 1, plain pytest as 2
    result.assert_outcomes(errors=1)
    output = result.stdout.str() + result.stderr.str()
    assert "exp_001_bad.py::exp_broken: expect['acc']: malformed condition '=> 0.8'" in output
    assert "Traceback" not in output
    assert "src/pytest_experiments" not in output


# ------------------------------------------------------------------ returned metrics

METRICS = """
import asyncio
import math

import numpy as np

from pytest_experiments import experiment


def exp_numbers():
    return {"acc": np.float64(0.9), "n": np.int64(3), "k": 2, "f": 0.5}


def exp_not_a_mapping():
    return [0.9]


def exp_returns_nothing(data):
    data["x"]


def exp_not_a_number():
    return {"acc": "high", "ok": 1.0}


def exp_bool_is_not_a_number():
    return {"acc": True}


def exp_nan():
    return {"acc": math.nan, "loss": 0.1}


def exp_inf():
    return {"loss": -math.inf}


@experiment(expect={"accuracy": ">= 0.8"})
def exp_missing():
    return {"f1": 0.7, "log_loss": 0.4}


@experiment(expect={"accuracy": ">= 0.8"})
def exp_missed():
    return {"accuracy": 0.7999}


@experiment(expect={"accuracy": ">= 0.8", "fit_time": "< 1"})
def exp_met():
    return {"accuracy": 0.8, "fit_time": 0.2}


@experiment(params={"n": [1, 2]})
async def exp_async(n, data):
    await asyncio.sleep(0)
    return {"double": 2.0 * n, "rows": len(data["x"])}


async def exp_async_plain():
    return {"awaited": 1.0}


def exp_raises():
    raise ZeroDivisionError("boom")
"""

METRIC_OUTCOMES = {
    "exp_numbers": "new",
    "exp_not_a_mapping": "error",
    "exp_returns_nothing": "error",
    "exp_not_a_number": "error",
    "exp_bool_is_not_a_number": "error",
    "exp_nan": "failed",
    "exp_inf": "failed",
    "exp_missing": "failed",
    "exp_missed": "failed",
    "exp_met": "new",
    "exp_async[n=1]": "new",
    "exp_async[n=2]": "new",
    "exp_async_plain": "new",
    "exp_raises": "error",
}


def test_returned_metrics_are_validated(project: pytest.Pytester, mode: str) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(exp_001_metrics=METRICS)
    result = run(
        project, mode, "--exp-json", "r.json", "-W", "error::pytest.PytestReturnNotNoneWarning"
    )
    passed = [k for k, v in METRIC_OUTCOMES.items() if v == "new"]
    result.assert_outcomes(passed=len(passed), failed=len(METRIC_OUTCOMES) - len(passed))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert "PytestReturnNotNoneWarning" not in output
    assert "coroutine" not in output  # every async experiment was awaited

    cases = results_json(project, "r.json")
    assert {k: v["outcome"] for k, v in cases.items()} == METRIC_OUTCOMES
    assert summary(result) == {
        f"exp_001_metrics.py::{k}": "PASSED" if v == "new" else "FAILED"
        for k, v in METRIC_OUTCOMES.items()
    }

    assert cases["exp_numbers"]["metrics"] == {"acc": 0.9, "n": 3.0, "k": 2.0, "f": 0.5}
    assert cases["exp_async[n=2]"]["metrics"] == {"double": 4.0, "rows": 4.0}
    assert cases["exp_async_plain"]["metrics"] == {"awaited": 1.0}

    def message(case: str) -> str:
        text = cases[case]["message"]
        assert isinstance(text, str)
        return text

    assert "mapping" in message("exp_not_a_mapping") and "list" in message("exp_not_a_mapping")
    assert "NoneType" in message("exp_returns_nothing")
    assert "'acc'" in message("exp_not_a_number") and "'high'" in message("exp_not_a_number")
    assert "'acc'" in message("exp_bool_is_not_a_number")
    assert "'acc'" in message("exp_nan") and "nan" in message("exp_nan")
    assert "'loss'" not in message("exp_nan")
    assert "'loss'" in message("exp_inf") and "inf" in message("exp_inf")
    assert "'accuracy'" in message("exp_missing")
    assert "returned: f1, log_loss" in message("exp_missing")
    missed = message("exp_missed")
    assert "accuracy" in missed and "0.7999" in missed and ">= 0.8" in missed
    assert "ZeroDivisionError: boom" in message("exp_raises")

    # The same messages reach the terminal, marked with the outcome.
    assert "[error] an experiment must return a mapping" in output
    assert "[failed] expected metric 'accuracy' was not returned" in output
    assert missed in output
    assert "ZeroDivisionError" in output


# ------------------------------------------------------------------ seed and RNGs

SEEDED = """
import random

import numpy as np

from pytest_experiments import experiment


def test_draws_from_the_global_rngs_before_the_cases():
    random.random()
    np.random.rand(3)


@experiment(params={"case": [1, 2, 3]})
def exp_draws(case, data, seed):
    return {"seed": seed, "py": random.random(), "np": float(np.random.rand())}
"""


def test_seed_and_global_rngs_before_each_case(project: pytest.Pytester, mode: str) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(exp_001_seeded=SEEDED)
    result = run(project, mode, "--exp-seed", "7", "--exp-json", "r.json")
    result.assert_outcomes(passed=4)
    cases = results_json(project, "r.json")
    expected = {
        "seed": 7.0,
        "py": random.Random(7).random(),
        "np": float(np.random.RandomState(7).rand()),
    }
    assert [cases[f"exp_draws[case={i}]"]["metrics"] for i in (1, 2, 3)] == [expected] * 3


def test_default_seed_is_42(project: pytest.Pytester) -> None:
    project.makepyfile(
        exp_001_seed="""
        import random

        def exp_seed(seed):
            return {"seed": seed, "py": random.random()}
        """
    )
    result = project.runpytest("--exp-no-tracking", "--exp-json", "r.json")
    result.assert_outcomes(passed=1)
    metrics = results_json(project, "r.json")["exp_seed"]["metrics"]
    assert metrics == {"seed": 42.0, "py": random.Random(42).random()}


@pytest.mark.parametrize("value", ["abc", "-1", str(2**32)])
def test_bad_seed_is_a_usage_error(project: pytest.Pytester, value: str) -> None:
    result = project.runpytest("--exp-no-tracking", "--exp-seed", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "seed" in result.stderr.str() and value in result.stderr.str()


# ------------------------------------------------------------------ experiment_run


RUN_NO_OPS = """
import sys

from pytest_experiments import ExperimentRun


def exp_logs_everything(experiment_run, tmp_path):
    assert isinstance(experiment_run, ExperimentRun)
    assert experiment_run.run_id is None and experiment_run.url is None
    assert experiment_run.tracking is False
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    experiment_run.log_param("extra", 1)
    experiment_run.log_params({"a": 1, "b": "x"})
    experiment_run.log_metric("curve", 0.5, step=1)
    experiment_run.set_tag("stage", "dev")
    experiment_run.log_artifact(artifact)
    experiment_run.log_artifact(str(tmp_path))
    experiment_run.log_model(object())
    experiment_run.log_model(object(), name="other", flavor="xgboost")
    experiment_run.log_figure(object(), "figure.png")
    experiment_run.log_text("text", "notes.md")
    assert experiment_run.run_id is None
    return {"mlflow_imported": float("mlflow" in sys.modules)}


def test_fixture_in_a_regular_test(experiment_run):
    assert experiment_run.run_id is None
    experiment_run.log_metric("x", 1.0)
"""


@pytest.mark.parametrize("mode", ["plain", "xdist"])
def test_experiment_run_is_a_no_op_without_tracking(
    project: pytest.Pytester, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(exp_001_run=RUN_NO_OPS)
    # Cold workers: a worker forked from the test harness's zygote has MLflow loaded.
    monkeypatch.setenv("EXPERIMENTS_TESTS_NO_FORK_WORKERS", "1")
    result = run(project, mode, "--exp-json", "r.json")
    result.assert_outcomes(passed=2)
    assert not (project.path / "mlflow.db").exists()
    assert not (project.path / "mlruns").exists()
    metrics = results_json(project, "r.json")["exp_logs_everything"]["metrics"]
    if mode == "xdist":
        # A fresh worker process: nothing imported mlflow with tracking off.
        assert metrics == {"mlflow_imported": 0.0}
