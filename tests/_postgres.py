"""A real PostgreSQL on 127.0.0.1 and a real ``mlflow server`` backed by it
(imported by test_shards; benchmarks/_common.py keeps its own copy).

PostgreSQL comes from the Debian package ``postgresql`` (``.ci/run`` installs
it); its programs live in ``/usr/lib/postgresql/<version>/bin``. Each cluster
is made by ``initdb`` in a fresh temporary folder and listens on a free port,
on 127.0.0.1 only, with trust authentication for local clients. PostgreSQL
refuses to run as root, so as root the cluster is owned by, and its server
runs as, the unprivileged ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _server import MlflowServer, await_ready, free_port, kill_group, port_open

#: Why PostgreSQL tests cannot run here, or None when they can.
MISSING: str | None = None


def bindir() -> Path | None:
    """Folder of ``initdb`` and ``postgres``: ``pg_config --bindir``, else the
    newest ``/usr/lib/postgresql/*/bin`` (Debian's ``pg_config`` may belong to
    the client package only)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in versions), key=_version, reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def _version(folder: Path) -> tuple[int, ...]:
    """``(15,)`` for ``/usr/lib/postgresql/15/bin``; () when the name is no version."""
    parts = folder.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def _why_missing() -> str | None:
    if bindir() is None:
        return (
            "PostgreSQL is not installed (no initdb/postgres in `pg_config --bindir` or "
            "/usr/lib/postgresql/*/bin; Debian: apt-get install postgresql)"
        )
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install -e '.[dev]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return None


MISSING = _why_missing()

#: Marks a test (or module) that needs PostgreSQL; skipped with the reason otherwise.
needs_postgres = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


class Postgres:
    """A throw-away PostgreSQL cluster (started by :meth:`start`).

    ``durable=False`` turns off fsync and synchronous commits: fine for tests,
    whose data may be lost with the machine; benchmarks keep them on, as a
    real server would."""

    def __init__(self, durable: bool = False) -> None:
        folder = bindir()
        assert folder is not None, MISSING
        self.bin = folder
        # Not under pytest's tmp_path: that folder is private to root (0700),
        # and the server runs as 'postgres'.
        self.folder = Path(tempfile.mkdtemp(prefix="pytest-experiments-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.durable = durable
        self.log = self.folder / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *command: str) -> None:
        out = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=self.folder,
            timeout=120,
            check=False,
            **self._user,
        )
        if out.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed ({out.returncode}):\n{out.stderr[-3000:]}")

    def start(self, timeout: float = 60.0) -> Postgres:
        self._run(
            str(self.bin / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-instructions",
        )
        settings = [
            f"port={self.port}",
            "listen_addresses=127.0.0.1",
            f"unix_socket_directories={self.folder}",
            "max_connections=200",
            "shared_buffers=32MB",
        ]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        command = [str(self.bin / "postgres"), "-D", str(self.data)]
        for setting in settings:
            command += ["-c", setting]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,
                **self._user,
            )
        await_ready(
            self.proc,
            lambda: port_open(self.port) and self._ready(),
            self.stop,
            self.log,
            timeout,
            "PostgreSQL",
            0.1,
        )
        return self

    def _ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.dsn("postgres"), connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_uri(self, database: str) -> str:
        # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3: name the driver.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URI (psycopg2 driver)."""
        import psycopg2

        connection = psycopg2.connect(self.dsn("postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.sqlalchemy_uri(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended, not waited for), then
        SIGKILL if it hangs; the folder is removed."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        if self.proc is not None:
            kill_group(self.proc, grace=5)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def running_postgres(durable: bool = False) -> Iterator[Postgres]:
    cluster = Postgres(durable=durable)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@contextlib.contextmanager
def postgres_mlflow_server(
    folder: Path, *, durable: bool = False, workers: int = 1
) -> Iterator[MlflowServer]:
    """PostgreSQL, a database ``mlflow`` in it, and a real ``mlflow server``
    on it (artifacts proxied to ``folder/artifacts``); both stopped on exit.
    The server's ``backend_uri`` is the database's URI."""
    with running_postgres(durable=durable) as cluster:
        backend = cluster.create_database("mlflow")
        server = MlflowServer(folder, backend_uri=backend, workers=workers)
        try:
            # A new database runs every MLflow migration at the server's start.
            yield server.start(timeout=180.0)
        finally:
            if server.proc is not None:  # nothing to flush: no graceful wait
                kill_group(server.proc, grace=3)
