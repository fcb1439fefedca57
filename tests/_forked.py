"""Real pytest sessions, started by fork from a process that imported MLflow once.

A tracked session started as ``python -m pytest`` spends most of its CPU
before the first case: the interpreter, pytest, and above all ``import
mlflow`` (~2.5 s), then matplotlib for the parent runs' plots. Across the
suite's ~50 such sessions that import time was most of the wall time on a
2-core machine. So a *zygote*, one per test process, imports pytest, xdist,
MLflow, matplotlib and every ``pytest_experiments`` module once, and forks
a child for each session. The child is a separate process like any other:

- it takes the calling test's working directory, environment and ``sys.path``
  exactly as :meth:`pytest.Pytester.runpytest_subprocess` would give them,
  with stdin closed and stdout/stderr in files;
- it runs ``pytest`` the way ``python -m pytest`` does
  (``_pytest.config._console_main``), and exits through the interpreter's normal
  shutdown (atexit handlers, non-daemon threads), so MLflow ends the way it
  does at any process exit;
- it leads its own process group, so a timeout kills it and any xdist workers.

What a forked session does not show is what a cold process imports, which is
why the tests about imports and start-up cost (``test_tracking``) keep
starting real subprocesses. The zygote is single-threaded when it forks (it
imports only; checked below), so the child inherits no held lock.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from _pytest.pathlib import make_numbered_dir

#: This process's environment before any test changed it: the zygote's
#: (each child then takes its test's own).
_START_ENV = dict(os.environ)
#: Settings a zygote must not hold (each child gets its test's).
_PER_TEST_ENV = ("PYTEST_", "MLFLOW_")

_zygote: Zygote | None = None


class Zygote:
    """A process with the session's heavy imports done, forking on request."""

    def __init__(self) -> None:
        env = {k: v for k, v in _START_ENV.items() if not k.startswith(_PER_TEST_ENV)}
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=os.path.dirname(__file__),
            start_new_session=True,
        )
        self.pending = b""
        ready = self._read(timeout=180.0)
        if ready.get("ready") is not True:
            raise RuntimeError(f"the session zygote did not start: {ready}")

    def _read(self, timeout: float) -> dict[str, Any]:
        """The zygote's next reply line (read unbuffered, so select sees all)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the session zygote exited ({self.proc.wait()})")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        data: dict[str, Any] = json.loads(line)
        return data

    def run(
        self, args: list[str], env: dict[str, str], out: Path, err: Path, timeout: float
    ) -> tuple[int, bool]:
        """Run ``pytest args`` with ``env`` in a forked child in this working
        directory; (exit status, timed out)."""
        assert self.proc.stdin is not None
        request = {
            "args": args,
            "cwd": os.getcwd(),
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
        }
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        pid = int(self._read(timeout=60.0)["pid"])
        try:
            return int(self._read(timeout=timeout)["rc"]), False
        except TimeoutError:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return int(self._read(timeout=60.0)["rc"]), True

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def zygote() -> Zygote:
    global _zygote
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = Zygote()
        atexit.register(_zygote.close)
    return _zygote


def runpytest_forked(
    pytester: pytest.Pytester, *args: str | os.PathLike[str], timeout: float = 300.0
) -> pytest.RunResult:
    """:meth:`pytest.Pytester.runpytest_subprocess`, with the session forked
    from the zygote: same arguments, working directory, environment
    (``PYTHONPATH`` led by the working directory) and result."""
    __tracebackhide__ = True
    if os.environ.get("EXPERIMENTS_TESTS_NO_FORK"):  # to compare, or to rule the zygote out
        return pytester.runpytest_subprocess(*args, timeout=timeout)
    base = make_numbered_dir(root=pytester.path, prefix="runpytest-", mode=0o700)
    argv = [f"--basetemp={base}", *map(str, args)]
    for plugin in pytester.plugins:
        argv = ["-p", str(plugin), *argv]
    # Beside the basetemp, not in it: pytest empties the basetemp as it starts.
    out, err = base.with_suffix(".stdout"), base.with_suffix(".stderr")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    start = time.monotonic()
    ret, timed_out = zygote().run(argv, env, out, err, timeout)
    duration = time.monotonic() - start
    outlines = out.read_text(errors="replace").splitlines()
    errlines = err.read_text(errors="replace").splitlines()
    print("\n".join(outlines))
    print("\n".join(errlines), file=sys.stderr)
    if timed_out:
        raise pytester.TimeoutExpired(f"{timeout} second timeout expired running {argv}")
    return pytest.RunResult(ret, outlines, errlines, duration)


# -- the zygote itself ------------------------------------------------------------


def _preload() -> None:
    import importlib
    import pkgutil

    import matplotlib.figure  # noqa: F401
    import mlflow
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import numpy  # noqa: F401
    import xdist  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401

    import pytest_experiments

    for module in pkgutil.iter_modules(pytest_experiments.__path__):
        importlib.import_module(f"pytest_experiments.{module.name}")
    gc.collect()
    gc.freeze()  # children need not walk (nor copy) what the zygote imported


def _child(request: dict[str, Any], base_path: list[str]) -> None:
    """In the forked child: become the session's process, then run pytest.
    Ends by raising SystemExit, so the interpreter shuts down as usual. The
    protocol pipes on fds 0 and 1 are replaced by dup2 (Python's std streams
    never close their fds)."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, encoding="utf-8", errors="backslashreplace")
    sys.stderr = open(2, "w", closefd=False, encoding="utf-8", errors="backslashreplace")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    # ``python -m pytest`` puts the working directory first, then PYTHONPATH.
    sys.path[:] = [request["cwd"], *python_path, *base_path]
    sys.argv = [sys.executable, *request["args"]]
    # A normal session imports pytest plugins after pytest set up assertion
    # rewriting for them; the zygote imported some already (MLflow imports
    # anyio). Dropped here, they are imported again the normal way.
    plugins = {ep.value.split(".")[0] for ep in entry_points(group="pytest11")}
    for name in [m for m in sys.modules if m.split(".")[0] in plugins]:
        del sys.modules[name]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from _pytest.config import _console_main  # what ``python -m pytest`` runs

    raise SystemExit(_console_main())


def _serve() -> None:
    _preload()
    assert threading.active_count() == 1, threading.enumerate()  # fork needs one thread
    base_path = sys.path[1:]  # without this file's folder
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b'{"ready": true}\n')
    stdout.flush()
    for line in stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, base_path)
        stdout.write(json.dumps({"pid": pid}).encode() + b"\n")
        stdout.flush()
        _, status = os.waitpid(pid, 0)
        stdout.write(json.dumps({"rc": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    _serve()
