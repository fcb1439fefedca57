"""Fault injection with real processes, signals, stores and servers.

Each test provokes one fault for real and checks what the user sees (outcome
lines, messages, exit status), what the MLflow store holds, and that nothing
else was lost.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from _forked import popen_pytest, runpytest_forked
from _runs import all_runs, own_metrics, sqlite_uri
from _server import (
    WAIT_S,
    artifact_text,
    assert_no_traceback,
    copy_store,
    read_json,
    results_by_case,
    running_server,
    runs_by_name,
    wait_for,
    write,
)

from devtools.servers import free_port, kill_group, port_open


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def start_pytest(root: Path, *args: str) -> Any:
    """pytest in its own process group (forked from the zygote), output to
    ``root/pytest.out``, with Ctrl-C's default action."""
    return popen_pytest(["-p", "no:cacheprovider", *args], root, root / "pytest.out")


# A case that signals it is running (a file), then waits to be interrupted.
HANG = """
    import os, time
    from pathlib import Path
    from pytest_experiments import experiment


    @experiment(params={"i": [0, 1, 2]})
    def exp_slow(i):
        if i == 1 and Path("hang.flag").exists():
            Path(f"ready-{os.getpid()}").write_text("running")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                time.sleep(0.05)
        return {"i": float(i)}
"""


# -- a case that raises -----------------------------------------------------------


def test_a_raising_case_fails_with_the_users_traceback_and_the_rest_is_recorded(
    project: pytest.Pytester, template: Path
) -> None:
    db = copy_store(template, project.path / "mlflow.db")
    write(
        project.path,
        "exp_001_mixed.py",
        """
        from pytest_experiments import experiment


        def _explode(i):
            raise RuntimeError(f"kaboom from user code, case {i}")


        @experiment(params={"i": [0, 1, 2, 3]})
        def exp_mixed(i):
            if i == 2:
                _explode(i)
            return {"score": i / 10}
        """,
    )
    result = runpytest_forked(
        project, "-p", "no:xdist", "--exp-report", "report.md", "--exp-json", "out.json"
    )

    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    text = output(result)
    assert "RuntimeError: kaboom from user code, case 2" in text
    assert "_explode(i)" in text  # the user's own frames are shown
    result.stdout.fnmatch_lines(["FAILED exp_001_mixed.py::exp_mixed[[]i=2[]]*"])

    runs = runs_by_name(db, "exp_001_mixed")
    assert sorted(runs) == [f"exp_mixed[i={i}]" for i in range(4)]
    for i in (0, 1, 3):
        run = runs[f"exp_mixed[i={i}]"]
        assert (run.info.status, run.data.tags["outcome"]) == ("FINISHED", "new")
        assert own_metrics(run) == {"score": i / 10}
    failed = runs["exp_mixed[i=2]"]
    assert (failed.info.status, failed.data.tags["outcome"]) == ("FAILED", "error")
    tb = artifact_text(sqlite_uri(db), failed.info.run_id, "traceback.txt", project.path / "dl")
    assert "RuntimeError: kaboom from user code, case 2" in tb and "_explode" in tb

    results = results_by_case(project.path / "out.json")
    assert {k: v["outcome"] for k, v in results.items()} == {
        "exp_mixed[i=0]": "new",
        "exp_mixed[i=1]": "new",
        "exp_mixed[i=2]": "error",
        "exp_mixed[i=3]": "new",
    }
    report = (project.path / "report.md").read_text(encoding="utf-8")
    failures = report[report.lower().index("failure") :]
    assert "kaboom from user code, case 2" in failures


# -- a worker that dies ------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_dying_mid_case_is_reported_crashed_and_its_run_killed(
    project: pytest.Pytester, template: Path
) -> None:
    db = copy_store(template, project.path / "mlflow.db")
    write(
        project.path,
        "exp_001_crash.py",
        """
        import os
        from pytest_experiments import experiment


        @experiment(params={"i": [0, 1, 2, 3]})
        def exp_crash(i, experiment_run):
            experiment_run.log_param("started", "yes")
            if i == 1:
                os._exit(1)
            return {"score": float(i)}
        """,
    )
    result = runpytest_forked(
        project, "-n", "2", "--exp-report", "report.md", "--exp-json", "out.json", timeout=600
    )

    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*experiments:*1 crashed*"])
    results = results_by_case(project.path / "out.json")
    assert {k: v["outcome"] for k, v in results.items()} == {
        "exp_crash[i=0]": "new",
        "exp_crash[i=1]": "crashed",
        "exp_crash[i=2]": "new",
        "exp_crash[i=3]": "new",
    }
    runs = runs_by_name(db, "exp_001_crash")
    assert sorted(runs) == [f"exp_crash[i={i}]" for i in range(4)]
    assert runs["exp_crash[i=1]"].info.status == "KILLED"
    for i in (0, 2, 3):
        assert runs[f"exp_crash[i={i}]"].info.status == "FINISHED"
        assert own_metrics(runs[f"exp_crash[i={i}]"]) == {"score": float(i)}
    report = (project.path / "report.md").read_text(encoding="utf-8")
    assert "crashed" in report and "exp\\_crash" in report


# -- Ctrl-C --------------------------------------------------------------------------


def test_ctrl_c_ends_the_run_in_flight_killed_and_writes_a_partial_report(
    project: pytest.Pytester, template: Path
) -> None:
    root = project.path
    db = copy_store(template, root / "mlflow.db")
    write(root, "exp_001_slow.py", HANG)
    (root / "hang.flag").touch()

    proc = start_pytest(root, "-n", "0", "--exp-report", "report.md", "--exp-json", "out.json")
    try:
        wait_for(lambda: any(root.glob("ready-*")), what="the case to start")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=WAIT_S)
    finally:
        kill_group(proc)
    out = (root / "pytest.out").read_text(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert time.monotonic() - started < WAIT_S
    assert "KeyboardInterrupt" in out

    runs = runs_by_name(db, "exp_001_slow")
    assert sorted(runs) == ["exp_slow[i=0]", "exp_slow[i=1]"]  # i=2 never started
    assert runs["exp_slow[i=0]"].info.status == "FINISHED"
    assert runs["exp_slow[i=1]"].info.status == "KILLED"
    report = (root / "report.md").read_text(encoding="utf-8")
    assert "partial" in report.lower()
    assert "exp\\_slow" in report
    document = read_json(root / "out.json")
    assert document["session"]["partial"] is True
    assert [r["case_id"] for r in document["results"]][:1] == ["exp_slow[i=0]"]


# -- a session that died entirely ------------------------------------------------------


@pytest.mark.slow
def test_runs_of_a_session_killed_outright_are_ended_by_the_next_session(
    project: pytest.Pytester, template: Path
) -> None:
    root = project.path
    db = copy_store(template, root / "mlflow.db")
    write(root, "exp_001_slow.py", HANG)
    (root / "hang.flag").touch()

    proc = start_pytest(root, "-n", "2")
    try:
        wait_for(lambda: any(root.glob("ready-*")), what="the case to start")
        os.killpg(proc.pid, signal.SIGKILL)  # controller and workers, no cleanup at all
        proc.wait(timeout=WAIT_S)
    finally:
        kill_group(proc)
    orphan = runs_by_name(db, "exp_001_slow")["exp_slow[i=1]"]
    assert orphan.info.status == "RUNNING"  # what the dead session left behind

    (root / "hang.flag").unlink()
    result = runpytest_forked(project, "-p", "no:xdist")
    result.assert_outcomes(passed=3)

    runs = [r for r in all_runs(db, "exp_001_slow") if r.info.run_id == orphan.info.run_id]
    assert [r.info.status for r in runs] == ["KILLED"]
    mine = [
        r
        for r in all_runs(db, "exp_001_slow")
        if r.data.tags["pytest.session"] != orphan.data.tags["pytest.session"]
    ]
    assert sorted(r.info.run_name for r in mine) == [f"exp_slow[i={i}]" for i in range(3)]
    assert {r.info.status for r in mine} == {"FINISHED"}


# -- store unavailable at start --------------------------------------------------------


MARKING = """
    from pathlib import Path

    def exp_marks():
        Path("case-ran").write_text("yes")
        return {"x": 1.0}
"""


@pytest.mark.parametrize(
    ("store", "mode"),
    [
        ("sqlite-under-a-file", ("-p", "no:xdist")),
        ("closed-port", ("-p", "no:xdist")),
        # Under xdist the controller checks the store (any kind) once, before
        # any worker gets a case: one kind shows that path.
        ("closed-port", ("-n", "2")),
    ],
    ids=["sqlite-under-a-file-no-xdist", "closed-port-no-xdist", "closed-port-n2"],
)
def test_an_unusable_store_stops_the_session_early_with_a_clear_error(
    project: pytest.Pytester, store: str, mode: tuple[str, ...]
) -> None:
    write(project.path, "exp_001_marks.py", MARKING)
    if store == "closed-port":
        port = free_port()  # nothing listens there
        uri, named = f"http://user:s3cret@127.0.0.1:{port}", f"127.0.0.1:{port}"
    else:
        (project.path / "blocker").write_text("a file, not a folder")
        db = project.path / "blocker" / "sub" / "mlflow.db"
        uri, named = sqlite_uri(db), str(db)

    started = time.monotonic()
    result = runpytest_forked(project, *mode, "--exp-tracking-uri", uri, timeout=120)
    elapsed = time.monotonic() - started

    text = output(result)
    assert result.ret not in (0, 1), text  # a usage problem, not test failures
    assert elapsed < 60
    assert named in text
    assert "--exp-no-tracking" in text  # tells the user the way out
    assert_no_traceback(text)
    assert "s3cret" not in text
    assert not (project.path / "case-ran").exists()
    assert (project.path / "blocker").is_file() or store == "closed-port"


# -- the server dies mid-session ---------------------------------------------------------


@pytest.mark.slow
def test_a_server_dying_mid_session_is_reported_and_results_are_kept(
    project: pytest.Pytester,
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(
        project.path,
        "exp_001_outage.py",
        """
        import os, signal, socket, time
        from pytest_experiments import experiment


        def _port_open(port):
            with socket.socket() as s:
                s.settimeout(1.0)
                return s.connect_ex(("127.0.0.1", port)) == 0


        @experiment(params={"i": [0, 1, 2]})
        def exp_outage(i):
            if i == 1:  # the tracking server goes away while this case runs
                os.killpg(int(os.environ["SERVER_PGID"]), signal.SIGKILL)
                deadline = time.monotonic() + 60
                while _port_open(int(os.environ["SERVER_PORT"])) and time.monotonic() < deadline:
                    time.sleep(0.05)
            return {"value": i * 10.0}
        """,
    )
    # Fail fast instead of retrying for minutes (MLflow's own settings).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    with running_server(tmp_path_factory.mktemp("dying-server"), template) as server:
        assert server.proc is not None
        monkeypatch.setenv("SERVER_PGID", str(server.proc.pid))
        monkeypatch.setenv("SERVER_PORT", str(server.port))
        result = runpytest_forked(
            project,
            "-p",
            "no:xdist",
            "--exp-tracking-uri",
            f"http://user:s3cret@127.0.0.1:{server.port}",
            "--exp-json",
            "out.json",
            "--exp-report",
            "report.md",
            timeout=600,
        )
        assert not port_open(server.port)

    # Detected once: tracking is off for the rest of the session, every case
    # still runs and reaches the report and JSON, and nothing fails for it.
    assert result.ret == 0, output(result)
    result.assert_outcomes(passed=3)
    results = results_by_case(project.path / "out.json")
    assert sorted(results) == [f"exp_outage[i={i}]" for i in range(3)]
    for i in (0, 1, 2):
        assert results[f"exp_outage[i={i}]"]["metrics"] == {"value": i * 10.0}
        assert results[f"exp_outage[i={i}]"]["outcome"] == "new"
    assert results["exp_outage[i=0]"]["untracked"] is None
    for i in (1, 2):
        reason = results[f"exp_outage[i={i}]"]["untracked"]
        assert "cannot reach tracking server" in reason and "exp_outage[i=1]" in reason
    assert results["exp_outage[i=1]"]["run_id"] and results["exp_outage[i=2]"]["run_id"] is None
    text = output(result)
    assert text.count("tracking is off for the rest of this session, results still go") == 1
    assert "During handling of the above exception" not in text  # one clear message
    report = (project.path / "report.md").read_text(encoding="utf-8")
    assert "exp\\_outage" in report
    document = (project.path / "out.json").read_text(encoding="utf-8")
    for where, content in {"output": text, "report": report, "json": document}.items():
        assert "s3cret" not in content, where


# -- params MLflow refuses, and secrets ------------------------------------------------------


def test_params_mlflow_refuses_are_handled_visibly_and_secrets_masked(
    project: pytest.Pytester, template: Path
) -> None:
    db = copy_store(template, project.path / "mlflow.db")
    secrets = ("sk-live-abc123", "tok-xyz789", "hunter2-pw")
    write(
        project.path,
        "exp_001_params.py",
        """
        from pytest_experiments import experiment


        @experiment(params={"api_key": ["sk-live-abc123"], "token": ["tok-xyz789"], "n": [1]})
        def exp_params(params, experiment_run):
            experiment_run.log_param("password", "hunter2-pw")
            experiment_run.log_param("notes", "x" * 7000)
            experiment_run.log_param("lr@rate!", 0.1)
            experiment_run.log_param("n", 2)  # clashes with the case's own param
            experiment_run.log_param("seed", 42)  # agrees with it: no warning
            return {"key_length": float(len(params["api_key"])),
                    "token_length": float(len(params["token"]))}
        """,
    )
    result = runpytest_forked(
        project, "-p", "no:xdist", "--exp-json", "out.json", "--exp-report", "report.md", "-rA"
    )

    assert result.ret == 0
    text = output(result)
    from pytest_experiments.ids import mask_secret

    key_mask, token_mask = mask_secret("sk-live-abc123"), mask_secret("tok-xyz789")
    assert key_mask != token_mask and key_mask.startswith("***")
    case_id = f"exp_params[api_key={key_mask}-token={token_mask}-n=1]"
    result.stdout.fnmatch_lines([f"*{case_id.replace('[', '[[]')}*notes*7000*"])
    assert "lr@rate!" in text  # the odd key is named in a warning
    runs = runs_by_name(db, "exp_001_params")
    assert list(runs) == [case_id]
    run = runs[case_id]
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert (params["api_key"], params["token"]) == (key_mask, token_mask)
    assert params["password"] == mask_secret("hunter2-pw")
    assert params["n"] == "1"
    assert 1000 < len(params["notes"]) < 7000 and params["notes"].startswith("xxx")
    (renamed,) = [k for k in params if k.startswith("lr") and k != "lr@rate!"]
    assert params[renamed] == "0.1"
    assert own_metrics(run) == {"key_length": 14.0, "token_length": 10.0}  # the real values

    (case,) = results_by_case(project.path / "out.json").values()
    assert case["case_id"] == case_id
    assert case["params"] == {"api_key": key_mask, "token": token_mask, "n": 1}
    assert any("notes" in note for note in case["notes"])
    assert any("lr@rate!" in note for note in case["notes"])
    assert [n for n in case["notes"] if "differs from the case's" in n] == [
        "param 'n' logged by the experiment (2) differs from the case's; "
        "the case's value (1) is kept"
    ]
    assert params["seed"] == "42"
    report = (project.path / "report.md").read_text(encoding="utf-8")
    stored = "\n".join(f"{k}={v}" for k, v in params.items()) + "\n".join(run.data.tags.values())
    for where, content in {
        "output": text,
        "report": report,
        "json": (project.path / "out.json").read_text(encoding="utf-8"),
        "store": stored,
    }.items():
        for secret in secrets:
            assert secret not in content, (where, secret)
