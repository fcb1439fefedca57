"""What each case cost (issue 28): wall and CPU seconds and peak memory as
run metrics that are never gated, the report's optional cost column and
totals, and MLflow's system metrics in the case's own run. Real sessions on
a real sqlite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _forked import runpytest_forked
from _runs import all_runs, sqlite_uri
from _server import copy_store, read_json, runs_by_name, write

from pytest_experiments.cost import CPU, PEAK, WALL, cost_cell
from pytest_experiments.tags import TAG_METRICS

COSTLY = """
    import time

    from pytest_experiments import experiment


    @experiment(params={"mib": [120, 1]})
    def exp_costly(mib):
        block = bytearray(mib * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        return {"acc": 1.0, "cost.cpu_seconds": 7.0}
"""


def test_cost_metrics_per_case_never_gated_and_in_the_report(
    project: pytest.Pytester, template: Path
) -> None:
    """Run without xdist, so that the small case runs in the process the
    large one left with a high peak: its own peak is still its own."""
    root = project.path
    write(root, "exp_costly.py", COSTLY)
    uri = sqlite_uri(copy_store(template, root / "store.db"))
    args = ("--exp-tracking-uri", uri, "--exp-json", "r.json", "-p", "no:xdist")
    result = runpytest_forked(project, *args, "--exp-report", "r.md", "--exp-report-cost")
    assert result.ret == 0, result.stdout.str()[-3000:]
    runs = runs_by_name(uri, "exp_costly")
    big, small = runs["exp_costly[mib=120]"], runs["exp_costly[mib=1]"]
    for run in (big, small):
        metrics = run.data.metrics
        assert metrics[CPU] == 7.0  # the experiment's own metric wins
        assert metrics[WALL] >= 0.3 and metrics[PEAK] > 0
        assert json.loads(run.data.tags[TAG_METRICS]) == ["acc", CPU]  # what the gate reads
    assert big.data.metrics[PEAK] - small.data.metrics[PEAK] > 100
    results = {r["case_id"]: r for r in read_json(root / "r.json")["results"]}
    big_cost = results["exp_costly[mib=120]"]["cost"]
    assert big_cost[CPU] >= 0.3 and big_cost[PEAK] == big.data.metrics[PEAK]
    assert set(results["exp_costly[mib=120]"]["metrics"]) == {"acc", CPU}
    assert any("is the experiment's own" in n for n in results["exp_costly[mib=1]"]["notes"])
    report = (root / "r.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| case |"))
    assert "| cost | outcome |" in header
    assert cost_cell(big_cost) in report
    assert "## Cost" in report and "| exp\\_costly (exp\\_costly.py) | 2 |" in report
    # Without --exp-report-cost: no cost column, no section.
    runpytest_forked(project, *args, "--exp-report", "plain.md")
    plain = (root / "plain.md").read_text()
    assert "## Cost" not in plain and "| cost |" not in plain


def test_cost_cell_reads_each_part() -> None:
    cell = cost_cell({WALL: 1.5, CPU: 1.25, PEAK: 300.4, "cost.gpu_peak_memory_mb": 2048.0})
    assert cell == "1.50 s, CPU 1.25 s, 300 MiB, GPU 2048 MiB"
    assert cost_cell({WALL: 250.0}) == "250 s"


SLEEPY = """
    import time

    from pytest_experiments import experiment


    @experiment(params={"n": [1, 2]})
    def exp_sleepy(n):
        time.sleep(1.5)
        return {"acc": 1.0}
"""


def test_mlflow_system_metrics_land_in_each_case_run(
    project: pytest.Pytester, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psutil")  # MLflow's system metrics need it
    root = project.path
    write(root, "exp_sleepy.py", SLEEPY)
    uri = sqlite_uri(copy_store(template, root / "store.db"))
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    result = runpytest_forked(project, "--exp-tracking-uri", uri, "-n", "2", timeout=300)
    assert result.ret == 0, result.stdout.str()[-3000:]
    runs = all_runs(uri, "exp_sleepy", parents=True)
    cases = [run for run in runs if run.info.run_name.startswith("exp_sleepy[")]
    parents = [run for run in runs if run.data.tags.get("experiments.parent") == "true"]
    assert len(cases) == 2 and len(parents) == 1
    for run in cases:
        assert any(m.startswith("system/") for m in run.data.metrics), run.data.metrics
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    assert not any(m.startswith("system/") for m in parents[0].data.metrics)
