"""The test harness: a session forked from the zygote (``_forked.py``) is the
session ``runpytest_subprocess`` would start, only cheaper; where the private
parts of pytest, xdist and execnet it rests on are not as it knows them
(``_internals.py``), every session starts cold instead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _internals
import pytest
from _forked import ForkedPopen, Zygote, popen_pytest, popen_python, runpytest_forked

#: The tests of the zygote itself, which has nothing to do where sessions start cold.
needs_fork = pytest.mark.skipif(
    bool(_internals.forking_off()), reason=f"sessions start cold: {_internals.forking_off()}"
)

PROBE = """
import json, os, sys


def test_probe():
    with open("probe.json", "w") as fh:
        json.dump(
            {
                "cwd": os.getcwd(),
                "path0": sys.path[0],
                "pythonpath0": os.environ["PYTHONPATH"].split(os.pathsep)[0],
                "path": sys.path,
                "probe": os.environ.get("FORK_PROBE"),
                "home": os.environ["HOME"],
                "pid": os.getpid(),
                "stdin": os.read(0, 16).decode(),  # closed: nothing to read
            },
            fh,
        )
    assert os.environ.get("FORK_FAIL") != "1"
"""


def probe(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "probe.json").read_text())
    return data


def test_a_forked_session_gets_the_tests_folder_environment_and_exit_status(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_probe=PROBE)
    monkeypatch.setenv("FORK_PROBE", "seen")
    forked = runpytest_forked(project, "-p", "no:xdist")
    forked.assert_outcomes(passed=1)
    seen = probe(project.path)
    assert seen["cwd"] == seen["path0"] == seen["pythonpath0"] == str(project.path)
    assert seen["probe"] == "seen" and seen["home"] == os.environ["HOME"]
    assert seen["pid"] != os.getpid() and seen["stdin"] == ""
    text = forked.stdout.str() + forked.stderr.str()
    assert "Warning" not in text  # e.g. plugins the zygote imported before pytest could rewrite

    real = project.runpytest_subprocess("-p", "no:xdist")
    real.assert_outcomes(passed=1)
    assert {k: v for k, v in probe(project.path).items() if k != "pid"} == {
        k: v for k, v in seen.items() if k != "pid"
    }

    monkeypatch.setenv("FORK_FAIL", "1")
    failed = runpytest_forked(project, "-p", "no:xdist")
    failed.assert_outcomes(failed=1)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED


@needs_fork
def test_a_forked_session_past_its_timeout_is_killed_and_the_next_one_runs(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_slow="""
        import time


        def test_slow():
            open("started", "w").close()
            time.sleep(120)
        """
    )
    # Once its test runs, a timeout ends it: killed, by SIGKILL to its group.
    proc = popen_pytest(["-p", "no:xdist"], project.path, project.path / "log", dict(os.environ))
    assert isinstance(proc, ForkedPopen)
    wait_for_files(project.path / "started")
    assert proc.zygote.finish(proc.pid, timeout=0) == (-signal.SIGKILL, True)
    # runpytest_forked says so as runpytest_subprocess does; the next session runs.
    with pytest.raises(project.TimeoutExpired):
        runpytest_forked(project, "-p", "no:xdist", timeout=2)
    project.makepyfile(test_slow="def test_quick():\n    pass\n")
    runpytest_forked(project, "-p", "no:xdist").assert_outcomes(passed=1)


@needs_fork
def test_the_zygote_keeps_no_tests_environment(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The zygote starts with this process's environment from before any
    test: a test that happens to start it with its own PYTHONPATH (the run
    cache's tests add a fake library) leaves nothing to later sessions. (A
    zygote of its own, without the imports: the environment is the point.)"""
    site = tmp_path_factory.mktemp("site")
    (site / "leak_probe.py").write_text("")
    project.makepyfile(test_probe="def test_probe():\n    import leak_probe\n")
    with monkeypatch.context() as patch:
        patch.setenv("PYTHONPATH", str(site))
        zygote = Zygote(preload=False)
        try:
            environ = Path(f"/proc/{zygote.proc.pid}/environ").read_bytes().split(b"\0")
            assert f"PYTHONPATH={site}".encode() not in environ
            runpytest_forked(project, "-p", "no:xdist", using=zygote).assert_outcomes(passed=1)
            patch.delenv("PYTHONPATH")
            runpytest_forked(project, "-p", "no:xdist", using=zygote).assert_outcomes(failed=1)
        finally:
            zygote.close()


WORKER_PROBE = """
import json, os, sys


def pytest_configure(config):
    who = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(f"{who}.json", "w") as fh:
        json.dump(
            {
                "pid": os.getpid(),
                "ppid": os.getppid(),
                "pgid": os.getpgid(0),
                "cwd": os.getcwd(),
                "probe": os.environ.get("FORK_PROBE"),
                # a cold worker has not imported MLflow by now; a forked one has
                "warm": "mlflow" in sys.modules,
                "path": sys.path,
            },
            fh,
        )
"""


@needs_fork
def test_xdist_workers_of_a_forked_session_are_forked_too(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They get the controller's folder, environment and import path (as cold
    workers of a cold session do), join its process group (a timeout kills
    them with it), and a worker that dies is a crash to xdist, as with a
    worker it started itself."""
    project.makeconftest(WORKER_PROBE)
    project.makepyfile(
        test_some="""
        import os

        def test_one():
            pass

        def test_two():
            pass

        def test_dies():
            if os.environ.get("FORK_DIE"):
                os._exit(3)
        """
    )
    monkeypatch.setenv("FORK_PROBE", "seen")
    project.runpytest_subprocess("-n", "2").assert_outcomes(passed=3)  # all cold
    cold = probe_file(project.path / "gw0.json")
    assert cold["warm"] is False

    runpytest_forked(project, "-n", "2").assert_outcomes(passed=3)
    controller = probe_file(project.path / "controller.json")
    for worker in ("gw0", "gw1"):
        seen = probe_file(project.path / f"{worker}.json")
        assert seen["warm"] is True, worker
        assert seen["pgid"] == controller["pid"] == controller["pgid"], worker
        assert seen["cwd"] == str(project.path) and seen["probe"] == "seen", worker
        assert seen["path"] == cold["path"], worker  # where its imports come from

    monkeypatch.setenv("FORK_DIE", "1")
    crashed = runpytest_forked(project, "-n", "2", "-p", "no:randomly")
    crashed.assert_outcomes(passed=2, failed=1)
    assert "crashed while running" in crashed.stdout.str()


@needs_fork
def test_forked_sessions_run_side_by_side_each_with_its_own_workers(
    project: pytest.Pytester,
) -> None:
    """Two sessions started at once (as the shard tests start theirs): each
    exits with its own status, and each one's workers sit in its process group."""
    project.makeconftest(
        WORKER_PROBE.replace('f"{who}.json"', "f\"{who}-{os.environ['SIDE']}.json\"")
    )
    project.makepyfile(
        test_side="""
        import os

        def test_side():
            assert os.environ["SIDE"] != "b"
        """
    )
    started = {
        side: popen_pytest(
            ["-n", "2", "-p", "no:cacheprovider"],
            project.path,
            project.path / f"{side}.log",
            {**os.environ, "SIDE": side},
        )
        for side in ("a", "b")
    }
    assert started["a"].wait(timeout=120) == pytest.ExitCode.OK
    assert started["b"].wait(timeout=120) == pytest.ExitCode.TESTS_FAILED
    for side, proc in started.items():
        controller = probe_file(project.path / f"controller-{side}.json")
        assert controller["pid"] == controller["pgid"] == proc.pid
        for worker in ("gw0", "gw1"):
            seen = probe_file(project.path / f"{worker}-{side}.json")
            assert seen["warm"] is True and seen["pgid"] == proc.pid, (side, worker)


PROBER = """
import json, os, subprocess, sys

if __name__ == "__main__":
    role = sys.argv[1]
    seen = {"argv": sys.argv, "path": sys.path, "pgid": os.getpgid(0)}
    seen["warm"] = "mlflow" in sys.modules
    if role == "parent":  # starts itself again, as MLflow's CLI starts uvicorn
        seen["child_rc"] = subprocess.run([sys.executable, "-m", "prober", "child"]).returncode
    with open(f"{role}.json", "w") as fh:
        json.dump(seen, fh)
    sys.exit(3 if role == "child" else 0)
"""


@needs_fork
def test_a_forked_python_runs_a_module_and_forks_what_it_starts_too(
    project: pytest.Pytester,
) -> None:
    """``popen_python(["-m", ...])`` (how the tests start ``mlflow server``)
    runs the module as a cold ``python -m`` does, and a process it starts as
    ``sys.executable -m ...`` is forked too, in its process group, with its
    exit status."""
    project.makepyfile(prober=PROBER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cold = subprocess.run([sys.executable, "-m", "prober", "parent"], cwd=project.path, env=env)
    assert cold.returncode == 0
    reference = {role: probe_file(project.path / f"{role}.json") for role in ("parent", "child")}
    assert reference["parent"]["warm"] is False and reference["parent"]["child_rc"] == 3

    proc = popen_python(["-m", "prober", "parent"], project.path, project.path / "log", env)
    assert proc.wait(timeout=60) == 0, (project.path / "log").read_text()
    for role in ("parent", "child"):
        seen = probe_file(project.path / f"{role}.json")
        assert seen["warm"] is True and seen["pgid"] == proc.pid, role
        assert seen["argv"] == reference[role]["argv"], role
        assert seen["path"] == reference[role]["path"], role
    assert probe_file(project.path / "parent.json")["child_rc"] == 3


@needs_fork
def test_forked_xdist_workers_past_a_timeout_are_killed(project: pytest.Pytester) -> None:
    project.makeconftest(WORKER_PROBE)
    project.makepyfile(
        test_slow="""
        import os
        import time

        def test_slow():
            open(f"started-{os.environ['PYTEST_XDIST_WORKER']}", "w").close()
            time.sleep(120)

        def test_slow_too():
            test_slow()
        """
    )
    proc = popen_pytest(
        ["-n", "2", "-p", "no:randomly"], project.path, project.path / "log", dict(os.environ)
    )
    assert isinstance(proc, ForkedPopen)
    wait_for_files(project.path / "started-gw0", project.path / "started-gw1")
    pids = [probe_file(project.path / f"{w}.json")["pid"] for w in ("gw0", "gw1")]
    assert all(alive(pid) for pid in pids)
    assert proc.zygote.finish(proc.pid, timeout=0)[1] is True  # timed out, group killed
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


def test_with_the_known_versions_sessions_workers_and_servers_are_forked(
    project: pytest.Pytester,
) -> None:
    """pytest, xdist and execnet as the harness knows them (versions in
    ``_internals.KNOWN``, every private name there): the helpers fork. Where
    they are not, the suite starts everything cold, says why in its header,
    and this test says why it skips."""
    if reason := _internals.forking_off():
        pytest.skip(reason)
    assert _internals.report_header().startswith("forking: pytest ")
    project.makeconftest(WORKER_PROBE)
    project.makepyfile(test_one="def test_one():\n    pass\n")
    runpytest_forked(project, "-n", "1").assert_outcomes(passed=1)
    controller = probe_file(project.path / "controller.json")
    assert controller["ppid"] != os.getpid()  # the zygote's child, not this process's
    assert probe_file(project.path / "gw0.json")["warm"] is True
    proc = popen_python(["-c", "pass"], project.path, project.path / "log", dict(os.environ))
    assert isinstance(proc, ForkedPopen) and proc.wait(timeout=60) == 0


@pytest.mark.parametrize("spec", _internals.PRIVATE)
def test_each_private_name_that_is_gone_turns_forking_off_and_says_which(
    monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    name = spec.replace(":", ".")
    monkeypatch.delenv(_internals.NO_FORK, raising=False)
    monkeypatch.setenv(_internals.PRETEND_MISSING, name)
    assert f"{name} is gone (pretended missing)" in str(_internals.forking_off())
    header = _internals.report_header()
    assert header.startswith("forking unavailable: "), header
    assert f"{name} is gone" in header and header.endswith("sessions start cold"), header


def test_an_unknown_version_turns_forking_off_unless_told_to_try(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(_internals.NO_FORK, raising=False)
    monkeypatch.delenv(_internals.FORK_UNKNOWN, raising=False)
    monkeypatch.setenv(_internals.PRETEND_VERSION, "pytest-xdist=4.0.1,execnet=2.0")
    reason = str(_internals.unavailable())
    assert "pytest-xdist 4.0.1 is outside the known range >=3.8,<3.9" in reason
    assert "execnet 2.0 is outside the known range >=2.1,<2.2" in reason
    monkeypatch.setenv(_internals.FORK_UNKNOWN, "1")
    if not _internals.unavailable():  # every private name is there: fork, and say so
        assert _internals.report_header().endswith(
            f"outside the known ranges ({_internals.FORK_UNKNOWN})"
        )


def test_with_an_unknown_version_sessions_workers_and_servers_start_cold_and_pass(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade makes the suite slower, never red: the helpers the tests
    start sessions, workers and servers with start them cold, and they pass."""
    monkeypatch.delenv(_internals.NO_FORK, raising=False)
    monkeypatch.delenv(_internals.FORK_UNKNOWN, raising=False)
    monkeypatch.setenv(_internals.PRETEND_VERSION, "pytest=99.0")
    assert _internals.report_header().startswith(
        "forking unavailable: pytest 99.0 is outside the known range >=9.2,<9.3"
    )
    project.makeconftest(WORKER_PROBE)
    project.makepyfile(test_one="def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    runpytest_forked(project, "-n", "2").assert_outcomes(passed=2)
    assert probe_file(project.path / "controller.json")["ppid"] == os.getpid()
    for worker in ("gw0", "gw1"):
        assert probe_file(project.path / f"{worker}.json")["warm"] is False, worker

    proc = popen_pytest(["-p", "no:xdist"], project.path, project.path / "log", dict(os.environ))
    assert isinstance(proc, subprocess.Popen)
    assert proc.wait(timeout=120) == pytest.ExitCode.OK, (project.path / "log").read_text()
    assert probe_file(project.path / "controller.json")["ppid"] == os.getpid()

    project.makepyfile(prober=PROBER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = popen_python(["-m", "prober", "parent"], project.path, project.path / "log", env)
    assert isinstance(server, subprocess.Popen) and server.wait(timeout=60) == 0
    assert probe_file(project.path / "parent.json")["warm"] is False
    assert probe_file(project.path / "parent.json")["child_rc"] == 3


def test_the_session_header_says_why_sessions_start_cold() -> None:
    """The fallback is never silent: a suite that cannot fork says so, and
    why, at the top of its output."""
    env = {k: v for k, v in os.environ.items() if k != _internals.NO_FORK}
    env[_internals.PRETEND_MISSING] = "xdist.plugin._sys_path"
    root = Path(__file__).parent.parent
    plugins = ["-p", "no:cacheprovider", "-p", "no:xdist"]
    listed = subprocess.run(
        [sys.executable, "-B", "-m", "pytest", "--co", *plugins, f"--rootdir={root}", __file__],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    header = [line for line in listed.stdout.splitlines() if line.startswith("forking")]
    assert len(header) == 1, listed.stdout  # once
    assert header[0].startswith("forking unavailable: "), header
    assert "xdist.plugin._sys_path is gone (pretended missing)" in header[0], header
    assert header[0].endswith("; sessions start cold"), header


def wait_for_files(*paths: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        missing = [p for p in paths if not p.exists()]
        assert time.monotonic() < deadline, f"never appeared: {missing}"
        time.sleep(0.05)


def probe_file(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
