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
  (``_internals.console_main``), and exits through the interpreter's normal
  shutdown (atexit handlers, non-daemon threads), so MLflow ends the way it
  does at any process exit;
- it leads its own process group, so a timeout kills it and any xdist workers.

Its xdist workers are forked from the zygote too. execnet starts a worker as
``python -u -c BOOTSTRAP`` with pipes on stdin and stdout; in a forked session
that command runs ``_zworker.py`` instead, which hands the pipes (and its
working directory, environment and arguments) to the zygote over a Unix
socket and waits. The zygote forks the worker, which joins the session's
process group and runs BOOTSTRAP as ``python -c`` would; its exit status goes
back to ``_zworker.py``, which exits with it.

The servers the tests start (``mlflow server``: MLflow's CLI, then the
uvicorn process it starts as ``sys.executable -m uvicorn``) are forked the
same way (``popen_python``): in such a process ``sys.executable`` is an
executable stand-in that runs ``_zworker.py``.

What a forked session does not show is what a cold process imports, which is
why the tests about imports and start-up cost (``test_tracking``) keep
starting real subprocesses. The zygote is single-threaded when it forks (it
imports only; checked below), so the child inherits no held lock.

All of this rests on private parts of pytest, xdist and execnet, which
``_internals.py`` holds and checks: where they are not as the harness knows
them, nothing is forked and every process starts cold (``forking_off``).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import gc
import json
import os
import select
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import _internals
import pytest

#: This process's environment before any test changed it: the zygote's
#: (each child then takes its test's own).
_START_ENV = dict(os.environ)
#: Settings a zygote must not hold (each child gets its test's).
_PER_TEST_ENV = ("PYTEST_", "MLFLOW_")

_zygote: Zygote | None = None


class Zygote:
    """A process with the session's heavy imports done, forking on request."""

    def __init__(self, *, preload: bool = True) -> None:
        """``preload=False`` imports nothing up front (a cheap zygote for
        the harness's own tests)."""
        env = {k: v for k, v in _START_ENV.items() if not k.startswith(_PER_TEST_ENV)}
        if not preload:
            env["EXPERIMENTS_ZYGOTE_BARE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=os.path.dirname(__file__),
            start_new_session=True,
        )
        self.pending = b""
        #: Exit statuses of sessions not yet waited for, by pid.
        self.exited: dict[int, int] = {}
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
            if left < 0 or not select.select([fd], [], [], max(left, 0))[0]:
                raise TimeoutError
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the session zygote exited ({self.proc.wait()})")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        data: dict[str, Any] = json.loads(line)
        return data

    def _next(self, timeout: float) -> dict[str, Any]:
        """The next reply that is not a session's exit (those are kept)."""
        while True:
            message = self._read(timeout)
            if "rc" not in message:
                return message
            self.exited[int(message["pid"])] = int(message["rc"])

    def start(
        self,
        args: list[str],
        cwd: str,
        env: dict[str, str],
        out: Path,
        err: Path,
        *,
        python: bool = False,
    ) -> int:
        """Start ``pytest args`` (or with ``python``, ``python args``) with
        ``env`` in a forked child in ``cwd``, output to ``out`` and ``err``
        (one file if the same path); its pid, which leads its process group.
        Children may run side by side."""
        assert self.proc.stdin is not None
        request = {
            "args": args,
            "cwd": cwd,
            "env": env,
            "stdout": str(out),
            "stderr": str(err),
            "python": python,
        }
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        return int(self._next(timeout=60.0)["pid"])

    def wait(self, pid: int, timeout: float | None) -> int:
        """The exit status of session ``pid`` (negative: killed by that
        signal); TimeoutError if it is still running after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid not in self.exited:
            left = 1e9 if deadline is None else deadline - time.monotonic()
            message = self._read(timeout=left)
            if "rc" in message:
                self.exited[int(message["pid"])] = int(message["rc"])
        return self.exited.pop(pid)

    def run(
        self, args: list[str], env: dict[str, str], out: Path, err: Path, timeout: float
    ) -> tuple[int, bool]:
        """Run ``pytest args`` with ``env`` in a forked child in this working
        directory; (exit status, timed out)."""
        return self.finish(self.start(args, os.getcwd(), env, out, err), timeout)

    def finish(self, pid: int, timeout: float) -> tuple[int, bool]:
        """Wait for child ``pid``; past ``timeout``, kill its process group
        (its workers too) and wait for it. (exit status, timed out)"""
        try:
            return self.wait(pid, timeout), False
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            return self.wait(pid, 60.0), True

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
    pytester: pytest.Pytester,
    *args: str | os.PathLike[str],
    timeout: float = 300.0,
    using: Zygote | None = None,
) -> pytest.RunResult:
    """:meth:`pytest.Pytester.runpytest_subprocess`, with the session forked
    from the zygote: same arguments, working directory, environment
    (``PYTHONPATH`` led by the working directory) and result."""
    __tracebackhide__ = True
    if _internals.forking_off():  # to compare, to rule the zygote out, or it cannot fork
        return pytester.runpytest_subprocess(*args, timeout=timeout)
    base = _internals.make_numbered_dir(pytester.path, "runpytest-")
    argv = [f"--basetemp={base}", *map(str, args)]
    for plugin in pytester.plugins:
        argv = ["-p", str(plugin), *argv]
    # Beside the basetemp, not in it: pytest empties the basetemp as it starts.
    out, err = base.with_suffix(".stdout"), base.with_suffix(".stderr")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    start = time.monotonic()
    ret, timed_out = (using or zygote()).run(argv, env, out, err, timeout)
    duration = time.monotonic() - start
    outlines = out.read_text(errors="replace").splitlines()
    errlines = err.read_text(errors="replace").splitlines()
    print("\n".join(outlines))
    print("\n".join(errlines), file=sys.stderr)
    if timed_out:
        raise pytester.TimeoutExpired(f"{timeout} second timeout expired running {argv}")
    return pytest.RunResult(ret, outlines, errlines, duration)


class ForkedPopen:
    """A pytest session forked from the zygote, behind the part of
    :class:`subprocess.Popen` the tests use (``pid``, ``poll``, ``wait``,
    ``send_signal``, ``returncode``). It leads its own process group, as a
    ``Popen(..., start_new_session=True)`` would; sessions may run side by
    side."""

    def __init__(
        self, args: list[str], cwd: Path, env: dict[str, str], log: Path, *, python: bool = False
    ) -> None:
        self.args = args
        self.zygote = zygote()
        self.pid = self.zygote.start(args, str(cwd), env, log, log, python=python)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(TimeoutError):
                self.returncode = self.zygote.wait(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = self.zygote.wait(self.pid, timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)


def popen_pytest(
    args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> ForkedPopen | subprocess.Popen[bytes]:
    """``python -m pytest args`` in ``cwd`` in a process group of its own,
    stdout and stderr to ``log``, SIGINT at its default (Ctrl-C interrupts
    it): forked from the zygote, or a real subprocess under
    ``EXPERIMENTS_TESTS_NO_FORK`` or where the harness cannot fork."""
    env = dict(os.environ if env is None else env)
    return _popen(args, ["-m", "pytest", *args], cwd, log, env, python=False)


def popen_python(
    args: list[str], cwd: Path, log: Path, env: dict[str, str]
) -> ForkedPopen | subprocess.Popen[bytes]:
    """``python args`` (e.g. ``-m mlflow server ...``), as :func:`popen_pytest`
    starts pytest; forked, each process it starts as ``sys.executable ...``
    is forked too."""
    return _popen(args, args, cwd, log, env, python=True)


def _popen(
    forked: list[str],
    cold: list[str],
    cwd: Path,
    log: Path,
    env: dict[str, str],
    *,
    python: bool,
) -> ForkedPopen | subprocess.Popen[bytes]:
    if not _internals.forking_off():
        return ForkedPopen(forked, cwd, env, log, python=python)
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, *cold],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )


def _default_sigint() -> None:
    # A shell that runs this suite in the background without job control
    # starts it with SIGINT ignored, which every child would inherit.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# -- the zygote itself ------------------------------------------------------------


def _preload() -> None:
    """Import what sessions import, the pytest plugins among it the way a
    session imports them: through pytest's assertion-rewriting import hook,
    with the modules of every distribution that provides a plugin marked for
    rewriting as a session marks them. A session forked from here finds its
    plugins already imported *and* rewritten, so it neither imports them again
    (with this suite's PYTHONDONTWRITEBYTECODE, rewriting each from source)
    nor warns that they were imported before they could be rewritten."""
    import importlib
    import pkgutil

    hook = _internals.install_session_import_hook()  # what a session installs first
    try:
        for entry_point in entry_points(group="pytest11"):
            entry_point.load()
        for name in (
            "hypothesis",  # its plugin imports it at the end of every session
            "matplotlib.figure",
            "matplotlib.backends.backend_agg",
            "matplotlib.style",
            "mlflow",
            "mlflow.store.tracking.sqlalchemy_store",
            # What sessions and workers then import as they open a store, start
            # runs and end them (found by diffing sys.modules).
            "alembic.command",
            "mlflow.store.tracking.sqlalchemy_workspace_store",
            "mlflow.tracing.processor.otel",
            "sqlalchemy.dialects.sqlite",
            "email.policy",
            "filelock",
            "git",  # provenance
            "pdb",  # pytest's --pdb support imports it at configure
            "xdist.dsession",
            "xdist.remote",
            "numpy",
            "scipy.stats",  # the gate, and the spread in reports and plots
            "pytest_experiments",
        ):
            importlib.import_module(name)
        importlib.import_module("PIL.Image").init()  # the image formats, as savefig loads them
        for module in pkgutil.iter_modules(sys.modules["pytest_experiments"].__path__):
            importlib.import_module(f"pytest_experiments.{module.name}")
    finally:
        sys.meta_path.remove(hook)
    # inspect.getmodule, which pytest calls for each traceback entry it shows,
    # maps every loaded module to its real path on its first call (~0.5 s
    # with all of the above loaded); done here, children start with the map.
    import inspect

    inspect.getmodule(_preload.__code__)
    # The installed distributions, which every tracked process reads once
    # (kept in memory by fingerprint: a child whose sys.path holds the same
    # distributions finds them read).
    sys.modules["pytest_experiments.distributions"].dist_index(None)
    gc.collect()
    gc.freeze()  # children need not walk (nor copy) what the zygote imported


def _take_over(fds: list[int], request: dict[str, Any]) -> list[str]:
    """Make ``fds`` this process's stdin, stdout and stderr (closing them),
    and take the request's folder and environment; returns PYTHONPATH's
    entries as Python puts them on ``sys.path`` at start-up (each one, an
    empty one too, made absolute). Python's std streams are opened anew on
    fds 0 to 2 and never close them."""
    for fd, target in zip(fds, (0, 1, 2), strict=True):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, encoding="utf-8", errors="backslashreplace")
    sys.stderr = open(2, "w", closefd=False, encoding="utf-8", errors="backslashreplace")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    return _python_path(os.environ.get("PYTHONPATH", ""), request["cwd"])


def _python_path(value: str, cwd: str) -> list[str]:
    return [os.path.abspath(os.path.join(cwd, p)) for p in value.split(os.pathsep)] if value else []


def _restart_module_state() -> None:
    """Redo what a preloaded module took from the zygote's process at import
    and a session's process would have taken from its own. Each is private
    to its module; a cold session is the reference (test_forked)."""
    _internals.reset_xdist_sys_path()


def _child(
    request: dict[str, Any], base_path: list[str], worker_python: list[str], python: str
) -> None:
    """In the forked child: become the session's process, then run pytest
    (or, for a ``python`` request, what its arguments say).
    Ends by raising SystemExit, so the interpreter shuts down as usual. The
    protocol pipes on fds 0 and 1 are replaced by dup2 (Python's std streams
    never close their fds)."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    if request["stderr"] == request["stdout"]:  # one file, as with stderr=STDOUT
        err = os.dup(out)
    else:
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    python_path = _take_over([null, out, err], request)
    if request.get("python"):  # ``python ARGS``, e.g. ``-m mlflow server ...``
        sys.executable = python  # what it starts as ``sys.executable`` is forked too
        _run_python(request["args"], python_path, base_path, request["env"], "python")
    # ``python -m pytest`` puts the working directory first, then PYTHONPATH.
    sys.path[:] = [request["cwd"], *python_path, *base_path]
    _restart_module_state()
    sys.argv = [sys.executable, *request["args"]]
    if not request["env"].get("EXPERIMENTS_TESTS_NO_FORK_WORKERS"):
        _internals.start_popen_workers_with(worker_python)  # _zworker.py
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise SystemExit(_profiled(request["env"], "session", _internals.console_main))


def _worker(request: dict[str, Any], fds: list[int], base_path: list[str]) -> None:
    """In a process ``_zworker.py`` asked for (an xdist worker, or a server a
    forked process starts as ``sys.executable -m ...``): take over its stdin,
    stdout and stderr and run its arguments as ``python`` would, in its
    process group."""
    try:
        os.setpgid(0, int(request["pgid"]))
    except OSError:  # the session is gone; the pipes it held end this process
        pass
    python_path = _take_over(fds, request)
    _run_python(request["args"], python_path, base_path, request["env"], "worker")


def _run_python(
    args: list[str], python_path: list[str], base_path: list[str], env: dict[str, str], kind: str
) -> None:
    """Run ``python ARGS`` in this process (options, then ``-c CODE`` or
    ``-m MODULE``, then the program's own arguments), with ``sys.path`` and
    ``sys.argv`` as Python would set them; ends by raising SystemExit."""
    import runpy

    index = next(i for i, arg in enumerate(args) if arg in ("-c", "-m"))
    options, (how, what, *rest) = args[:index], args[index:]
    sys.dont_write_bytecode = "-B" in options
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if how == "-c":
        sys.argv = ["-c", *rest]
        sys.path[:] = ["", *python_path, *base_path]
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = main
        code = compile(what, "<string>", "exec")
        _profiled(env, kind, lambda: exec(code, main.__dict__))
    else:
        sys.argv = ["-m", *rest]  # runpy puts the module's file first
        sys.path[:] = [os.getcwd(), *python_path, *base_path]
        _profiled(env, kind, lambda: runpy.run_module(what, run_name="__main__", alter_sys=True))
    raise SystemExit(0)


def _profiled(env: dict[str, str], kind: str, main: Any) -> Any:
    """``main()``; under cProfile when ``EXPERIMENTS_TESTS_PROFILE`` names a
    folder (one ``<kind>-<pid>.prof`` per process there): where the suite's
    sessions spend their CPU, summed over the whole suite with pstats."""
    folder = env.get("EXPERIMENTS_TESTS_PROFILE")
    if not folder:
        return main()
    import cProfile

    profile = cProfile.Profile(time.process_time)  # CPU, not time spent waiting
    try:
        return profile.runcall(main)
    finally:
        profile.dump_stats(os.path.join(folder, f"{kind}-{os.getpid()}.prof"))


def _reply(message: dict[str, Any]) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")


def _recv_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """A worker request from ``_zworker.py``: one JSON line, with its fds."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        data += more
    request: dict[str, Any] = json.loads(data)
    return request, list(fds)


def _serve() -> None:
    # sys.path without this file's folder and the zygote's own PYTHONPATH:
    # each child puts its own in front of what is left.
    base_path = sys.path[1 + len(_python_path(os.environ.get("PYTHONPATH", ""), "")) :]
    if not os.environ.get("EXPERIMENTS_ZYGOTE_BARE"):
        _preload()
    assert threading.active_count() == 1, threading.enumerate()  # fork needs one thread
    zygote_pid = os.getpid()
    folder = tempfile.mkdtemp(prefix="pytest-experiments-zygote-")
    address = os.path.join(folder, "workers")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    worker_python = [
        sys.executable,
        "-S",
        "-E",
        str(Path(__file__).with_name("_zworker.py")),
        address,
    ]
    # The same, as an executable: ``sys.executable`` of processes started by
    # a ``python`` request.
    python = os.path.join(folder, "python")
    with open(python, "w") as shim:
        shim.write("#!/bin/sh\nexec " + " ".join(map(shlex.quote, worker_python)) + ' "$@"\n')
    os.chmod(python, 0o755)
    # Children are reaped when SIGCHLD wakes the loop (through this pipe).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "session")
    selector.register(listener, selectors.EVENT_READ, "worker")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    sessions: set[int] = set()
    workers: dict[int, socket.socket] = {}
    pending = b""

    def forked() -> None:
        """In a child: drop the zygote's own ends of everything."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        selector.close()
        listener.close()
        for conn in workers.values():
            conn.close()
        os.close(wake_r)
        os.close(wake_w)

    _reply({"ready": True})
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "session":
                    chunk = os.read(0, 1 << 20)
                    if not chunk:
                        return
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        request = json.loads(line)
                        pid = os.fork()
                        if pid == 0:
                            forked()
                            _child(request, base_path, worker_python, python)
                        sessions.add(pid)
                        _reply({"pid": pid})
                elif key.data == "worker":
                    conn, _ = listener.accept()
                    request, fds = _recv_request(conn)
                    pid = os.fork()
                    if pid == 0:
                        conn.close()
                        forked()
                        _worker(request, fds, base_path)
                    for fd in fds:
                        os.close(fd)
                    workers[pid] = conn
                    try:
                        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                    except OSError:  # _zworker.py is gone; the worker's pipes end it
                        pass
                else:
                    while True:
                        try:
                            if not os.read(wake_r, 4096):
                                break
                        except BlockingIOError:
                            break
                    while True:
                        try:
                            pid, status = os.waitpid(-1, os.WNOHANG)
                        except ChildProcessError:
                            break
                        if pid == 0:
                            break
                        rc = os.waitstatus_to_exitcode(status)
                        if pid in sessions:
                            sessions.discard(pid)
                            _reply({"pid": pid, "rc": rc})
                        elif pid in workers:
                            conn = workers.pop(pid)
                            try:
                                conn.sendall(json.dumps({"rc": rc}).encode() + b"\n")
                            except OSError:
                                pass
                            conn.close()
    finally:
        if os.getpid() == zygote_pid:  # children leave through here too (SystemExit)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    _serve()
