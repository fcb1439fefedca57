"""Tracking against a real ``mlflow server`` on 127.0.0.1 (started once per module)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from _forked import runpytest_forked
from _server import (
    MlflowServer,
    results_by_case,
    running_server,
    store_template,
)

pytestmark = pytest.mark.slow

RF = """
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from pytest_experiments import experiment


    @experiment(params={"n_estimators": [3, 5, 8]}, expect={"acc": ">= 0.5", "trees": ">= 5"})
    def exp_rf(n_estimators, seed, experiment_run):
        X, y = make_classification(n_samples=100, n_features=5, random_state=seed)
        model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed).fit(X, y)
        experiment_run.log_model(model)
        print("case url:", experiment_run.url)
        return {"acc": float(model.score(X, y)), "trees": float(n_estimators)}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    template = store_template(tmp_path_factory)
    with running_server(tmp_path_factory.mktemp("mlflow-server"), template) as running:
        yield running


def test_runs_urls_and_models_on_a_real_server_under_xdist_without_leaking_credentials(
    project: pytest.Pytester, server: MlflowServer
) -> None:
    """One session at -n 2 against the server, its URI carrying user:password
    (the server has no auth and ignores them): runs, links and models land on
    the server, and the password shows up nowhere."""
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import make_classification

    project.makepyfile(exp_001_forest=textwrap.dedent(RF))
    result = runpytest_forked(
        project,
        "-n",
        "2",
        "-rA",  # show every case's captured output, where MLflow prints run links
        "--exp-tracking-uri",
        f"http://user:s3cret@127.0.0.1:{server.port}",
        "--exp-json",
        "out.json",
        "--exp-report",
        "reports/report.md",
        timeout=600,
    )
    result.assert_outcomes(passed=2, failed=1)
    assert not (project.path / "mlflow.db").exists()

    # never printed or written
    report = (project.path / "reports" / "report.md").read_text(encoding="utf-8")
    for where, text in {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "report": report,
        "json": (project.path / "out.json").read_text(encoding="utf-8"),
    }.items():
        assert "s3cret" not in text, where
    assert f"127.0.0.1:{server.port}" in report  # the store is named, without its password
    assert "trees" in report[report.lower().index("failure") :]

    # the runs are on the server
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("exp_001_forest")
    assert experiment is not None
    found = client.search_runs([experiment.experiment_id])
    parents = [r for r in found if r.data.tags.get("experiments.parent") == "true"]
    runs = {r.info.run_name: r for r in found if r not in parents}
    assert sorted(runs) == sorted(f"exp_rf[n_estimators={n}]" for n in (3, 5, 8))
    # ... each nested under the session's one parent run of the file
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {parents[0].info.run_id}
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    for name, run in runs.items():
        assert run.data.params["n_estimators"] in name
        assert run.data.tags["outcome"] == ("failed" if "=3]" in name else "new")

    # every result links to its run's page in the MLflow UI
    results = results_by_case(project.path / "out.json")
    assert sorted(results) == sorted(runs)
    for case_id, case in results.items():
        run = runs[case_id]
        expected = (
            f"http://127.0.0.1:{server.port}/#/experiments/"
            f"{experiment.experiment_id}/runs/{run.info.run_id}"
        )
        assert case["run_id"] == run.info.run_id
        assert case["run_url"] == expected
        assert f"case url: {expected}" in result.stdout.str()  # experiment_run.url
        assert f"({expected})" in report
        assert case["metrics"]["acc"] == run.data.metrics["acc"]

    # each case logged its model through the server; one loads and predicts
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    by_run = {m.source_run_id: m for m in models}
    assert set(by_run) == {r.info.run_id for r in runs.values()}
    run = runs["exp_rf[n_estimators=5]"]
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=by_run[run.info.run_id].artifact_location,
        dst_path=str(project.path / "model"),
        tracking_uri=server.uri,
    )
    model = mlflow.sklearn.load_model(local)
    X, y = make_classification(n_samples=100, n_features=5, random_state=42)
    assert float((model.predict(X) == y).mean()) == run.data.metrics["acc"]
