"""Baselines and CI gating: baseline files, comparison, tolerances, direction,
new/stale cases, corrupt files, and baselines taken from the MLflow store.

Experiments here are tiny pure-Python functions whose numbers come from a
``knobs.json`` file that the test rewrites between runs, the way a code change
would move a real metric.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any

# In-process pytester runs drop modules first imported during the run, and
# numpy (imported when a case seeds its RNG) cannot be imported twice in one
# process: import it here so it survives them, for mlflow in store_runs.
import numpy  # noqa: F401
import pytest
from _forked import runpytest_forked
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import store_runs
from pytest_experiments import baselines
from pytest_experiments.conditions import FLOAT_NOISE, Tolerance, compare
from pytest_experiments.results import Direction
from pytest_experiments.stats import Summary

KNOBS = '''
import json
from pathlib import Path


def knob(name, default):
    """A value the test controls through knobs.json beside this file."""
    path = Path(__file__).with_name("knobs.json")
    data = json.loads(path.read_text()) if path.exists() else {}
    return data.get(name, default)
'''


def write_exp(pytester: pytest.Pytester, name: str, body: str) -> Path:
    """``experiments/<name>.py``: the knob helper, then ``body``."""
    folder = pytester.path / "experiments"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    source = "from pytest_experiments import experiment\n" + KNOBS + textwrap.dedent(body)
    path.write_text(source, encoding="utf-8")
    return path


def set_knobs(pytester: pytest.Pytester, **values: Any) -> None:
    folder = pytester.path / "experiments"
    folder.mkdir(exist_ok=True)
    (folder / "knobs.json").write_text(json.dumps(values), encoding="utf-8")


def baseline_file(pytester: pytest.Pytester, stem: str) -> Path:
    return pytester.path / "experiments" / "baselines" / f"{stem}.json"


def write_baseline(pytester: pytest.Pytester, stem: str, data: dict[str, Any]) -> Path:
    path = baseline_file(pytester, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """An in-process run without tracking; returns the result and the cases
    from ``--exp-json`` keyed by case id."""
    out = pytester.path / "results.json"
    out.unlink(missing_ok=True)
    result = pytester.runpytest("--exp-no-tracking", f"--exp-json={out}", *args)
    return result, cases_from(out)


def run_subprocess(
    pytester: pytest.Pytester, *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """A run in a fresh process (tracking on, or xdist)."""
    out = pytester.path / "results.json"
    out.unlink(missing_ok=True)
    result = runpytest_forked(pytester, f"--exp-json={out}", *args)
    return result, cases_from(out)


def cases_from(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    return {case["case_id"]: case for case in document["results"]}


def outcomes(cases: dict[str, Any]) -> dict[str, str]:
    return {case_id: case["outcome"] for case_id, case in cases.items()}


def statuses(cases: dict[str, Any], case_id: str) -> dict[str, str]:
    return {m: c["status"] for m, c in cases[case_id]["comparisons"].items()}


TWO_FILES = {
    "exp_001_depth": """
        @experiment(params={"depth": [2, 10, 1]}, tolerance={"accuracy": 0.01})
        def exp_depth(depth):
            return {"accuracy": knob("accuracy", 0.8) + depth / 100, "fit_time": 0.25}
        """,
    "exp_002_other": """
        def exp_other():
            return {"score": 3.5}
        """,
}


def make_two_files(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    for name, body in TWO_FILES.items():
        write_exp(pytester, name, body)


# -- writing and re-reading baseline files --------------------------------------


def test_update_writes_sorted_files_then_an_unchanged_rerun_passes(
    pytester: pytest.Pytester,
) -> None:
    make_two_files(pytester)
    result, cases = run(pytester, "--exp-update-baseline")
    assert result.ret == 0
    assert set(outcomes(cases).values()) == {"new"}
    result.stdout.fnmatch_lines(
        [
            "baseline experiments/baselines/exp_001_depth.json: 3 added, 0 changed, 0 removed",
            "  + exp_depth[depth=10]",
            "  + exp_depth[depth=1]",
            "  + exp_depth[depth=2]",
            "baseline experiments/baselines/exp_002_other.json: 1 added, 0 changed, 0 removed",
            "  + exp_other",
        ]
    )

    path = baseline_file(pytester, "exp_001_depth")
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    # Sorted by plain string order ("0" sorts before "]"), whatever the grid order.
    assert list(data) == ["exp_depth[depth=10]", "exp_depth[depth=1]", "exp_depth[depth=2]"]
    assert data["exp_depth[depth=10]"] == {"accuracy": 0.8 + 10 / 100, "fit_time": 0.25}
    assert all(list(metrics) == sorted(metrics) for metrics in data.values())
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert (
        '\n  "exp_depth[depth=1]": {\n    "accuracy": 0.81,\n    "fit_time": 0.25\n  },\n' in text
    )
    assert json.loads(baseline_file(pytester, "exp_002_other").read_text()) == {
        "exp_other": {"score": 3.5}
    }

    result, cases = run(pytester)
    assert result.ret == 0
    assert set(outcomes(cases).values()) == {"passed"}
    assert statuses(cases, "exp_depth[depth=2]") == {"accuracy": "same", "fit_time": "same"}
    result.stdout.fnmatch_lines(["experiments: 4 passed"])

    # Accepting the same numbers again leaves the files alone.
    old = 1_000_000_000
    os.utime(path, ns=(old, old))
    result, cases = run(pytester, "--exp-update-baseline")
    assert result.ret == 0
    assert path.stat().st_mtime_ns == old
    assert path.read_text(encoding="utf-8") == text
    result.stdout.fnmatch_lines(
        [
            "baseline experiments/baselines/exp_001_depth.json: unchanged (3 cases)",
            "baseline experiments/baselines/exp_002_other.json: unchanged (1 case)",
        ]
    )
    assert "added" not in result.stdout.str()


# -- comparing with the baseline --------------------------------------------------


def test_a_drop_beyond_tolerance_regresses_while_other_files_pass(
    pytester: pytest.Pytester,
) -> None:
    make_two_files(pytester)
    assert run(pytester, "--exp-update-baseline")[0].ret == 0

    set_knobs(pytester, accuracy=0.75)  # the "change": accuracy drops by 0.05
    result, cases = run(pytester)

    assert result.ret == 1
    assert outcomes(cases) == {
        "exp_depth[depth=2]": "regressed",
        "exp_depth[depth=10]": "regressed",
        "exp_depth[depth=1]": "regressed",
        "exp_other": "passed",
    }
    message = (
        "accuracy regressed: baseline 0.81, current 0.76, delta -0.05 "
        "(tolerance 0.01, higher is better; no noise estimate: log predictions or add repeats)"
    )
    assert cases["exp_depth[depth=1]"]["message"] == message
    assert statuses(cases, "exp_depth[depth=1]") == {"accuracy": "regressed", "fit_time": "same"}
    result.stdout.fnmatch_lines(
        [
            "_*_ exp_depth[[]depth=1[]] _*_",
            f"[[]regressed] {message}",
            "depth=1 * 0.76 * -0.05 REGRESSED * regressed *",
            "experiments: 1 passed, 3 regressed",
            "FAILED experiments/exp_001_depth.py::exp_depth[[]depth=1[]] - *[[]regressed]*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    result.assert_outcomes(passed=1, failed=3)


def test_improvements_pass_as_better_and_small_drops_within_tolerance_pass(
    pytester: pytest.Pytester,
) -> None:
    make_two_files(pytester)
    assert run(pytester, "--exp-update-baseline")[0].ret == 0

    set_knobs(pytester, accuracy=0.85)
    result, cases = run(pytester)
    assert result.ret == 0
    assert set(outcomes(cases).values()) == {"passed"}
    assert statuses(cases, "exp_depth[depth=2]") == {"accuracy": "better", "fit_time": "same"}
    assert cases["exp_depth[depth=2]"]["comparisons"]["accuracy"]["delta"] == pytest.approx(0.05)
    result.stdout.fnmatch_lines(["depth=2 * 0.87 * +0.05 better *passed*"])

    set_knobs(pytester, accuracy=0.795)  # 0.005 worse, tolerance 0.01
    result, cases = run(pytester)
    assert result.ret == 0
    assert set(outcomes(cases).values()) == {"passed"}
    assert statuses(cases, "exp_depth[depth=2]")["accuracy"] == "worse"
    result.stdout.fnmatch_lines(["depth=2 * -0.005 worse *passed*"])


SCORE_EXP = """
    @experiment({decl})
    def exp_score():
        drop = knob("drop", 0.0)
        return {{"score": 100.0 - drop, "other": 50.0 - drop}}
    """


@pytest.mark.parametrize(
    ("decl", "ini", "drop", "expected"),
    [
        # absolute, per metric (the unlisted metric uses the ini default 0)
        ('tolerance={"score": 0.5, "other": 0.5}', "", 0.4, {}),
        ('tolerance={"score": 0.5, "other": 0.5}', "", 0.6, {"score": "0.5", "other": "0.5"}),
        # only declared metrics gate: "other" (not named) is shown, never failed on
        ('tolerance={"score": 0.5}', "", 0.4, {}),
        # relative: 2% of 100 is 2, of 50 is 1
        ('tolerance={"score": "2%", "other": "2%"}', "", 1.5, {"other": "2%"}),
        ('tolerance={"score": "2%", "other": "2%"}', "", 0.9, {}),
        ('tolerance={"score": "2%", "other": "2%"}', "", 2.1, {"score": "2%", "other": "2%"}),
        # one value for all metrics
        ("tolerance=0.5", "", 0.4, {}),
        ("tolerance=0.5", "", 0.6, {"score": "0.5", "other": "0.5"}),
        ('tolerance="1%"', "", 0.8, {"other": "1%"}),
        # ini default, and a per-metric value overriding it
        ("", "0.5", 0.4, {}),
        ("", "0.5", 0.6, {"score": "0.5", "other": "0.5"}),
        ("", "2%", 1.5, {"other": "2%"}),
        ('tolerance={"score": 0}', "0.5", 0.4, {"score": "0"}),
        # tolerance 0: float noise is not a regression, anything more is
        ("", "", 1e-12, {}),
        ("", "", 1e-6, {"score": "0", "other": "0"}),
    ],
)
def test_tolerance_forms(
    pytester: pytest.Pytester, decl: str, ini: str, drop: float, expected: dict[str, str]
) -> None:
    pytester.makeini(f"[pytest]\nexperiments_tolerance = {ini}\n" if ini else "[pytest]\n")
    write_exp(pytester, "exp_001_score", SCORE_EXP.format(decl=decl))
    write_baseline(pytester, "exp_001_score", {"exp_score": {"score": 100.0, "other": 50.0}})
    set_knobs(pytester, drop=drop)

    result, cases = run(pytester)

    case = cases["exp_score"]
    regressed = {m for m, s in statuses(cases, "exp_score").items() if s == "regressed"}
    assert regressed == set(expected)
    if expected:
        assert result.ret == 1
        assert case["outcome"] == "regressed"
        for metric, tolerance in expected.items():
            assert f"{metric} regressed: " in case["message"]
            assert (
                f"(tolerance {tolerance}, higher is better; "
                "no noise estimate: log predictions or add repeats)" in case["message"]
            )
    else:
        assert result.ret == 0
        assert case["outcome"] == "passed"


def test_direction_by_name_by_declaration_and_by_expect(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(
        pytester,
        "exp_001_direction",
        """
        # tolerance names log_loss and uptime so that they gate (direction by name)
        @experiment(
            lower_is_better=("brier",),
            expect={"ece": "<= 0.9"},
            tolerance={"log_loss": 0, "uptime": 0},
        )
        def exp_direction():
            move = knob("move", 0.0)
            return {
                "log_loss": 0.3 + move,
                "brier": 0.3 + move,
                "ece": 0.3 + move,
                "uptime": 0.3 + move,
            }
        """,
    )
    write_baseline(
        pytester,
        "exp_001_direction",
        {"exp_direction": {"log_loss": 0.3, "brier": 0.3, "ece": 0.3, "uptime": 0.3}},
    )

    set_knobs(pytester, move=0.1)
    result, cases = run(pytester)
    assert result.ret == 1
    assert statuses(cases, "exp_direction") == {
        "log_loss": "regressed",
        "brier": "regressed",
        "ece": "regressed",
        "uptime": "better",
    }
    assert (
        "log_loss regressed: baseline 0.3, current 0.4, delta +0.1 "
        "(tolerance 0, lower is better; no noise estimate: log predictions or add repeats)"
    ) in (cases["exp_direction"]["message"])

    set_knobs(pytester, move=-0.1)
    result, cases = run(pytester)
    assert result.ret == 1
    assert statuses(cases, "exp_direction") == {
        "log_loss": "better",
        "brier": "better",
        "ece": "better",
        "uptime": "regressed",
    }
    assert cases["exp_direction"]["message"] == (
        "uptime regressed: baseline 0.3, current 0.2, delta -0.1 "
        "(tolerance 0, higher is better; no noise estimate: log predictions or add repeats)"
    )


def test_new_cases_pass_as_new_unless_the_baseline_is_strict(pytester: pytest.Pytester) -> None:
    make_two_files(pytester)
    write_baseline(
        pytester,
        "exp_001_depth",
        {"exp_depth[depth=1]": {"accuracy": 0.81, "fit_time": 0.25}},
    )

    result, cases = run(pytester)
    assert result.ret == 0
    assert outcomes(cases) == {
        "exp_depth[depth=2]": "new",
        "exp_depth[depth=10]": "new",
        "exp_depth[depth=1]": "passed",
        "exp_other": "new",
    }
    assert cases["exp_depth[depth=2]"]["comparisons"] == {}
    result.stdout.fnmatch_lines(["depth=2 *0.82*new*", "experiments: 1 passed, 3 new"])

    result, cases = run(pytester, "--exp-strict-baseline")
    assert result.ret == 1
    assert outcomes(cases) == {
        "exp_depth[depth=2]": "failed",
        "exp_depth[depth=10]": "failed",
        "exp_depth[depth=1]": "passed",
        "exp_other": "failed",
    }
    assert cases["exp_other"]["message"] == (
        "no baseline for exp_other (--exp-strict-baseline); accept one with --exp-update-baseline"
    )
    result.assert_outcomes(passed=1, failed=3)

    # Accepting the numbers makes the strict run pass.
    assert run(pytester, "--exp-update-baseline", "--exp-strict-baseline")[0].ret == 0
    result, cases = run(pytester, "--exp-strict-baseline")
    assert result.ret == 0
    assert set(outcomes(cases).values()) == {"passed"}


# -- updating ---------------------------------------------------------------------


def test_update_accepts_regressions_but_still_fails_expectations_and_skips_errors(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(
        pytester,
        "exp_001_mixed",
        """
        @experiment(params={"case": ["drop", "miss", "boom", "junk", "nan"]},
                    expect={"accuracy": ">= 0.5"})
        def exp_mixed(case):
            if case == "boom" and knob("boom", False):
                raise RuntimeError("the data loader broke")
            if case == "junk" and knob("boom", False):
                return "not a mapping"
            if case == "nan":
                return {"accuracy": 0.9, "f1": float("nan")}
            if case == "miss":
                return {"accuracy": knob("miss", 0.9)}
            return {"accuracy": knob("drop", 0.9)}
        """,
    )
    assert run(pytester, "--exp-update-baseline")[0].ret == 1  # the NaN case fails
    path = baseline_file(pytester, "exp_001_mixed")
    first = json.loads(path.read_text())
    assert first == {
        "exp_mixed[case=boom]": {"accuracy": 0.9},
        "exp_mixed[case=drop]": {"accuracy": 0.9},
        "exp_mixed[case=junk]": {"accuracy": 0.9},
        "exp_mixed[case=miss]": {"accuracy": 0.9},
        "exp_mixed[case=nan]": {"accuracy": 0.9},  # the non-finite f1 is not written
    }

    # A regression alone does not fail an updating run; the new number is accepted.
    set_knobs(pytester, drop=0.7)
    result, cases = run(pytester, "-k", "drop", "--exp-update-baseline")
    assert result.ret == 0
    assert outcomes(cases) == {"exp_mixed[case=drop]": "passed"}
    assert statuses(cases, "exp_mixed[case=drop]") == {"accuracy": "regressed"}
    result.stdout.fnmatch_lines(
        [
            "baseline experiments/baselines/exp_001_mixed.json: 0 added, 1 changed, 0 removed",
            "  ~ exp_mixed[case=drop]",
        ]
    )
    assert json.loads(path.read_text())["exp_mixed[case=drop]"] == {"accuracy": 0.7}
    assert run(pytester, "-k", "drop")[0].ret == 0

    # Expectations still fail; erroring cases keep their old entry.
    set_knobs(pytester, drop=0.6, miss=0.4, boom=True)
    result, cases = run(pytester, "--exp-update-baseline")
    assert result.ret == 1
    assert outcomes(cases) == {
        "exp_mixed[case=drop]": "passed",
        "exp_mixed[case=miss]": "failed",
        "exp_mixed[case=boom]": "error",
        "exp_mixed[case=junk]": "error",
        "exp_mixed[case=nan]": "failed",
    }
    assert cases["exp_mixed[case=miss]"]["message"] == "expected accuracy >= 0.5, got 0.4"
    result.stdout.fnmatch_lines(
        [
            "baseline experiments/baselines/exp_001_mixed.json: 0 added, 2 changed, 0 removed",
            "  ~ exp_mixed[case=drop]",
            "  ~ exp_mixed[case=miss]",
        ]
    )
    assert json.loads(path.read_text()) == {
        **first,
        "exp_mixed[case=drop]": {"accuracy": 0.6},
        "exp_mixed[case=miss]": {"accuracy": 0.4},
    }


# -- stale entries ------------------------------------------------------------------

GRID = """
    @experiment(params={{"depth": {depths}}})
    def exp_depth(depth):
        return {{"accuracy": knob("accuracy", 0.8) + depth / 100}}
    """


@pytest.mark.parametrize("xdist", [False, True], ids=["in-process", "xdist"])
def test_stale_entries_are_reported_then_dropped_even_from_a_partial_run(
    pytester: pytest.Pytester, xdist: bool
) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(pytester, "exp_001_depth", GRID.format(depths=[1, 2, 3]))
    write_exp(pytester, "exp_002_other", "def exp_other():\n    return {'score': 1.0}\n")
    assert run(pytester, "--exp-update-baseline")[0].ret == 0
    path = baseline_file(pytester, "exp_001_depth")
    accepted = json.loads(path.read_text())
    assert len(accepted) == 3

    write_exp(pytester, "exp_001_depth", GRID.format(depths=[1, 2]))  # depth=3 is gone
    result, cases = run(pytester)
    assert result.ret == 0
    assert set(outcomes(cases).values()) == {"passed"}
    result.stdout.fnmatch_lines(
        [
            "experiments/exp_001_depth.py: baseline has 1 entry for cases that no longer "
            "exist (exp_depth[[]depth=3[]]); --exp-update-baseline drops them"
        ]
    )
    assert "exp_002_other.py: baseline has" not in result.stdout.str()

    # Accept a new number for depth=1 only: depth=2 was not selected but still
    # exists, so its entry stays; depth=3's entry goes.
    set_knobs(pytester, accuracy=0.9)
    args = ("-m", "params(depth=1)", "--exp-update-baseline")
    if xdist:
        result, cases = run_subprocess(pytester, "-n", "2", "--exp-no-tracking", *args)
    else:
        result, cases = run(pytester, *args)
    assert result.ret == 0
    assert list(cases) == ["exp_depth[depth=1]"]
    result.stdout.fnmatch_lines(
        [
            "baseline experiments/baselines/exp_001_depth.json: 0 added, 1 changed, 1 removed",
            "  ~ exp_depth[[]depth=1[]]",
            "  - exp_depth[[]depth=3[]]",
        ]
    )
    assert json.loads(path.read_text()) == {
        "exp_depth[depth=1]": {"accuracy": 0.9 + 1 / 100},
        "exp_depth[depth=2]": accepted["exp_depth[depth=2]"],
    }
    assert json.loads(baseline_file(pytester, "exp_002_other").read_text()) == {
        "exp_other": {"score": 1.0}
    }
    result, cases = run(pytester)
    assert "no longer exist" not in result.stdout.str()


# -- corrupt files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"exp_depth[depth=1]": {"accuracy": 0.81,}', "is not valid JSON (line 1, column 42"),
        ('["exp_depth[depth=1]"]', "must hold an object keyed by case id, not list"),
        ('{"exp_depth[depth=1]": 0.81}', "entry 'exp_depth[depth=1]' must be an object of"),
        (
            '{"exp_depth[depth=1]": {"accuracy": "0.81"}}',
            "'exp_depth[depth=1]' metric 'accuracy' is \"0.81\", not a number",
        ),
    ],
    ids=["invalid-json", "not-an-object", "entry-not-an-object", "metric-not-a-number"],
)
def test_a_corrupt_baseline_file_is_a_clear_error_and_other_files_still_run(
    pytester: pytest.Pytester, text: str, problem: str
) -> None:
    make_two_files(pytester)
    path = baseline_file(pytester, "exp_001_depth")
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")

    result, cases = run(pytester)

    assert result.ret == 1
    assert outcomes(cases) == {
        "exp_depth[depth=2]": "error",
        "exp_depth[depth=10]": "error",
        "exp_depth[depth=1]": "error",
        "exp_other": "new",
    }
    message = cases["exp_depth[depth=1]"]["message"]
    assert str(path) in message
    assert problem in message
    result.stdout.fnmatch_lines([f"*{path!s}*"])
    output = result.stdout.str()
    assert "Traceback" not in output
    assert "baselines.py" not in output
    assert "runner.py" not in output

    # Updating does not paper over the broken file: it is left for a person to fix.
    result, cases = run(pytester, "--exp-update-baseline")
    assert result.ret == 1
    assert path.read_text(encoding="utf-8") == text


# -- baselines from the MLflow store ----------------------------------------------------

STORE_EXP = """
    @experiment(params={"case": ["a", "b"]}, tolerance={"accuracy": 0.01})
    def exp_store(case):
        if case == "b" and knob("break_b", False):
            raise RuntimeError("b broke")
        return {"accuracy": knob("accuracy", 0.9)}
    """


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_mlflow_baseline_is_the_latest_passed_run_matching_the_filter(
    pytester: pytest.Pytester,
) -> None:
    # A window of one run per case (the pooling of several is in test_gate.py).
    pytester.makeini("[pytest]\nexperiments_baseline_window = 1\n")
    write_exp(pytester, "exp_001_store", STORE_EXP)
    (pytester.path / ".gitignore").write_text("mlflow*\nresults.json\nknobs.json\n")
    git(pytester.path, "init", "-q", "-b", "main")
    git(pytester.path, "add", "-A")
    git(pytester.path, "commit", "-q", "-m", "study")
    git(pytester.path, "checkout", "-q", "-b", "feature")
    main_only = "mlflow:tags.git.branch = 'main'"

    # A feature branch records its runs first ...
    set_knobs(pytester, accuracy=0.7)
    result, cases = run_subprocess(pytester)
    assert result.ret == 0, result.stdout.str()
    assert set(outcomes(cases).values()) == {"new"}

    # ... so on main, filtered to main, nothing matches yet: every case is new.
    git(pytester.path, "checkout", "-q", "main")
    set_knobs(pytester, accuracy=0.9)
    result, cases = run_subprocess(pytester, "--exp-baseline", main_only)
    assert result.ret == 0, result.stdout.str()
    assert outcomes(cases) == {"exp_store[case=a]": "new", "exp_store[case=b]": "new"}

    # Unfiltered, the latest passed (or new) run of each case is the baseline.
    set_knobs(pytester, accuracy=0.8, break_b=True)
    result, cases = run_subprocess(pytester, "--exp-baseline", "mlflow")
    assert result.ret == 1
    assert outcomes(cases) == {"exp_store[case=a]": "regressed", "exp_store[case=b]": "error"}
    assert cases["exp_store[case=a]"]["message"] == (
        "accuracy regressed: baseline 0.9, current 0.8, delta -0.1 "
        "(tolerance 0.01, higher is better; no noise estimate: log predictions or add repeats)"
    )

    # Back on the branch, compared with main: both with 0.9, main's latest run
    # that passed (a's last run regressed, b's last run FAILED: neither is a
    # baseline), and neither with the branch's own 0.7.
    git(pytester.path, "checkout", "-q", "feature")
    set_knobs(pytester, accuracy=0.85)
    result, cases = run_subprocess(pytester, "--exp-baseline", main_only)
    assert result.ret == 1
    assert set(outcomes(cases).values()) == {"regressed"}
    for case in ("a", "b"):
        assert cases[f"exp_store[case={case}]"]["message"] == (
            "accuracy regressed: baseline 0.9, current 0.85, delta -0.05 "
            "(tolerance 0.01, higher is better; no noise estimate: log predictions or add repeats)"
        )
    assert not (pytester.path / "experiments" / "baselines").exists()

    runs = store_runs(pytester.path / "mlflow.db", "experiments/exp_001_store")
    seen = {
        (r.data.tags.get("git.branch"), r.info.run_name, r.info.status, r.data.tags["outcome"])
        for r in runs
    }
    assert len(runs) == 8
    assert seen == {
        ("feature", "exp_store[case=a]", "FINISHED", "new"),
        ("feature", "exp_store[case=b]", "FINISHED", "new"),
        ("main", "exp_store[case=a]", "FINISHED", "new"),
        ("main", "exp_store[case=b]", "FINISHED", "new"),
        ("main", "exp_store[case=a]", "FINISHED", "regressed"),
        ("main", "exp_store[case=b]", "FAILED", "error"),
        ("feature", "exp_store[case=a]", "FINISHED", "regressed"),
        ("feature", "exp_store[case=b]", "FINISHED", "regressed"),
    }


@pytest.mark.parametrize("mode", [("-p", "no:xdist"), ("-n", "2")], ids=["no-xdist", "n2"])
@pytest.mark.slow
def test_an_invalid_mlflow_baseline_filter_is_one_usage_error_before_any_case(
    pytester: pytest.Pytester, mode: tuple[str, ...]
) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(pytester, "exp_001_store", STORE_EXP)
    result, cases = run_subprocess(
        pytester, *mode, "--exp-baseline", "mlflow:tags.git.branch == main"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert cases == {}  # no case ran
    text = result.stdout.str() + result.stderr.str()
    assert text.count("--exp-baseline filter 'tags.git.branch == main': ") == 1
    assert "not quoted" in text
    assert "Traceback" not in text
    assert re.search(r"\d+ (passed|failed|errors?)\b", text) is None
    # Nothing was prepared for cases that never run: under xdist the workers
    # check the filter too (had they been building the store when the
    # controller stopped them, their interruption printed a traceback).
    assert not (pytester.path / "mlflow.db").exists()


def test_a_baseline_metric_that_is_no_longer_returned_is_a_regression(
    pytester: pytest.Pytester,
) -> None:
    make_two_files(pytester)
    write_baseline(pytester, "exp_002_other", {"exp_other": {"score": 3.5, "auc": 0.9}})
    result, cases = run(pytester, "-k", "other")
    assert result.ret == 1
    assert outcomes(cases) == {"exp_other": "regressed"}
    assert cases["exp_other"]["message"] == "baseline metric 'auc' was not returned"

    # Accepting the run drops the metric from the entry.
    result, cases = run(pytester, "-k", "other", "--exp-update-baseline")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["  ~ exp_other"])
    assert json.loads(baseline_file(pytester, "exp_002_other").read_text()) == {
        "exp_other": {"score": 3.5}
    }


# -- the comparison rules, property-tested -----------------------------------------------

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
DIRECTIONS = st.sampled_from(["higher", "lower"])
TOLERANCES = st.one_of(
    st.floats(min_value=0, max_value=1e3).map(Tolerance.parse),
    st.floats(min_value=0, max_value=100).map(lambda p: Tolerance.parse(f"{p!r}%")),
)


def worse_by(baseline: float, current: float, direction: str) -> float:
    """How far ``current`` moved in the bad direction (negative: it improved)."""
    return baseline - current if direction == "higher" else current - baseline


@given(baseline=FINITE, current=FINITE, tolerance=TOLERANCES, direction=DIRECTIONS)
@example(baseline=0.81, current=0.80, tolerance=Tolerance.parse(0.01), direction="higher")
@example(baseline=1.0, current=1.5 + 5e-10, tolerance=Tolerance.parse(0.5), direction="lower")
@example(baseline=-2.0, current=-2.04, tolerance=Tolerance.parse("2%"), direction="higher")
def test_compare_regresses_exactly_when_worse_beyond_tolerance(
    baseline: float, current: float, tolerance: Tolerance, direction: Direction
) -> None:
    c = compare("m", baseline, current, direction, tolerance)
    worse = worse_by(baseline, current, direction)
    allowed = abs(baseline) * tolerance.amount if tolerance.relative else tolerance.amount
    assert (c.status == "regressed") == (worse > allowed + FLOAT_NOISE)
    assert (c.status == "better") == (-worse > FLOAT_NOISE)
    assert (c.status == "same") == (abs(current - baseline) <= FLOAT_NOISE)
    assert c.status in ("better", "same", "worse", "regressed")
    assert c.delta == current - baseline
    assert (c.baseline, c.current, c.direction) == (baseline, current, direction)


@given(baseline=FINITE, current=FINITE, tolerance=TOLERANCES, direction=DIRECTIONS)
def test_compare_is_symmetric_in_direction(
    baseline: float, current: float, tolerance: Tolerance, direction: Direction
) -> None:
    flipped: Direction = "lower" if direction == "higher" else "higher"
    status = compare("m", baseline, current, direction, tolerance).status
    assert compare("m", -baseline, -current, flipped, tolerance).status == status


@given(
    baseline=st.floats(min_value=1e-3, max_value=1e6) | st.floats(min_value=-1e6, max_value=-1e-3),
    percent=st.floats(min_value=0.1, max_value=50),
    direction=DIRECTIONS,
)
def test_relative_tolerance_scales_with_the_baseline(
    baseline: float, percent: float, direction: Direction
) -> None:
    tolerance = Tolerance.parse(f"{percent!r}%")
    allowed = abs(baseline) * percent / 100
    assert tolerance.allowed(baseline) == pytest.approx(allowed)
    bad = -1.0 if direction == "higher" else 1.0
    within = compare("m", baseline, baseline + bad * allowed * 0.5, direction, tolerance)
    beyond = compare("m", baseline, baseline + bad * (allowed * 1.5 + 1e-8), direction, tolerance)
    assert within.status == "worse"
    assert beyond.status == "regressed"
    assert beyond.tolerance == f"{percent:g}%"


def test_float_noise_and_non_finite_values() -> None:
    zero = Tolerance.parse(0)
    assert compare("accuracy", 0.8, 0.8 - 1e-12, "higher", zero).status == "same"
    assert compare("log_loss", 0.3, 0.3 + 1e-12, "lower", zero).status == "same"
    assert compare("accuracy", 0.8, 0.8 - 1e-6, "higher", zero).status == "regressed"
    # 0.81 - 0.80 is 0.010000000000000009 in floats: exactly the tolerance, not beyond it.
    assert compare("accuracy", 0.81, 0.80, "higher", Tolerance.parse(0.01)).status == "worse"
    assert compare("accuracy", 0.81, 0.7999, "higher", Tolerance.parse(0.01)).status == (
        "regressed"
    )
    assert compare("accuracy", 0.8, math.nan, "higher", Tolerance.parse(1)).status == "regressed"


CASE_IDS = st.text(min_size=1, max_size=30)
METRICS = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6),
    max_size=4,
)


def plain(data: dict[str, dict[str, float]]) -> dict[str, dict[str, Summary]]:
    """Single values (n = 1) as baseline entries."""
    return {k: {m: Summary(mean=float(v)) for m, v in ms.items()} for k, ms in data.items()}


@given(data=st.dictionaries(CASE_IDS, METRICS, max_size=6))
@settings(max_examples=60)
def test_dumps_and_load_round_trip_sorted_and_stable(data: dict[str, dict[str, float]]) -> None:
    text = baselines.dumps(plain(data))
    assert text.endswith("\n") and not text.endswith("\n\n")
    parsed = json.loads(text)
    assert list(parsed) == sorted(data)
    assert all(list(parsed[k]) == sorted(data[k]) for k in parsed)
    lines = text.splitlines()
    if data:
        assert lines[1].startswith('  "') and not lines[1].startswith("   ")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp_001_x.json"
        path.write_text(text, encoding="utf-8")
        loaded = baselines.load(path)
    assert loaded == plain(data)
    assert baselines.dumps(loaded) == text


def test_update_reports_changes_and_keeps_only_declared_cases(tmp_path: Path) -> None:
    path = tmp_path / "baselines" / "exp_001_x.json"
    first = baselines.update(path, plain({"b": {"acc": 0.5}, "a": {"acc": 0.4}}), ["a", "b", "c"])
    assert (first.added, first.changed, first.removed, first.written) == (["a", "b"], [], [], True)
    assert path.read_text() == baselines.dumps(plain({"a": {"acc": 0.4}, "b": {"acc": 0.5}}))

    # c returned only non-finite metrics: nothing to accept; b is no longer declared.
    second = baselines.update(
        path, plain({"a": {"acc": 0.6, "f1": math.inf}, "c": {"acc": math.nan}}), ["a", "c"]
    )
    assert (second.added, second.changed, second.removed) == ([], ["a"], ["b"])
    assert baselines.load(path) == plain({"a": {"acc": 0.6}})
    assert baselines.stale_entries(path, ["c"]) == ["a"]

    before = path.stat().st_mtime_ns
    third = baselines.update(path, plain({"a": {"acc": 0.6}}), None)
    assert (third.written, third.unchanged) == (False, 1)
    assert path.stat().st_mtime_ns == before
