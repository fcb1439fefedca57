"""Throw-away servers on 127.0.0.1 for the tests and the benchmarks: free
ports, process groups, waiting for readiness, a real ``mlflow server``
(:class:`MlflowServer`) and a real PostgreSQL cluster (:class:`Postgres`),
alone or under an ``mlflow server`` (:func:`postgres_mlflow_server`).

No pytest here: a server that does not start, or a command that fails while
setting one up, raises :class:`ServerError` (``tests/`` turns it into a
failed test, ``benchmarks/`` into an error).

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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar


class ServerError(RuntimeError):
    """A server did not become ready, or a command setting one up failed."""


class Process(Protocol):
    """What these helpers use of a started process: a :class:`subprocess.Popen`,
    or anything that behaves like one (the tests' forked processes)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


# -- ports and processes ----------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def kill_group(proc: Process, grace: float = 15.0) -> None:
    """Stop a process started with ``start_new_session=True`` (or leading its
    own process group otherwise) and everything it spawned: SIGTERM to the
    group, SIGKILL if it is still there after ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Children (uvicorn, xdist workers) may outlive the leader: end the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


def await_ready(
    proc: Process,
    ready: Callable[[], bool],
    stop: Callable[[], None],
    log: Path,
    timeout: float,
    what: str,
    poll: float = 0.2,
) -> None:
    """Wait until a server started as ``proc`` is ``ready``, checking every
    ``poll`` seconds; if it exits or ``timeout`` passes first, ``stop`` it and
    raise :class:`ServerError` with its log's tail."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop()
            tail = log.read_text(errors="replace")[-3000:]
            raise ServerError(f"{what} did not become ready in {timeout:.0f} s:\n{tail}")
        time.sleep(poll)


# -- mlflow server ------------------------------------------------------------------

S = TypeVar("S", bound="MlflowServer")


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with proxied artifacts (to
    ``folder/artifacts``), on the store at ``backend_uri``, its output in
    ``folder/server.log``. It runs with ``env`` (default: this process's
    environment when it starts), as a plain ``python -m mlflow server`` in a
    process group of its own (:meth:`popen`)."""

    def __init__(
        self,
        folder: Path,
        backend_uri: str,
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.backend_uri = backend_uri
        self.workers = workers
        self.env = env
        self.log = folder / "server.log"
        self.proc: Process | None = None

    def arguments(self) -> list[str]:
        """What follows ``python`` on the server's command line."""
        return [
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

    def popen(self, arguments: list[str], env: dict[str, str]) -> Process:
        """Start ``python arguments`` in the server's folder, in a process group
        of its own, stdin closed, output to the log."""
        with open(self.log, "wb") as log:
            return subprocess.Popen(
                [sys.executable, *arguments],
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self: S, timeout: float = 90.0) -> S:
        env = dict(os.environ if self.env is None else self.env)
        # Background job runner (a huey consumer) is not needed and slow to start.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        self.proc = self.popen(self.arguments(), env)
        await_ready(self.proc, self.healthy, self.stop, self.log, timeout, "mlflow server")
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is not None:
            kill_group(self.proc, grace=grace)


# -- PostgreSQL ---------------------------------------------------------------------


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


def postgres_missing() -> str | None:
    """Why a PostgreSQL cluster cannot run here, or None when it can."""
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


class Postgres:
    """A throw-away PostgreSQL cluster (started by :meth:`start`).

    ``durable=False`` turns off fsync and synchronous commits: fine for tests,
    whose data may be lost with the machine; benchmarks keep them on, as a
    real server would."""

    def __init__(self, durable: bool = False) -> None:
        folder = bindir()
        if folder is None:
            raise ServerError(postgres_missing() or "PostgreSQL is not installed")
        self.bin = folder
        # Not under the caller's folder (pytest's tmp_path is private to root,
        # 0700), and the server runs as 'postgres'.
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
            raise ServerError(
                f"{' '.join(command)} failed ({out.returncode}):\n{out.stderr[-3000:]}"
            )

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
    server: Callable[[str], S], *, durable: bool = False, timeout: float = 180.0
) -> Iterator[S]:
    """PostgreSQL, a database ``mlflow`` in it, and the ``mlflow server`` that
    ``server(backend_uri)`` makes on it (not yet started); both stopped on
    exit. The server's ``backend_uri`` is the database's URI."""
    with running_postgres(durable=durable) as cluster:
        instance = server(cluster.create_database("mlflow"))
        try:
            # A new database runs every MLflow migration at the server's start.
            yield instance.start(timeout=timeout)
        finally:
            instance.stop(grace=3)  # nothing to flush: no graceful wait
