"""Records that match what happened: outcomes pytest settles (xfail, skip),
plain tests inside experiment files, the seed that was really used, partial
and usage-error sessions, and an unwritable job summary.

Each scenario runs as a real pytest process (tracking into a sqlite store
copied from the session's template), without xdist and with ``-n 2``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _forked import runpytest_forked
from _runs import own_metrics
from _server import copy_store, read_json, results_by_case, runs_by_name, write

MODES = pytest.mark.parametrize("mode", [("-p", "no:xdist"), ("-n", "2")], ids=["no-xdist", "n2"])


def run(project: pytest.Pytester, template: Path, *args: str) -> pytest.RunResult:
    db = project.path / "mlflow.db"
    if not db.exists():
        copy_store(template, db)
    return runpytest_forked(project, "--exp-json", "out.json", *args)


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
@pytest.mark.slow
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
    result = run(project, template, *mode, "-x", "--exp-report", "report.md", "--exp-no-tracking")
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
        "--exp-no-tracking",
    )
    assert result.ret == 0
    assert read_json(project.path / "out.json")["session"]["partial"] is False


def test_a_usage_error_writes_no_report(project: pytest.Pytester, template: Path) -> None:
    write(project.path, "exp_001_four.py", FOUR)
    result = run(
        project,
        template,
        "-p",
        "no:xdist",
        "-k",
        "i=(",
        "--exp-report",
        "report.md",
        "--exp-no-tracking",
    )
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
    result = run(project, template, "-p", "no:xdist")
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


SAME_NAME = """
    def exp_model():
        return {"score": SCORE}
"""


def test_files_with_the_same_name_in_two_folders_never_share_runs(
    project: pytest.Pytester, template: Path
) -> None:
    mode = ("-p", "no:xdist")  # the experiment's name comes from its file, in any mode
    from _runs import all_runs

    project.makeini("[pytest]\naddopts = --import-mode=importlib\n")
    write(project.path, "a/exp_model.py", SAME_NAME.replace("SCORE", "0.9"))
    write(project.path, "b/exp_model.py", SAME_NAME.replace("SCORE", "0.5"))
    result = run(project, template, *mode)
    assert result.ret == 0, result.stdout.str()
    # Each file its own MLflow experiment ...
    db = project.path / "mlflow.db"
    for folder, score in (("a", 0.9), ("b", 0.5)):
        (only,) = all_runs(db, f"{folder}/exp_model")
        assert only.data.tags["pytest.nodeid"] == f"{folder}/exp_model.py::exp_model"
        assert only.data.metrics["score"] == score
    # ... and its own baseline: b is compared with b's runs only, a with a's.
    write(project.path, "b/exp_model.py", SAME_NAME.replace("SCORE", "0.4"))
    result = run(project, template, *mode, "--exp-baseline", "mlflow")
    assert result.ret == 1
    cases = {c["nodeid"]: c for c in read_json(project.path / "out.json")["results"]}
    assert cases["a/exp_model.py::exp_model"]["outcome"] == "passed"
    b = cases["b/exp_model.py::exp_model"]
    assert b["outcome"] == "regressed"
    assert b["comparisons"]["score"]["baseline"] == 0.5


# -- alongside other plugins ------------------------------------------------------

QUICK = """
    from pytest_experiments import experiment

    @experiment(params={"i": [0, 1, 2]})
    def exp_quick(i):
        return {"score": float(i)}
"""


#: Where each case's store stood when pytest-timeout's clock was already
#: running (it times setup, call and teardown; a tryfirst setup hook of a
#: conftest runs before the plugin's own).
STORE_PROBE = """
    import json, os

    import pytest


    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item):
        names = sorted(os.listdir(item.config.rootpath))
        with open(f"store-at-{item.callspec.id}.json", "w") as fh:
            json.dump(names, fh)
"""


@pytest.mark.parametrize("mode", [("-n", "2")], ids=["n2"])  # the store built by racing workers
@pytest.mark.slow
def test_pytest_timeout_never_times_the_store_being_built(
    project: pytest.Pytester, mode: tuple[str, ...]
) -> None:
    """A brand-new sqlite store takes seconds to build: that happens when
    collection ends, never inside a case's timed window. Checked where the
    window opens: every case finds the store complete (no half-built copy
    beside it) before its setup. Not by a tight ``--timeout``: the case's own
    run records are timed too, and on a machine loaded 3x over they once took
    over a second."""
    write(project.path, "exp_001_quick.py", QUICK)
    write(project.path, "conftest.py", STORE_PROBE)
    result = runpytest_forked(project, *mode, "--timeout", "60", "--exp-json", "out.json")
    assert result.ret == 0, result.stdout.str()
    cases = results_by_case(project.path / "out.json")
    assert {c["outcome"] for c in cases.values()} == {"new"}
    for case in ("i=0", "i=1", "i=2"):
        names = json.loads((project.path / f"store-at-{case}.json").read_text())
        assert "mlflow.db" in names, case
        assert not [n for n in names if n.startswith(".mlflow.db.")], (case, names)
    assert sorted(runs_by_name(project.path / "mlflow.db")) == sorted(cases)
    assert not list(project.path.glob(".mlflow.db.*"))  # no half-built store left


WATCH_CONFTEST = """
    import json, sys

    import pytest


    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(item):
        with open(f"before-{item.callspec.id}.json", "w") as fh:
            json.dump(sorted(sys.modules), fh)
        return (yield)
"""

WATCHED = """
    import json, sys

    from pytest_experiments import experiment


    @experiment(params={"i": [0, 1]})
    def exp_watched(i):
        with open(f"body-i={i}.json", "w") as fh:
            json.dump(sorted(sys.modules), fh)
        return {"score": float(i)}
"""


def test_nothing_mlflow_loads_for_a_run_is_loaded_inside_a_cases_timed_call(
    project: pytest.Pytester,
) -> None:
    """Between the start of a case's call (where pytest-timeout's clock
    starts) and its body, the plugin starts the case's run. Whatever MLflow
    loads for that (its store, GitPython for the commit tag) is loaded when
    collection ends: on a loaded machine importing GitPython alone took over
    a second inside the first case. A cold process, so that nothing was
    imported beforehand by the test harness."""
    write(project.path, "conftest.py", WATCH_CONFTEST)
    write(project.path, "exp_001_watched.py", WATCHED)
    result = project.runpytest_subprocess("-p", "no:xdist")
    result.assert_outcomes(passed=2)
    for case in ("i=0", "i=1"):
        before = set(json.loads((project.path / f"before-{case}.json").read_text()))
        body = set(json.loads((project.path / f"body-{case}.json").read_text()))
        heavy = {m for m in body - before if m.split(".")[0] in ("git", "mlflow", "sqlalchemy")}
        assert heavy == set(), (case, sorted(body - before))


def test_pytest_repeat_count_is_refused_with_the_way_to_repeat(
    project: pytest.Pytester,
) -> None:
    write(project.path, "exp_001_quick.py", QUICK)
    for mode in (("-p", "no:xdist"), ("-n", "2")):
        result = runpytest_forked(project, *mode, "--count", "3", "--exp-no-tracking")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        text = result.stdout.str() + result.stderr.str()
        assert "use --exp-repeats 3 instead" in text and "Traceback" not in text
    # a plain suite is none of the plugin's business
    write(project.path, "tests/test_plain.py", "def test_one():\n    pass\n")
    result = runpytest_forked(project, "tests", "--count", "2", "-p", "no:xdist")
    result.assert_outcomes(passed=2)


def test_a_dead_tracking_server_is_a_plain_usage_error_under_xdist_too(
    project: pytest.Pytester,
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write(project.path, "exp_001_quick.py", QUICK)
    for mode in (("-p", "no:xdist"), ("-n", "2")):
        result = runpytest_forked(project, *mode, "--exp-tracking-uri", f"http://127.0.0.1:{port}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR, mode
        text = result.stdout.str() + result.stderr.str()
        assert (
            f"ERROR: pytest-experiments: cannot reach tracking server http://127.0.0.1:{port}"
            in (text)
        ), (mode, text)
        assert "_pytest.outcomes.Exit" not in text and "Traceback" not in text, (mode, text)


FLAKY = """
    from pathlib import Path
    from pytest_experiments import experiment

    def exp_flaky():
        marker = Path(__file__).with_name("attempts")
        n = int(marker.read_text()) + 1 if marker.exists() else 1
        marker.write_text(str(n))
        if n < 3:
            raise RuntimeError(f"attempt {n} fails")
        return {"score": 1.0}
"""


def test_pytest_rerunfailures_attempts_are_numbered_and_superseded(
    project: pytest.Pytester, template: Path
) -> None:
    from _runs import all_runs

    write(project.path, "exp_001_flaky.py", FLAKY)
    result = run(project, template, "-p", "no:xdist", "--reruns", "2")
    assert result.ret == 0, result.stdout.str()
    runs = sorted(all_runs(project.path / "mlflow.db"), key=lambda r: r.info.start_time)
    assert [r.data.tags["pytest.attempt"] for r in runs] == ["1", "2", "3"]
    assert [r.data.tags["outcome"] for r in runs] == ["error", "error", "new"]
    assert [r.data.tags.get("experiments.superseded_by") for r in runs] == [
        runs[1].info.run_id,
        runs[2].info.run_id,
        None,
    ]
    assert results_by_case(project.path / "out.json")["exp_flaky"]["outcome"] == "new"


CLASHING = """
    import mlflow
    from pytest_experiments import experiment

    @experiment(params={"C": [1.0]}, expect={"score": ">= 0"})
    def exp_clash(C):
        mlflow.log_param("C", "autologged")  # as mlflow.autolog() would, another value
        return {"score": C}
"""


def test_a_param_the_experiment_logged_first_keeps_the_run_complete(
    project: pytest.Pytester, template: Path
) -> None:
    write(project.path, "exp_001_clash.py", CLASHING)
    result = run(project, template, "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    (run_,) = runs_by_name(project.path / "mlflow.db").values()
    assert run_.info.status == "FINISHED"
    assert run_.data.tags["outcome"] == "new"
    assert own_metrics(run_) == {"score": 1.0}
    assert run_.data.params["C"] == "autologged" and run_.data.params["seed"] == "42"
    assert {"outcome", "pytest.nodeid", "experiments.metrics"} <= set(run_.data.tags)
    (case,) = results_by_case(project.path / "out.json").values()
    assert case["outcome"] == "new"
    assert any("param 'C' was already logged to the run" in n for n in case["notes"])


def test_only_provably_dead_runs_of_other_sessions_are_ended(
    project: pytest.Pytester, template: Path
) -> None:
    """A RUNNING run whose controller ran on this machine (same host, boot and
    PID namespace) and is gone is ended KILLED; one from another machine, or
    from before a reboot, might be alive: it is left RUNNING, with a warning."""
    import socket
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    from pytest_experiments.orphans import machine_id

    write(project.path, "exp_001_quick.py", QUICK)
    db = copy_store(template, project.path / "mlflow.db")
    client = MlflowClient(f"sqlite:///{db.as_posix()}")
    experiment = client.create_experiment("exp_001_quick")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    host = socket.gethostname()
    here = machine_id()
    assert here is not None
    orphans = {
        "dead here": {"pytest.controller": f"{host}:{dead_pid}", "pytest.machine": here},
        "other boot": {"pytest.controller": f"{host}:{dead_pid}", "pytest.machine": "x:1"},
        "other host": {"pytest.controller": f"elsewhere:{dead_pid}", "pytest.machine": here},
        "no machine tag": {"pytest.controller": f"{host}:{dead_pid}"},
    }
    ids = {}
    for name, tags in orphans.items():
        run_ = client.create_run(experiment, tags={**tags, "pytest.session": "old"}, run_name=name)
        ids[name] = run_.info.run_id
    result = run(project, template, "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    status = {name: client.get_run(run_id).info.status for name, run_id in ids.items()}
    assert status == {
        "dead here": "KILLED",
        "other boot": "RUNNING",
        "other host": "RUNNING",
        "no machine tag": "RUNNING",
    }
    result.stdout.fnmatch_lines(
        ["*3 run(s) of other pytest sessions are still RUNNING*left as they are*"]
    )
