"""One parent run per experiment file and session, each case run nested under
it (read back from a real sqlite store): the parent holds the file's table, its
plots and its best case. A run the project itself left open is never ended by
the plugin: case runs nest under it instead."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from _forked import runpytest_forked
from _server import copy_store, write
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments.parents import best_case
from pytest_experiments.results import CaseResult

SWEEP = """
    from pytest_experiments import experiment

    @experiment(params={"x": [1, 2, 4, 8, 16]}, expect={"score": ">= -1000"})
    def exp_sweep(x, experiment_run):
        for epoch in range(3):
            experiment_run.log_metric("loss", 1.0 / (epoch + x), step=epoch)
        return {"score": -float((x - 4) ** 2), "size": float(x)}
"""

OTHER = """
    from pytest_experiments import experiment

    @experiment(params={"c": ["a", "b"]}, expect={"error": "<= 5"})
    def exp_other(c):
        return {"error": 1.0 if c == "b" else 2.0}
"""


def _runs(db: Path) -> list[Any]:
    from _runs import all_runs

    return all_runs(db, parents=True)


def _artifacts(db: Path, run_id: str, path: str | None = None) -> list[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    return sorted(f.path for f in client.list_artifacts(run_id, path))


@pytest.mark.slow
def test_each_file_gets_one_parent_per_session_holding_table_plots_and_best_case(
    project: pytest.Pytester, template: Path
) -> None:
    write(project.path, "experiments/exp_001_sweep.py", SWEEP)
    write(project.path, "experiments/exp_002_other.py", OTHER)
    db = copy_store(template, project.path / "mlflow.db")
    # Two sessions (two parents per file), under xdist and without.
    for mode in (("-n", "2"), ("-p", "no:xdist")):
        result = runpytest_forked(project, *mode, "--exp-report", "report.md")
        assert result.ret == 0, result.stdout.str()
        assert "parent run" not in result.stdout.str()  # no warning about them
        assert "warning" not in result.stdout.lines[-1]

    runs = _runs(db)
    parents = [r for r in runs if r.data.tags.get("experiments.parent") == "true"]
    cases = [r for r in runs if "pytest.nodeid" in r.data.tags]
    assert len(cases) == 2 * (5 + 2) and len(parents) == 2 * 2
    by_id = {p.info.run_id: p for p in parents}
    for case in cases:  # nested under the parent of its own file and session
        parent = by_id[case.data.tags["mlflow.parentRunId"]]
        assert parent.data.tags["pytest.session"] == case.data.tags["pytest.session"]
        assert parent.info.experiment_id == case.info.experiment_id
        assert case.data.tags["pytest.nodeid"].startswith(parent.data.tags["experiments.file"])
    for parent in parents:
        assert parent.info.status == "FINISHED"
        children = [c for c in cases if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
        assert len(children) == (5 if "sweep" in parent.data.tags["experiments.file"] else 2)
        # The best case by the primary metric (its direction: lower for error).
        metric = parent.data.tags["experiments.primary_metric"]
        pick = min if metric == "error" else max
        best = pick(children, key=lambda c: c.data.metrics[metric])
        assert parent.data.tags["experiments.best_run_id"] == best.info.run_id
        assert parent.data.tags["experiments.best_case"] == best.info.run_name
        returned = json.loads(best.data.tags["experiments.metrics"])
        assert parent.data.metrics == {m: best.data.metrics[m] for m in returned}
        assert parent.data.tags["experiments.failed"] == "false"
        artifacts = _artifacts(db, parent.info.run_id)
        assert "table.md" in artifacts
        table = _table(db, parent.info.run_id)
        for child in children:  # the table has a row per case, labelled by its params
            assert child.info.run_name.split("[", 1)[1].rstrip("]") in table
    sweep = next(p for p in parents if "sweep" in p.data.tags["experiments.file"])
    assert sweep.data.tags["experiments.best_case"] == "exp_sweep[x=4]"
    pngs = _artifacts(db, sweep.info.run_id, "plots")
    # The same pictures as the report's: the gated score against x, the loss curves.
    assert sorted(Path(p).name for p in pngs) == sorted(
        p.name for p in (project.path / "report_files").glob("exp_001_sweep*.png")
    )
    assert len(pngs) == 2


def _table(db: Path, run_id: str) -> str:
    from mlflow.tracking import MlflowClient

    folder = MlflowClient(f"sqlite:///{db}").download_artifacts(run_id, "table.md")
    return Path(folder).read_text(encoding="utf-8")


OWN_RUN = """
    import mlflow
    import pytest
    from pathlib import Path

    @pytest.fixture(scope="session", autouse=True)
    def project_run():
        mlflow.set_experiment("project's own")
        with mlflow.start_run(run_name="mine") as run:
            yield
            active = mlflow.active_run()
            Path("still-active.txt").write_text(
                "yes" if active is not None and active.info.run_id == run.info.run_id else "no"
            )
"""


def test_a_run_the_project_left_open_stays_open_and_cases_nest_under_it(
    project: pytest.Pytester, template: Path
) -> None:
    write(project.path, "conftest.py", OWN_RUN)
    write(project.path, "exp_001_sweep.py", SWEEP)
    db = copy_store(template, project.path / "mlflow.db")
    result = runpytest_forked(project, "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    assert (project.path / "still-active.txt").read_text() == "yes"
    runs = _runs(db)
    mine = next(r for r in runs if r.info.run_name == "mine")
    assert mine.info.status == "FINISHED"
    cases = [r for r in runs if "pytest.nodeid" in r.data.tags]
    assert len(cases) == 5
    assert {c.data.tags["mlflow.parentRunId"] for c in cases} == {mine.info.run_id}


def _result(case: str, value: float, outcome: str = "passed", lower: bool = False) -> CaseResult:
    return CaseResult.for_item(
        f"exp_1.py::{case}",
        "exp_1.py",
        metrics={"m": value},
        outcome=outcome,
        directions={"m": "lower" if lower else "higher"},
    )


@given(
    values=st.lists(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5).map(float)),
        min_size=1,
        max_size=12,
    ),
    lower=st.booleans(),
    outcomes=st.lists(st.sampled_from(["passed", "failed", "error", "regressed"]), min_size=12),
)
def test_the_best_case_is_the_first_best_finite_value_by_direction(
    values: list[float], lower: bool, outcomes: list[str]
) -> None:
    results = [_result(f"exp[{i}]", v, outcomes[i], lower) for i, v in enumerate(values)]
    ranked = [r for r in results if r.outcome != "error" and math.isfinite(r.metrics["m"])]
    best = best_case(results, "m")
    if not ranked:
        assert best is None
        return
    target = (min if lower else max)(r.metrics["m"] for r in ranked)
    first = next(r for r in ranked if r.metrics["m"] == target)
    assert best is first
    assert best_case(results, "other") is None and best_case(results, None) is None
