"""A real PostgreSQL on 127.0.0.1 and a real ``mlflow server`` backed by it
(imported by test_shards): the cluster is :mod:`devtools.servers`' (shared
with the benchmarks); here, what is pytest's: the skip mark, and a server
that does not start failing the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from _server import MlflowServer, failing_the_test

from devtools import servers

#: Why PostgreSQL tests cannot run here, or None when they can.
MISSING = servers.postgres_missing()

#: Marks a test (or module) that needs PostgreSQL; skipped with the reason otherwise.
needs_postgres = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@contextlib.contextmanager
def postgres_mlflow_server(
    folder: Path, *, durable: bool = False, workers: int = 1
) -> Iterator[MlflowServer]:
    """PostgreSQL, a database ``mlflow`` in it, and a real ``mlflow server``
    on it (artifacts proxied to ``folder/artifacts``, forked as
    :class:`_server.MlflowServer` starts it); both stopped on exit. The
    server's ``backend_uri`` is the database's URI."""
    with (
        failing_the_test(),
        servers.postgres_mlflow_server(
            lambda uri: MlflowServer(folder, backend_uri=uri, workers=workers), durable=durable
        ) as server,
    ):
        yield server
