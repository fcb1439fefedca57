"""Records that match what happened: outcomes pytest settles (xfail, skip),
plain tests inside experiment files, the seed that was really used, partial
and usage-error sessions, and an unwritable job summary.

Each scenario runs as a real pytest process (tracking into a sqlite store
copied from the session's template), without xdist and with ``-n 2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _server import copy_store, read_json, results_by_case, runs_by_name, write

MODES = pytest.mark.parametrize("mode", [("-p", "no:xdist"), ("-n", "2")], ids=["no-xdist", "n2"])


def run(project: pytest.Pytester, template: Path, *args: str) -> pytest.RunResult:
    db = project.path / "mlflow.db"
    if not db.exists():
        copy_store(template, db)
    return project.runpytest_subprocess("--exp-json", "out.json", *args)


OUTCOMES = """
    import pytest
    from pytest_experiments import experiment


    def exp_calls_xfail():
        pytest.xfail("known to diverge on this data")


    def exp_calls_skip():
        pytest.skip("needs a GPU")


    @pytest.mark.xfail(reason="not good enough yet")
    @experiment(expect={"score": ">= 10"})
    def exp_marked_xfail_fails():
        return {"score": 1.0}


    @pytest.mark.xfail(reason="flaky")
    def exp_marked_xfail_passes():
        return {"score": 1.0}


    @pytest.mark.skip(reason="later")
    def exp_marked_skip():
        return {"score": 1.0}


    def exp_fine():
        return {"score": 1.0}


    class TestHelpers:
        def test_a(self):
            assert 1 == 2


    def test_helper():
        pass
"""


@MODES
def test_pytest_outcomes_are_recorded_as_pytest_says_and_plain_tests_stay_out(
    project: pytest.Pytester, template: Path, mode: tuple[str, ...]
) -> None:
    write(project.path, "exp_001_outcomes.py", OUTCOMES)
    result = run(project, template, *mode, "--exp-report", "report.md")
    result.assert_outcomes(passed=2, failed=1, skipped=2, xfailed=2, xpassed=1)
    cases = results_by_case(project.path / "out.json")
    assert {case_id: case["outcome"] for case_id, case in cases.items()} == {
        "exp_calls_xfail": "xfailed",
        "exp_calls_skip": "skipped",
        "exp_marked_xfail_fails": "xfailed",
        "exp_marked_xfail_passes": "xpassed",
        "exp_marked_skip": "skipped",
        "exp_fine": "new",
    }
    report = (project.path / "report.md").read_text()
    assert "TestHelpers" not in report and "test\\_helper" not in report
    assert "1 xfailed" not in report  # counted by kind, not guessed
    assert "2 xfailed" in report and "1 xpassed" in report and "2 skipped" in report
    runs = runs_by_name(project.path / "mlflow.db")
    # A run for each case that started one; a skip mark never reaches the body.
    assert {name: run.data.tags["outcome"] for name, run in runs.items()} == {
        "exp_calls_xfail": "xfailed",
        "exp_calls_skip": "skipped",
        "exp_marked_xfail_fails": "xfailed",
        "exp_marked_xfail_passes": "xpassed",
        "exp_fine": "new",
    }
    assert runs["exp_calls_xfail"].info.status == "FINISHED"


SEEDS = """
    import random
    from pytest_experiments import experiment


    @experiment(params={"seed": [0, 1, 2]})
    def exp_grid_seed(seed):
        return {"draw": random.random(), "seed_seen": float(seed)}


    def exp_session_seed(seed):
        return {"draw": random.random(), "seed_seen": float(seed)}
"""

OWN_SEED = """
import pytest


@pytest.fixture
def seed():
    return 1234
"""


def test_the_seed_logged_is_the_seed_the_case_received(
    project: pytest.Pytester, template: Path
) -> None:
    import random

    write(project.path, "exp_001_seeds.py", SEEDS)
    result = run(project, template, "-p", "no:xdist", "--exp-seed", "7")
    assert result.ret == 0, result.stdout.str()
    cases = results_by_case(project.path / "out.json")
    runs = runs_by_name(project.path / "mlflow.db")
    for seed in (0, 1, 2):
        case = cases[f"exp_grid_seed[seed={seed}]"]
        random.seed(seed)
        assert case["metrics"] == {"draw": random.random(), "seed_seen": seed}
        assert runs[f"exp_grid_seed[seed={seed}]"].data.params["seed"] == str(seed)
    assert runs["exp_session_seed"].data.params["seed"] == "7"
    assert cases["exp_session_seed"]["metrics"]["seed_seen"] == 7

    # A project's own seed fixture wins: it is what the case gets, seeds the
    # RNGs with and logs.
    write(project.path, "conftest.py", OWN_SEED)
    own = copy_store(template, project.path / "own.db")  # a store of its own: one run
    uri = f"sqlite:///{own.as_posix()}"
    result = run(
        project, template, "-p", "no:xdist", "-k", "session_seed", "--exp-tracking-uri", uri
    )
    assert result.ret == 0, result.stdout.str()
    random.seed(1234)
    case = results_by_case(project.path / "out.json")["exp_session_seed"]
    assert case["metrics"] == {"draw": random.random(), "seed_seen": 1234}
    assert runs_by_name(own)["exp_session_seed"].data.params["seed"] == "1234"


FOUR = """
    from pytest_experiments import experiment

    @experiment(params={"i": [0, 1, 2, 3]}, expect={"score": ">= 1"})
    def exp_four(i):
        return {"score": float(i)}
"""


@MODES
def test_stopping_early_with_x_marks_the_report_partial(
    project: pytest.Pytester, template: Path, mode: tuple[str, ...]
) -> None:
    write(project.path, "exp_001_four.py", FOUR)
    result = run(project, template, *mode, "-x", "--exp-report", "report.md")
    assert result.ret in (1, 2)  # xdist stops its workers as an interruption
    assert read_json(project.path / "out.json")["session"]["partial"] is True
    assert "PARTIAL REPORT" in (project.path / "report.md").read_text()
    # A session that ran everything is not partial, even with -x.
    result = run(
        project,
        template,
        *mode,
        "-x",
        "-m",
        "params(i=1) or params(i=2)",
        "--exp-report",
        "report.md",
    )
    assert result.ret == 0
    assert read_json(project.path / "out.json")["session"]["partial"] is False


def test_a_usage_error_writes_no_report(project: pytest.Pytester, template: Path) -> None:
    write(project.path, "exp_001_four.py", FOUR)
    result = run(project, template, "-p", "no:xdist", "-k", "i=(", "--exp-report", "report.md")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (project.path / "report.md").exists()
    assert not (project.path / "out.json").exists()


def test_an_unwritable_job_summary_is_one_warning(
    project: pytest.Pytester, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project.path, "exp_001_four.py", FOUR)
    summary = project.path / "no-such-folder" / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run(project, template, "-p", "no:xdist", "-m", "params(i=1) or params(i=2)")
    assert result.ret == 0, result.stdout.str()
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    matching: list[Any] = [line for line in result.outlines if "GITHUB_STEP_SUMMARY" in line]
    assert len(matching) == 1 and "could not append the report" in matching[0]
    assert read_json(project.path / "out.json")["counts"]["new"] == 2


ESTIMATORS = """
    from sklearn.linear_model import LogisticRegression
    from pytest_experiments import experiment

    @experiment(params={"model": [LogisticRegression(C=0.5), LogisticRegression(C=2.0)]})
    def exp_models(model):
        return {"c": float(model.C)}
"""


def test_an_estimator_param_is_named_by_its_settings_and_logs_them(
    project: pytest.Pytester, template: Path
) -> None:
    write(project.path, "exp_001_models.py", ESTIMATORS)
    result = run(project, template, "-n", "2")
    assert result.ret == 0, result.stdout.str()
    runs = runs_by_name(project.path / "mlflow.db")
    assert sorted(runs) == [
        "exp_models[model=LogisticRegression(C=0.5)]",
        "exp_models[model=LogisticRegression(C=2.0)]",
    ]
    params = runs["exp_models[model=LogisticRegression(C=0.5)]"].data.params
    assert params["model"] == "LogisticRegression(C=0.5)"
    assert params["model.C"] == "0.5" and params["model.max_iter"] == "100"
    cases = results_by_case(project.path / "out.json")
    assert cases["exp_models[model=LogisticRegression(C=2.0)]"]["metrics"] == {"c": 2.0}
