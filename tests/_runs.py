"""Reading MLflow runs back in tests; mlflow is imported on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def sqlite_uri(db: Path) -> str:
    return f"sqlite:///{db.as_posix()}"


def all_runs(
    db_or_uri: Path | str, experiment: str | None = None, parents: bool = False
) -> list[Any]:
    """Every case run of a store (a sqlite file or a URI), optionally of one
    experiment; with ``parents``, the sessions' parent runs too."""
    from mlflow.tracking import MlflowClient

    uri = sqlite_uri(db_or_uri) if isinstance(db_or_uri, Path) else db_or_uri
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments() if experiment in (None, e.name)]
    if not ids:
        return []
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(ids, max_results=1000, page_token=token)
        runs.extend(r for r in page if parents or r.data.tags.get("experiments.parent") != "true")
        token = page.token
        if not token:
            return runs


def own_metrics(run: Any) -> dict[str, float]:
    """A run's metrics without the case's cost (``cost.*``, logged on every case run)."""
    return {k: v for k, v in run.data.metrics.items() if not k.startswith("cost.")}
