"""Helpers for tests that need real MLflow stores, a real ``mlflow server``
and real pytest processes (imported by test_tracking, test_server, test_faults).

Creating a brand-new MLflow sqlite store runs ~150 schema migrations (several
seconds), so tests that do not test store creation itself start from a copy of
one store built once per test session (shared by xdist workers under a file
lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# ``pytester`` drops the modules first imported *during* a test when that test
# ends, and mlflow imported again afterwards is broken ("cannot import name
# 'MlflowClient' from 'mlflow.tracking'"). Importing what the tests read
# stores with here, at collection, keeps it imported for the whole session.
import mlflow.artifacts
import mlflow.sklearn
import mlflow.store.tracking.sqlalchemy_store
import mlflow.tracking  # noqa: F401
import pytest
import sklearn.datasets  # noqa: F401
from _forked import ForkedPopen, popen_python
from _runs import all_runs, sqlite_uri

#: Generous bound for anything that waits on a process on a loaded 2-core box.
WAIT_S = 120.0


def wait_for(condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "") -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(0.05)


#: execnet sends an xdist worker SIGINT when it is still busy 5 s after the
#: session ended (a loaded machine); Python then reports the KeyboardInterrupt
#: as "Exception ignored in: ...". That is xdist's noise, not the plugin's.
_WORKER_SHUTDOWN_NOISE = re.compile(
    r"Exception ignored in: .*?\nKeyboardInterrupt\b[^\n]*", re.DOTALL
)


def assert_no_traceback(text: str) -> None:
    """No Python traceback reached the user (besides xdist's shutdown noise)."""
    cleaned = _WORKER_SHUTDOWN_NOISE.sub("", text)
    assert "Traceback (most recent call last)" not in cleaned, cleaned[-3000:]


# -- stores -------------------------------------------------------------------


def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by the xdist workers of this test session (or ours alone)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow sqlite store, built once per test session."""
    from filelock import FileLock

    shared = _shared_dir(tmp_path_factory)
    template = shared / "mlflow-template.db"
    with FileLock(str(shared / "mlflow-template.lock")):
        if not template.exists():
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            building = shared / "mlflow-template.building.db"
            building.unlink(missing_ok=True)
            artifacts = (shared / "template-art").as_uri()
            store = SqlAlchemyStore(f"sqlite:///{building}", artifacts)  # type: ignore[no-untyped-call]
            store.engine.dispose()
            os.replace(building, template)
    return template


def write(root: Path, name: str, text: str) -> Path:
    """Write dedented ``text`` to ``root/name``, creating folders."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def copy_store(template: Path, db: Path) -> Path:
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, db)
    return db


def runs_by_name(db_or_uri: Path | str, experiment: str | None = None) -> dict[str, Any]:
    """Every run of the store (one experiment, or all), keyed by run name.

    Fails the test when a run name appears twice (a duplicated run)."""
    runs = all_runs(db_or_uri, experiment)
    names = [r.info.run_name for r in runs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"duplicated runs: {duplicated}"
    return {r.info.run_name: r for r in runs}


def artifact_text(uri: str, run_id: str, path: str, dst: Path) -> str:
    from mlflow.tracking import MlflowClient

    dst.mkdir(parents=True, exist_ok=True)
    local = MlflowClient(uri).download_artifacts(run_id, path, str(dst))
    return Path(local).read_text(encoding="utf-8")


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def results_by_case(path: Path) -> dict[str, dict[str, Any]]:
    """The ``--exp-json`` results keyed by case id."""
    return {r["case_id"]: r for r in read_json(path)["results"]}


# -- processes ----------------------------------------------------------------


def await_ready(
    proc: Any,
    ready: Callable[[], bool],
    stop: Callable[[], None],
    log: Path,
    timeout: float,
    what: str,
    poll: float,
) -> None:
    """Wait until a server started as ``proc`` is ``ready``; if it exits or
    ``timeout`` passes first, ``stop`` it and fail the test with its log's tail."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop()
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"{what} did not become ready in {timeout:.0f} s:\n{tail}")
        time.sleep(poll)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def kill_group(proc: Any, grace: float = 15.0) -> None:
    """Stop a process started with ``start_new_session=True`` (a
    ``subprocess.Popen`` or a ``_forked.ForkedPopen``) and everything it
    spawned: SIGTERM to the group, SIGKILL if it is still there after ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Children (uvicorn, xdist workers) may outlive the leader: end the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with proxied artifacts and a sqlite
    backend copied from ``template`` (or the database at ``backend_uri``)."""

    def __init__(
        self,
        folder: Path,
        template: Path | None = None,
        *,
        backend_uri: str | None = None,
        workers: int = 1,
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        if backend_uri is None:
            assert template is not None, "a sqlite server starts from a template store"
            backend_uri = sqlite_uri(copy_store(template, folder / "srv.db"))
        self.backend_uri = backend_uri
        self.workers = workers
        self.log = folder / "server.log"
        self.proc: ForkedPopen | subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> MlflowServer:
        env = dict(os.environ)
        # Background job runner (a huey consumer) is not needed and slow to start.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        command = [
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            str(self.folder / "artifacts"),
            "--workers",
            str(self.workers),
        ]
        # MLflow's CLI, then the uvicorn process it starts, forked from the
        # zygote (each ~5 CPU-s cold, mostly importing MLflow).
        self.proc = popen_python(command, self.folder, self.log, env)
        await_ready(self.proc, self.healthy, self.stop, self.log, timeout, "mlflow server", 0.2)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)


@contextlib.contextmanager
def running_server(folder: Path, template: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(folder, template)
    try:
        yield server.start()
    finally:
        server.stop()
