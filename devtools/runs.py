"""Reading runs back from an MLflow store, independently of the plugin (its
merge reads them its own way), to check what sessions logged; mlflow is
imported on first use."""

from __future__ import annotations

from typing import Any


def group_runs(uri: str, group: str) -> list[Any]:
    """Every case run tagged with session group ``group`` in the store at
    ``uri``, in every experiment (runs without a node id, such as a
    session's parent runs, are left out)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            ids,
            f"tags.`experiments.session_group` = '{group}'",
            max_results=1000,
            page_token=token,
        )
        runs.extend(r for r in page if "pytest.nodeid" in r.data.tags)
        token = page.token
        if not token:
            return runs
