"""Brand-new sqlite stores in milliseconds, not seconds.

MLflow builds a new sqlite store by replaying every schema migration (69 of
them in MLflow 3.17), one transaction each: 2-4 s on a 2-core machine, paid
by every fresh project, CI job and test. Building the schema from MLflow's
ORM models instead is not an option: the models are not a faithful copy of
the migrated schema (in MLflow 3.17 ``create_all`` fails outright on an
index without columns), and a store built that way would not be MLflow's.

So the migrations run once per machine and MLflow version, through MLflow's
own ``SqlAlchemyStore``, into a template kept in the user's cache folder; a
new store is a copy of it, opened once by MLflow so that it adds its default
experiment with this store's own artifact location. The template is keyed by
the MLflow version, the names of its migration scripts and the SQLite
library version, so an upgrade of any of them builds a new one. Where the
cache folder cannot be written, the store is migrated in place as before.

New stores use SQLite's write-ahead log (readers no longer block the writer,
one fsync per commit instead of two or three) where the database lives on a
local filesystem; never on a network filesystem, where SQLite's WAL is unsafe.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path

#: Filesystems where several hosts may open the file: no WAL there (SQLite's
#: shared-memory index only works for processes on one host). FUSE
#: filesystems count as remote too (sshfs, s3fs, gcsfuse...).
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
    }
)


def cache_folder() -> Path:
    """Where store templates are kept: ``$PYTEST_EXPERIMENTS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/pytest-experiments``, else ``~/.cache/pytest-experiments``."""
    explicit = os.environ.get("PYTEST_EXPERIMENTS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pytest-experiments"


def template_key() -> str:
    """What the template depends on: MLflow's version, its migration scripts
    (by name) and the SQLite library."""
    import mlflow

    versions = Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"
    scripts = sorted(p.name for p in versions.glob("*.py")) if versions.is_dir() else []
    digest = hashlib.sha256("\n".join(scripts).encode()).hexdigest()[:12]
    return f"mlflow-{mlflow.__version__}-{digest}-sqlite-{sqlite3.sqlite_version}"


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding ``path`` (Linux, from
    ``/proc/self/mountinfo``); None where that cannot be told."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return None
    return mount_type(mountinfo, os.path.realpath(path))


def mount_type(mountinfo: str, path: str) -> str | None:
    """The filesystem type of the deepest mount in ``mountinfo`` (the format of
    ``/proc/self/mountinfo``) that holds the absolute, resolved ``path``."""
    best, best_type = -1, None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mount = _unescape(fields[4])
        prefix = mount.rstrip("/") + "/"
        if (path == mount or path.startswith(prefix)) and len(mount) >= best:
            best, best_type = len(mount), right.split()[0]
    return best_type


def _unescape(field: str) -> str:
    """Undo the octal escapes (``\\040`` for a space) of a mountinfo field."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def wal_allowed(fs_type: str | None) -> bool:
    """Whether SQLite's WAL is safe on a filesystem of this type: only on one
    known to be local (never a network or FUSE filesystem, nor an unknown one)."""
    return (
        fs_type is not None
        and fs_type not in NETWORK_FILESYSTEMS
        and not fs_type.startswith("fuse")
    )


def wal_supported(folder: Path) -> bool:
    """Whether a store in ``folder`` may use SQLite's write-ahead log (Linux,
    local filesystems only; elsewhere the rollback journal)."""
    return sys.platform.startswith("linux") and wal_allowed(filesystem_type(folder))


def use_wal(db: Path) -> bool:
    """Switch the (not yet shared) database file to WAL mode; True if it is now."""
    connection = sqlite3.connect(db)
    try:
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()
    finally:
        connection.close()
    return bool(mode) and str(mode[0]).lower() == "wal"


def _migrate(db: Path, artifact_root: str) -> None:
    """Let MLflow build a store at ``db`` by running every migration."""
    from .mlflow_internals import migrate_sqlite_store

    migrate_sqlite_store(f"sqlite:///{db.as_posix()}", artifact_root)


def _template(lock_timeout: float) -> Path | None:
    """The migrated template for this MLflow, built if missing; None when the
    cache folder cannot be used."""
    from filelock import FileLock, Timeout

    folder = cache_folder()
    template = folder / f"{template_key()}.db"
    if template.exists():
        return template
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(template) + ".lock", timeout=lock_timeout):
            if template.exists():
                return template
            tmp = folder / f".{template.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
            try:
                _migrate(tmp, (folder / "unused-artifacts").as_uri())
                connection = sqlite3.connect(tmp)
                try:
                    # The default experiment is made again, with the new
                    # store's own artifact location, when MLflow opens a copy.
                    with connection:
                        connection.execute("DELETE FROM experiment_tags WHERE experiment_id = 0")
                        connection.execute("DELETE FROM experiments WHERE experiment_id = 0")
                    connection.execute("VACUUM")
                finally:
                    connection.close()
                os.replace(tmp, template)
            finally:
                tmp.unlink(missing_ok=True)
    except (OSError, Timeout):
        return None
    return template


def create(db: Path, artifact_root: str, lock_timeout: float = 600.0) -> None:
    """Build a brand-new store at ``db`` (which must not exist yet and which
    nobody else may open before this returns: callers build at a temporary
    path and rename)."""
    template = _template(lock_timeout)
    if template is not None:
        shutil.copyfile(template, db)
    # Opening the copy adds the default experiment (and checks the schema
    # version); for an empty file, it runs every migration.
    _migrate(db, artifact_root)
    if wal_supported(db.parent):
        use_wal(db)
