"""The MLflow internals the plugin cannot do without, in one place.

Everything else goes through MLflow's public API (``mlflow``, ``MlflowClient``,
``mlflow.entities``). Each function here names the private or undocumented
piece it uses and why there is no public way; an MLflow upgrade that breaks
one of them breaks it here, and the plugin's tests say so.
"""

from __future__ import annotations

from typing import Any


def parse_search_filter(filter_string: str) -> None:
    """Raise MlflowException when MLflow cannot parse a runs filter.

    ``SearchUtils`` (``mlflow.utils.search_utils``) is MLflow's own filter
    parser, undocumented: it lets ``--exp-baseline mlflow:FILTER`` be checked
    once, before any case runs, on every kind of store, rather than by a
    search that fails in every case."""
    from mlflow.utils.search_utils import SearchUtils

    SearchUtils.parse_search_filter(filter_string)  # type: ignore[no-untyped-call]


def param_name_is_valid(name: str) -> bool:
    """Whether MLflow accepts ``name`` as a param key.

    ``_validate_param_name`` (``mlflow.utils.validation``, private) holds
    MLflow's rules for key characters and length, which differ between
    versions; checking before the batch write keeps one bad key from losing a
    case's whole batch."""
    from mlflow.utils.validation import _validate_param_name

    try:
        _validate_param_name(name)  # type: ignore[no-untyped-call]
    except Exception:
        return False
    return True


def migrate_sqlite_store(uri: str, artifact_root: str) -> None:
    """Create (or bring up to date) a sqlite store by running MLflow's migrations.

    ``SqlAlchemyStore`` (``mlflow.store.tracking.sqlalchemy_store``) is the
    only way besides starting ``mlflow server`` to have MLflow build its own
    schema; the plugin builds stores under a lock, at a temporary path, so that
    xdist workers never race on a half-migrated database."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store: Any = SqlAlchemyStore(uri, artifact_root)  # type: ignore[no-untyped-call]
    store.engine.dispose()


def import_sqlalchemy_store() -> None:
    """Import MLflow's SQL store module ahead of use, out of any timed code.

    Importing ``mlflow.store.tracking.sqlalchemy_store`` maps MLflow's ORM
    classes (~1 s); done once per process before the first case, so that no
    case's timing (pytest-timeout included) pays for it."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401


def resolve_run_context() -> None:
    """Have MLflow work out its run-context tags now, out of any timed code.

    ``mlflow.start_run`` tags each run with its source, user and git commit
    through ``mlflow.tracking.context.registry.resolve_tags`` (undocumented).
    Its git provider imports GitPython and asks git for the commit the first
    time, then caches the answer for the process. Called before the first
    case, so that case's timed call does not pay for it (over a second on a
    loaded machine, enough for pytest-timeout to fail the case)."""
    from mlflow.tracking.context.registry import resolve_tags

    resolve_tags()
