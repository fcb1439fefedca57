"""Brand-new sqlite stores: a copy of a migrated template, in WAL mode where safe.

The store the plugin builds must be exactly the store MLflow builds itself
(same schema, same rows but for timestamps), and MLflow must open and use it.
"""

from __future__ import annotations

import contextlib
import sqlite3
import string
from pathlib import Path
from typing import Any

import _server  # noqa: F401  (keeps mlflow imported for the whole session)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments import sqlite_store


def _schema(db: Path) -> list[tuple[str, str, list[str]]]:
    """Every table, index and trigger with its definition, one clause per line,
    sorted: two stores that MLflow itself migrates can list a table's
    constraints in different orders (its batch migrations rebuild tables)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return sorted(
        (t, n, sorted(line.strip().rstrip(",") for line in (s or "").splitlines()))
        for t, n, s in rows
    )


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, with the default experiment's timestamps removed."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with contextlib.closing(sqlite3.connect(db)) as connection:
        names = [
            n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for name in names:
            cursor = connection.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in cursor.description]
            rows = []
            for row in cursor.fetchall():
                rows.append(
                    tuple(
                        v
                        for c, v in zip(columns, row, strict=True)
                        if c not in ("creation_time", "last_update_time")
                    )
                )
            out[name] = sorted(rows, key=repr)
    return out


def _mlflow_built(db: Path, artifacts: str) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", artifacts)  # type: ignore[no-untyped-call]
    store.engine.dispose()


def test_a_store_from_the_template_is_the_store_mlflow_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_EXPERIMENTS_CACHE_DIR", str(tmp_path / "cache"))
    artifacts = (tmp_path / "mlruns").as_uri()
    reference = tmp_path / "reference.db"
    _mlflow_built(reference, artifacts)

    first = tmp_path / "first.db"  # builds the template
    sqlite_store.create(first, artifacts)
    second = tmp_path / "second.db"  # copies it
    sqlite_store.create(second, artifacts)

    templates = list((tmp_path / "cache").glob("mlflow-*.db"))
    assert [t.name for t in templates] == [f"{sqlite_store.template_key()}.db"]
    for db in (first, second):
        assert _schema(db) == _schema(reference)
        assert _rows(db) == _rows(reference)

    # MLflow uses it as its own: a run goes in and comes back out.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{second}")
    experiment = client.create_experiment("e")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "m", 0.5)
    client.set_terminated(run.info.run_id)
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"m": 0.5} and got.info.status == "FINISHED"
    default = client.get_experiment("0")
    assert default.artifact_location == f"{artifacts}/0"


def test_the_template_key_names_the_mlflow_version_and_sqlite() -> None:
    import mlflow

    key = sqlite_store.template_key()
    assert key.startswith(f"mlflow-{mlflow.__version__}-")
    assert key.endswith(f"-sqlite-{sqlite3.sqlite_version}")


def test_an_unusable_cache_folder_still_gives_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("PYTEST_EXPERIMENTS_CACHE_DIR", str(blocker / "cache"))
    reference = tmp_path / "reference.db"
    _mlflow_built(reference, (tmp_path / "mlruns").as_uri())

    db = tmp_path / "store.db"
    sqlite_store.create(db, (tmp_path / "mlruns").as_uri())
    assert _schema(db) == _schema(reference)
    assert _rows(db) == _rows(reference)


def test_a_new_store_on_a_local_disk_uses_the_write_ahead_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not sqlite_store.wal_supported(tmp_path):
        pytest.skip(f"{tmp_path} is not on a local filesystem known to this test")
    monkeypatch.setenv("PYTEST_EXPERIMENTS_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "store.db"
    sqlite_store.create(db, (tmp_path / "mlruns").as_uri())
    with contextlib.closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # Nothing is left beside the file once every connection has closed.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("store")) == ["store.db"]


# -- which filesystems get WAL ------------------------------------------------

_MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /mnt/shared rw,relatime shared:2 - nfs4 server:/export rw,vers=4.2
31 30 8:2 / /mnt/shared/local rw,relatime shared:3 - xfs /dev/sdb1 rw
32 22 0:26 / /home/me/My\\040Drive rw - fuse.sshfs me@host:/ rw
33 22 0:27 / /tmp rw - tmpfs tmpfs rw
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "ext4"),
        ("/home/me/project/mlflow.db", "ext4"),
        ("/mnt/shared/team/mlflow.db", "nfs4"),
        ("/mnt/shared/local/mlflow.db", "xfs"),
        ("/mnt/sharedness/mlflow.db", "ext4"),  # a prefix of the name is not a mount
        ("/home/me/My Drive/mlflow.db", "fuse.sshfs"),
        ("/tmp/x.db", "tmpfs"),
    ],
)
def test_the_deepest_mount_holding_a_path_gives_its_type(path: str, expected: str) -> None:
    assert sqlite_store.mount_type(_MOUNTINFO, path) == expected


@pytest.mark.parametrize(
    ("fs_type", "allowed"),
    [
        ("ext4", True),
        ("xfs", True),
        ("tmpfs", True),
        ("btrfs", True),
        ("overlay", True),
        ("nfs", False),
        ("nfs4", False),
        ("cifs", False),
        ("9p", False),
        ("fuse.sshfs", False),
        ("fuse", False),
        (None, False),
    ],
)
def test_wal_only_where_the_filesystem_is_known_to_be_local(
    fs_type: str | None, allowed: bool
) -> None:
    assert sqlite_store.wal_allowed(fs_type) is allowed


_segment = (
    st.text(alphabet=string.ascii_lowercase + string.digits + " _-", min_size=1, max_size=8)
    .map(str.strip)
    .filter(bool)
)


@given(
    mounts=st.lists(st.lists(_segment, min_size=1, max_size=3), min_size=1, max_size=6),
    tail=st.lists(_segment, max_size=3),
    pick=st.integers(min_value=0),
)
def test_mount_type_picks_the_longest_mount_prefix(
    mounts: list[list[str]], tail: list[str], pick: int
) -> None:
    points = ["/"] + ["/" + "/".join(parts) for parts in mounts]
    kinds = {point: f"fs{i}" for i, point in enumerate(points)}  # last one wins per point
    lines = [
        f"{i} 1 0:{i} / {point.replace(' ', chr(92) + '040')} rw - {kinds[point]} src rw"
        for i, point in enumerate(points)
    ]
    target = points[pick % len(points)]
    path = "/".join([target.rstrip("/"), *tail]) or "/"
    holders = [p for p in points if path == p or path.startswith(p.rstrip("/") + "/")]
    deepest = max(holders, key=len)
    assert sqlite_store.mount_type("\n".join(lines), path) == kinds[deepest]
