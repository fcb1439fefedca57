"""Shared fixtures for the plugin's tests.

Tests drive real pytest runs through ``pytester``. Runs with tracking on are
processes of their own (MLflow keeps process-global state), forked from a
process that imported MLflow once (``_forked.runpytest_forked``, same
arguments and result as ``runpytest_subprocess``), against a real sqlite store
inside the test's own directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# This test process's own MLflow client sends no telemetry. On a machine that
# cannot reach MLflow's telemetry config URL (CI), MLflow's telemetry thread
# unsets an environment variable while requests may be reading the
# environment, and a test's own call to a server then fails with a KeyError.
# Set before anything imports mlflow (the decision is taken at import); the
# sessions under test do not inherit it (_LEAKY_ENV): they run with MLflow as
# users have it, and the plugin retries such a request.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

# Imported once, up front: in-process pytester runs unload the modules they
# import, numpy cannot be imported twice per process, and mlflow's
# importlib_metadata backport leaves an import hook behind that hides entry points.
import _internals
import importlib_metadata  # noqa: F401
import numpy  # noqa: F401
import pytest
from _runs import all_runs


def pytest_report_header() -> str:
    """Whether the harness forks sessions from its zygote, and if not, why
    (``_internals``): a suite that falls back to cold processes is slower, and
    says so at the top."""
    return _internals.report_header()


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, hand out tests one at a time (``--maxschedchunk 1``)
    unless told otherwise. By default xdist gives each worker a run of
    consecutive tests up front (here the first 77, all of them slow, went to
    one worker while the other ran the quick ones and waited)."""
    if getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow scenarios first (otherwise in file order): with tests handed out
    one at a time, the xdist workers share the long scenarios and end on
    short tests together, instead of one waiting out a long scenario that
    happened to come last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


#: Environment that would leak the developer's settings into test runs.
_LEAKY_ENV = (
    "MLFLOW_DISABLE_TELEMETRY",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_RUN_ID",
    "GITHUB_STEP_SUMMARY",
    "PYTEST_ADDOPTS",
)


@pytest.fixture(scope="session")
def store_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin's cache of migrated store templates for this test session
    (shared by the xdist workers; never the developer's own ~/.cache)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return shared / "store-cache"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, store_cache: Path) -> None:
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    monkeypatch.setenv("PYTEST_EXPERIMENTS_CACHE_DIR", str(store_cache))
    # pytester points HOME at each test's folder, so every session that draws
    # a plot would rebuild matplotlib's font cache (0.5-1.2 s) there.
    monkeypatch.setenv("MPLCONFIGDIR", str(store_cache.parent / "matplotlib"))


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """An empty user project (its own rootdir, ini file and git-free folder)."""
    pytester.makeini("[pytest]\n")
    return pytester


def store_runs(db: Path, experiment: str | None = None) -> list[Any]:
    """Every MLflow run in the sqlite store ``db`` (optionally one experiment)."""
    return all_runs(db, experiment)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly migrated empty sqlite store to copy into projects (saves ~9 s each)."""
    from _server import store_template

    return store_template(tmp_path_factory)
