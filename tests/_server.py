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
import textwrap
import time
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
from _forked import popen_python
from _runs import all_runs, sqlite_uri

from devtools import servers

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


class MlflowServer(servers.MlflowServer):
    """A real ``mlflow server`` on 127.0.0.1 with proxied artifacts and a sqlite
    backend copied from ``template`` (or the database at ``backend_uri``),
    forked from the zygote; one that does not start fails the test."""

    def __init__(
        self,
        folder: Path,
        template: Path | None = None,
        *,
        backend_uri: str | None = None,
        workers: int = 1,
    ) -> None:
        if backend_uri is None:
            assert template is not None, "a sqlite server starts from a template store"
            backend_uri = sqlite_uri(copy_store(template, folder / "srv.db"))
        super().__init__(folder, backend_uri, workers=workers)

    def popen(self, arguments: list[str], env: dict[str, str]) -> servers.Process:
        # Forked from the zygote, not cold as in the benchmarks: ~5 CPU-s less a process.
        return popen_python(arguments, self.folder, self.log, env)

    def start(self, timeout: float = 90.0) -> MlflowServer:
        with failing_the_test():
            return super().start(timeout)


@contextlib.contextmanager
def failing_the_test() -> Iterator[None]:
    """A :class:`devtools.servers.ServerError` inside fails the test with its
    message, as ``pytest.fail`` would."""
    try:
        yield
    except servers.ServerError as exc:
        raise pytest.fail.Exception(str(exc)) from None


@contextlib.contextmanager
def running_server(folder: Path, template: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(folder, template)
    try:
        yield server.start()
    finally:
        server.stop()
