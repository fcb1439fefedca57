"""MLflow tracking, checked in real sqlite stores written by real pytest runs.

Every run with tracking on is its own process (MLflow keeps process-global
state), forked from the zygote in ``_forked.py`` except where what a cold
process imports is the point; the store is read back with ``MlflowClient``.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _forked import runpytest_forked
from _runs import all_runs, own_metrics, sqlite_uri
from _server import (
    artifact_text,
    assert_no_traceback,
    copy_store,
    read_json,
    results_by_case,
    runs_by_name,
    write,
)


def git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip()


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


GRID = """
    import mlflow
    from pytest_experiments import experiment


    @experiment(params={"n": [1, 2], "kind": ["a", "b"]}, expect={"score": ">= 2"})
    def exp_grid(n, kind, seed, experiment_run, tmp_path):
        mlflow.log_metric("plain_metric", n * 10.0)
        experiment_run.log_param("extra_param", f"{kind}-{n}")
        for step in range(3):
            experiment_run.log_metric("curve", step / 10, step=step)
        experiment_run.set_tag("my.tag", kind)
        experiment_run.log_text(f"hello {kind}{n}", "notes/hello.txt")
        local = tmp_path / "artifact.txt"
        local.write_text(f"artifact {kind}{n}")
        experiment_run.log_artifact(local)
        active = mlflow.active_run()
        mine = active is not None and active.info.run_id == experiment_run.run_id
        return {"score": n * 1.5, "double": n * 2, "active_is_mine": float(mine)}
"""

BOOM = """
    def _load_data():
        raise ValueError("user exception 7f3a: no such column")


    def exp_boom(experiment_run):
        _load_data()
        return {"x": 1.0}
"""


@pytest.mark.slow
def test_one_run_per_case_with_params_metrics_tags_and_artifacts(
    project: pytest.Pytester, template: Path
) -> None:
    from mlflow.tracking import MlflowClient

    root = project.path
    project.makeini("[pytest]\nexperiments_data = data extra.txt\n")
    write(root, "exp_001_grid.py", GRID)
    write(root, "exp_002_boom.py", BOOM)
    write(root, "data/train.csv", "a,b\n1,2\n")
    write(root, "data/sub/test.csv", "a,b\n3,4\n")
    write(root, "extra.txt", "v1\n")
    write(root, "notes.md", "not data\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    commit = git(root, "rev-parse", "HEAD")
    db = copy_store(template, root / "mlflow.db")  # the embedded default location
    uri = sqlite_uri(db)

    result = runpytest_forked(project, "-n", "2")

    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=3)
    runs = runs_by_name(db, "exp_001_grid")
    ids = [f"exp_grid[n={n}-kind={k}]" for n in (1, 2) for k in ("a", "b")]
    assert sorted(runs) == sorted(ids)
    versions = {
        f"lib.{d}": importlib.metadata.version(d)
        for d in ("mlflow", "scikit-learn", "numpy", "pytest", "pytest-xdist")
    }
    sessions, fingerprints = set(), set()
    client = MlflowClient(uri)
    for case_id, run in runs.items():
        n, kind = re.fullmatch(r"exp_grid\[n=(\d)-kind=(\w)\]", case_id).groups()  # type: ignore[union-attr]
        assert run.info.status == "FINISHED"
        assert run.data.params == {"n": n, "kind": kind, "seed": "42", "extra_param": f"{kind}-{n}"}
        assert own_metrics(run) == {
            "score": int(n) * 1.5,
            "double": int(n) * 2,
            "active_is_mine": 1.0,
            "plain_metric": int(n) * 10.0,
            "curve": 0.2,  # the latest step
        }
        tags = run.data.tags
        assert tags["outcome"] == ("failed" if n == "1" else "new")
        assert tags["pytest.nodeid"] == f"exp_001_grid.py::{case_id}"
        assert tags["my.tag"] == kind
        assert tags["git.commit"] == commit
        assert tags["git.branch"] == "main"
        assert tags["git.dirty"] == "false"
        assert tags["host"] == socket.gethostname()
        assert tags["python.version"] == platform.python_version()
        assert {k: tags.get(k) for k in versions} == versions
        assert re.fullmatch(r"[0-9a-f]{64}", tags["data.fingerprint"])
        sessions.add(tags["pytest.session"])
        fingerprints.add(tags["data.fingerprint"])
        history = client.get_metric_history(run.info.run_id, "curve")
        assert sorted((m.step, m.value) for m in history) == [(0, 0.0), (1, 0.1), (2, 0.2)]
        files = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert files == {"notes", "artifact.txt"}
        tmp = root / "downloads" / run.info.run_id
        assert artifact_text(uri, run.info.run_id, "notes/hello.txt", tmp) == f"hello {kind}{n}"
        assert artifact_text(uri, run.info.run_id, "artifact.txt", tmp) == f"artifact {kind}{n}"
    assert len(sessions) == 1 and len(fingerprints) == 1

    # A case that raised: FAILED, with the user's traceback as an artifact.
    (boom,) = runs_by_name(db, "exp_002_boom").values()
    assert boom.info.run_name == "exp_boom"
    assert boom.info.status == "FAILED"
    assert boom.data.tags["outcome"] == "error"
    text = artifact_text(uri, boom.info.run_id, "traceback.txt", root / "downloads" / "boom")
    assert "ValueError: user exception 7f3a: no such column" in text
    assert "_load_data()" in text and "exp_002_boom.py" in text
    names = {e.name for e in client.search_experiments()}
    assert names == {"Default", "exp_001_grid", "exp_002_boom"}

    # Editing a tracked file that experiments_data lists: dirty tree, other data.
    write(root, "extra.txt", "v2\n")
    runpytest_forked(project, "-p", "no:xdist", "exp_001_grid.py::exp_grid[n=2-kind=a]")
    second = [
        r for r in all_runs(db, "exp_001_grid") if r.data.tags["pytest.session"] not in sessions
    ]
    assert [r.info.run_name for r in second] == ["exp_grid[n=2-kind=a]"]
    assert second[0].data.tags["git.dirty"] == "true"
    assert second[0].data.tags["git.commit"] == commit
    assert re.fullmatch(r"[0-9a-f]{64}", second[0].data.tags["data.fingerprint"])
    assert second[0].data.tags["data.fingerprint"] not in fingerprints


ONE_CASE = """
    def exp_{name}(seed):
        return {{"seed_seen": float(seed)}}
"""


@pytest.mark.slow
def test_experiment_name_from_ini_and_uri_precedence(
    project: pytest.Pytester, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project.path
    stores = {
        name: copy_store(template, root / "stores" / f"{name}.db") for name in ("ini", "env", "opt")
    }
    project.makeini(
        "[pytest]\n"
        "experiments_mlflow_experiment = team-study\n"
        f"experiments_tracking_uri = {sqlite_uri(stores['ini'])}\n"
    )
    write(root, "exp_001_a.py", ONE_CASE.format(name="a"))
    write(root, "exp_002_b.py", ONE_CASE.format(name="b"))

    def names(db: Path) -> list[str]:
        return sorted(runs_by_name(db, "team-study"))

    # ini only
    runpytest_forked(project, "-p", "no:xdist").assert_outcomes(passed=2)
    assert names(stores["ini"]) == ["exp_a", "exp_b"]
    assert {r.data.params["seed"] for r in all_runs(stores["ini"])} == {"42"}
    # --exp-tracking-uri beats MLFLOW_TRACKING_URI (which MLflow itself would use)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri(stores["env"]))
    runpytest_forked(
        project,
        "-p",
        "no:xdist",
        "--exp-seed",
        "7",
        "--exp-tracking-uri",
        sqlite_uri(stores["opt"]),
    ).assert_outcomes(passed=2)
    assert names(stores["opt"]) == ["exp_a", "exp_b"]
    assert {r.data.params["seed"] for r in all_runs(stores["opt"])} == {"7"}
    assert all_runs(stores["env"]) == []
    assert len(all_runs(stores["ini"])) == 2
    # MLFLOW_TRACKING_URI beats the ini (shown in the JSON; no case selected)
    runpytest_forked(project, "-p", "no:xdist", "-k", "nothing", "--exp-json", "r.json")
    assert read_json(root / "r.json")["session"]["tracking_uri"] == sqlite_uri(stores["env"])
    assert not (root / "mlflow.db").exists()


# Written at session finish, first of all implementations: an xdist worker
# reports "finished" to the controller from its own pytest_sessionfinish, and a
# loaded machine may tear the worker down before its pytest_unconfigure runs.
# The controller writes once more at unconfigure ("controller-end"), after the
# plugin's own end-of-session work. An audit hook notes which thread imported
# mlflow.
IMPORT_PROBE = """
    import gc, json, os, sys, threading

    import pytest

    MLFLOW_IMPORTED_BY = []

    def _audit(event, args):
        if event == "import" and args[0] == "mlflow" and not MLFLOW_IMPORTED_BY:
            MLFLOW_IMPORTED_BY.append(threading.current_thread().name)

    sys.addaudithook(_audit)

    def _write(config, who):
        facts = {
            "heavy": sorted(m for m in ("mlflow", "sklearn", "pandas") if m in sys.modules),
            "ours": sorted(m for m in sys.modules if m.startswith("pytest_experiments.")),
            "plugins": sorted(
                n for n in ("experiments-cases", "experiments-session")
                if config.pluginmanager.get_plugin(n) is not None
            ),
            "frozen": gc.get_freeze_count(),
            "mlflow_imported_by": MLFLOW_IMPORTED_BY[:1],
        }
        with open(os.path.join(str(config.rootpath), f"imported-{who}.json"), "w") as fh:
            json.dump(facts, fh)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(session):
        config = session.config
        _write(config, getattr(config, "workerinput", {}).get("workerid", "controller"))

    def pytest_unconfigure(config):
        if not hasattr(config, "workerinput"):
            _write(config, "controller-end")
"""


def probed(root: Path, who: str) -> dict[str, Any]:
    """What IMPORT_PROBE recorded in process ``who`` (controller, gw0...)."""
    facts: dict[str, Any] = json.loads((root / f"imported-{who}.json").read_text())
    return facts


#: Modules any pytest run loads with the plugin installed (see plugin.py).
START_UP_MODULES = {
    "pytest_experiments.discovery",
    "pytest_experiments.hookspecs",
    "pytest_experiments.keys",
    "pytest_experiments.plugin",
    "pytest_experiments.settings",
}


@pytest.mark.parametrize(
    ("mode", "processes"),
    [(("-p", "no:xdist"), ["controller"]), (("-n", "2"), ["controller", "gw0", "gw1"])],
    ids=["no-xdist", "n2"],
)
def test_no_experiment_collected_no_store_no_mlflow_import(
    project: pytest.Pytester, mode: tuple[str, ...], processes: list[str]
) -> None:
    write(project.path, "conftest.py", IMPORT_PROBE)
    write(project.path, "tests/test_plain.py", "def test_one():\n    assert 1 + 1 == 2\n")
    result = project.runpytest_subprocess(*mode)  # a cold process: what it imports
    result.assert_outcomes(passed=1)
    found = sorted(p.name for p in project.path.glob("imported-*.json"))
    assert found == sorted(f"imported-{p}.json" for p in [*processes, "controller-end"])
    for who in [*processes, "controller-end"]:
        facts = probed(project.path, who)
        assert facts["heavy"] == [], who
        # A plain suite pays for the plugin's start-up modules only, and no hook per test.
        extra = set(facts["ours"]) - START_UP_MODULES
        if who.startswith("controller") and "-n" in mode:  # xdist hands settings to workers
            extra -= {"pytest_experiments.session"}
        assert extra == set(), who
        assert facts["plugins"] == [], who
        assert facts["frozen"] == 0, who
    assert not (project.path / "mlflow.db").exists()
    assert not (project.path / "mlruns").exists()


@pytest.mark.parametrize(
    ("mode", "runners"),
    [(("-p", "no:xdist"), ["controller"]), (("-n", "1"), ["gw0"])],
    ids=["no-xdist", "xdist"],
)
@pytest.mark.slow
def test_tracking_processes_freeze_what_mlflow_loaded(
    project: pytest.Pytester, mode: tuple[str, ...], runners: list[str]
) -> None:
    """Each process that runs tracked cases moves the ~300,000 objects of
    mlflow & co. out of the collector's reach once (cheap full collections).
    The xdist controller, which runs none, imports MLflow in a background
    thread once the first tracked result arrives (so the end of the session,
    the parent runs, finds it loaded) and freezes after that import."""
    write(project.path, "conftest.py", IMPORT_PROBE)
    write(
        project.path,
        "exp_001_many.py",
        """
        from pytest_experiments import experiment

        @experiment(params={"i": list(range(4))})
        def exp_many(i):
            return {"m": float(i)}
        """,
    )
    result = project.runpytest_subprocess(*mode)  # a cold process: what it imports
    result.assert_outcomes(passed=4)
    assert "warning" not in result.outlines[-1]  # nothing of MLflow's import leaks out
    for who in runners:
        facts = probed(project.path, who)
        assert "mlflow" in facts["heavy"], who
        assert facts["frozen"] > 100_000, who
        assert "experiments-cases" in facts["plugins"], who
        assert facts["mlflow_imported_by"] == ["MainThread"], who
    controller = probed(project.path, "controller")
    assert "experiments-session" in controller["plugins"]
    end = probed(project.path, "controller-end")
    assert end["frozen"] > 100_000
    if "-n" in mode:
        assert end["mlflow_imported_by"] == ["pytest-experiments-warmup"]
    # the session's parent run was ended from the controller
    runs = all_runs(project.path / "mlflow.db", parents=True)
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 5


@pytest.mark.parametrize("mode", [("-p", "no:xdist"), ("-n", "2")], ids=["no-xdist", "n2"])
def test_a_bad_k_expression_is_pytests_usage_error_and_builds_no_store(
    project: pytest.Pytester, mode: tuple[str, ...]
) -> None:
    """pytest still calls pytest_collection_finish when selecting raised:
    tracking must not be prepared for a session that is stopping."""
    write(
        project.path,
        "exp_001_a.py",
        """
        from pytest_experiments import experiment

        @experiment(params={"n": [1, 2]})
        def exp_a(n):
            return {"x": float(n)}
        """,
    )
    result = runpytest_forked(project, *mode, "-k", "exp_a and (")
    if "-n" not in mode:  # xdist 3.8 itself ends such a session with an INTERNALERROR
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        output = result.stdout.str() + result.stderr.str()
        assert "Wrong expression passed to '-k': exp_a and (" in output
        assert "Traceback" not in output
    assert not list(project.path.glob("mlflow.db*")) and not (project.path / "mlruns").exists()


def test_no_tracking_creates_no_store_and_run_methods_are_no_ops(
    project: pytest.Pytester,
) -> None:
    write(project.path, "conftest.py", IMPORT_PROBE)
    write(
        project.path,
        "exp_001_quiet.py",
        """
        def exp_quiet(experiment_run, tmp_path):
            experiment_run.log_param("p", 1)
            experiment_run.log_metric("m", 1.0, step=3)
            experiment_run.set_tag("t", "v")
            experiment_run.log_text("hello", "hello.txt")
            experiment_run.log_model(object())
            local = tmp_path / "f.txt"
            local.write_text("x")
            experiment_run.log_artifact(local)
            return {"no_run_id": float(experiment_run.run_id is None),
                    "no_url": float(experiment_run.url is None)}
        """,
    )
    result = project.runpytest_subprocess(  # a cold process: what it imports
        "-p", "no:xdist", "--exp-no-tracking", "--exp-json=r.json"
    )
    result.assert_outcomes(passed=1)
    (case,) = results_by_case(project.path / "r.json").values()
    assert case["metrics"] == {"no_run_id": 1.0, "no_url": 1.0}
    assert case["run_id"] is None
    assert probed(project.path, "controller")["heavy"] == []
    assert not (project.path / "mlflow.db").exists()
    assert not (project.path / "mlruns").exists()


AUTOLOG = """
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from pytest_experiments import experiment


    @experiment(params={"mode": ["generic", "sklearn"]})
    def exp_auto(mode, seed, experiment_run):
        X, y = make_classification(n_samples=100, n_features=5, random_state=seed)
        if mode == "generic":
            mlflow.autolog(log_models=False, silent=True)
        else:
            mlflow.sklearn.autolog(log_models=False, silent=True)
        LogisticRegression(C=0.5, max_iter=300).fit(X, y)
        mlflow.autolog(disable=True)
        mlflow.log_metric("plain_metric", 7.0)
        forest = RandomForestClassifier(n_estimators=5, random_state=seed).fit(X, y)
        experiment_run.log_model(forest)
        return {"acc": float(forest.score(X, y))}
"""


def test_autolog_plain_mlflow_calls_and_log_model_land_in_the_case_run(
    project: pytest.Pytester, template: Path
) -> None:
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import make_classification

    db = copy_store(template, project.path / "mlflow.db")
    write(project.path, "exp_001_auto.py", AUTOLOG)
    runpytest_forked(project, "-p", "no:xdist").assert_outcomes(passed=2)

    runs = runs_by_name(db, "exp_001_auto")
    assert sorted(runs) == ["exp_auto[mode=generic]", "exp_auto[mode=sklearn]"]
    client = MlflowClient(sqlite_uri(db))
    X, y = make_classification(n_samples=100, n_features=5, random_state=42)
    for run in runs.values():
        assert run.info.status == "FINISHED"
        # autolog's params and training metrics, in the case's own run
        assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "300"
        assert run.data.params["mode"] in run.info.run_name
        assert "training_accuracy_score" in run.data.metrics
        assert run.data.metrics["plain_metric"] == 7.0
        (model,) = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
        )
        assert model.name == "model"
        loaded = mlflow.sklearn.load_model(model.artifact_location)
        assert float((loaded.predict(X) == y).mean()) == run.data.metrics["acc"]


MANY = """
    from pytest_experiments import experiment


    @experiment(params={"i": list(range(30))})
    def exp_many(i, experiment_run):
        experiment_run.log_metric("half", i / 2)
        return {"value": float(i)}
"""


@pytest.mark.slow
def test_n8_on_a_brand_new_sqlite_default_loses_and_duplicates_no_run(
    project: pytest.Pytester,
) -> None:
    """-n 8 with 60 cases in two files, in a project with no store yet: all
    eight workers race to create the default store and both experiments,
    then write their runs side by side."""
    from mlflow.tracking import MlflowClient

    stems = ("exp_001_many", "exp_002_many")
    for stem in stems:
        write(project.path, f"{stem}.py", MANY)
    db = project.path / "mlflow.db"
    assert not db.exists()
    collected = runpytest_forked(project, "--collect-only", "-q", "--exp-no-tracking")
    ids = sorted(line for line in collected.outlines if line.startswith("exp_00"))
    assert len(ids) == 60

    result = runpytest_forked(project, "-n", "8", timeout=600)

    result.assert_outcomes(passed=60)
    text = output(result).lower()
    for problem in ("locked", "duplicate column", "operationalerror"):
        assert problem not in text, problem
    assert_no_traceback(output(result))
    client = MlflowClient(sqlite_uri(db))
    assert sorted(e.name for e in client.search_experiments()) == ["Default", *stems]
    runs = all_runs(db)
    assert sorted(r.data.tags["pytest.nodeid"] for r in runs) == ids  # none lost, none twice
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        file, _, case_id = run.data.tags["pytest.nodeid"].partition("::")
        assert run.info.run_name == case_id
        assert client.get_experiment(run.info.experiment_id).name == file[:-3]
        i = int(run.data.params["i"])
        assert own_metrics(run) == {"value": float(i), "half": i / 2}
    assert [p.name for p in project.path.glob(".mlflow.db*")] == []  # no temporary leftovers


# -- transient store failures ------------------------------------------------------


def _fails_once(calls: list[int], fail: Callable[[], None]) -> str:
    calls.append(1)
    if len(calls) == 1:
        fail()
    return "done"


def _environment_race() -> None:
    """What MLflow's REST client raises when another thread removes an
    environment variable while ``requests`` reads the environment for proxy
    settings, before anything is sent: MLflow's own telemetry thread unsets
    ``_MLFLOW_TELEMETRY_SESSION_ID`` that way on a machine that cannot reach
    its config URL (seen failing a case of test_shards in CI)."""
    from mlflow.exceptions import MlflowException

    try:
        raise KeyError("_MLFLOW_TELEMETRY_SESSION_ID")
    except KeyError as e:  # as mlflow.utils.rest_utils.http_request wraps it: no "from"
        raise MlflowException(  # noqa: B904
            f"API request to http://127.0.0.1:5000/api/2.0/mlflow/runs/search "
            f"failed with exception {e}"
        )


def test_a_request_broken_by_the_environment_changing_under_it_is_retried() -> None:
    from pytest_experiments.tracking import _retry

    calls: list[int] = []
    assert _retry(_fails_once, calls, _environment_race) == "done"
    assert len(calls) == 2


def _not_found() -> None:
    from mlflow.exceptions import MlflowException

    raise MlflowException("RESOURCE_DOES_NOT_EXIST: no run")


def test_a_store_that_answers_with_an_error_is_not_asked_again() -> None:
    from mlflow.exceptions import MlflowException

    from pytest_experiments.tracking import _retry

    calls: list[int] = []
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        _retry(_fails_once, calls, _not_found)
    assert len(calls) == 1


def test_a_chart_of_a_repeated_metric_shows_the_mean_alone_and_the_samples_apart(
    project: pytest.Pytester, template: Path
) -> None:
    # MLflow shows a metric's latest value and charts its whole history: the
    # mean alone there (8 repeats drew 9 points), the samples under their own key.
    write(
        project.path,
        "exp_001_rep.py",
        """
        from pytest_experiments import experiment

        @experiment(params={"k": [1]}, repeats=3)
        def exp_rep(k, seed):
            return {"acc": (seed % 97) / 100, "one": 1.0}
        """,
    )
    from mlflow.tracking import MlflowClient

    db = copy_store(template, project.path / "mlflow.db")
    result = runpytest_forked(project, "-n", "2", "--exp-json", "r.json")
    assert result.ret == 0, output(result)
    (run,) = all_runs(db)
    client = MlflowClient(sqlite_uri(db))
    data = read_json(project.path / "r.json")["results"][0]
    samples = data["spread"]["acc"]["samples"]
    assert len(samples) == 3 and run.data.metrics["acc"] == data["metrics"]["acc"]
    mean = client.get_metric_history(run.info.run_id, "acc")
    assert [(m.step, m.value) for m in mean] == [(0, data["metrics"]["acc"])]
    kept = client.get_metric_history(run.info.run_id, "acc.samples")
    assert sorted((m.step, m.value) for m in kept) == list(enumerate(samples))
    # A metric whose samples were all alike keeps them apart too.
    assert [m.step for m in client.get_metric_history(run.info.run_id, "one")] == [0]


def test_mlflows_cloudpickle_caution_shows_once_in_a_failure(
    project: pytest.Pytester, template: Path
) -> None:
    # MLflow's own stderr handler repeated what pytest's log capture shows.
    write(
        project.path,
        "exp_001_model.py",
        """
        from sklearn.linear_model import LogisticRegression
        from pytest_experiments import experiment

        @experiment(expect={"acc": ">= 2"})
        def exp_model(experiment_run):
            model = LogisticRegression().fit([[0], [1], [0], [1]], [0, 1, 0, 1])
            experiment_run.log_model(model)
            return {"acc": 1.0}
        """,
    )
    copy_store(template, project.path / "mlflow.db")
    for mode in (("-p", "no:xdist"), ("-n", "2")):
        result = runpytest_forked(project, *mode)
        assert result.ret == 1, output(result)
        assert output(result).count("cloudpickle format requires exercising caution") == 1, mode
