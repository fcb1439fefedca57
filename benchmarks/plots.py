"""What the report's plots cost: the report written with plots and without.

    .venv/bin/python benchmarks/plots.py                   # synthetic heart study, 7 rounds
    .venv/bin/python benchmarks/plots.py --rounds 15
    .venv/bin/python benchmarks/plots.py --json results.json   # results of a real session

The results are the heart study's shape (``experiments/``): three experiment
files, five cases each (logistic regression over ``C`` 0.01 to 100, random
forest and gradient boosting over ``n_estimators`` 50 to 500), three metrics
per case (accuracy, f1, roc_auc) of 8 repeats each, a baseline for every
case, and two gated metrics per experiment: six sweep plots with error bars
and baselines. ``--json`` takes the results of a real session instead (the
file ``--exp-json`` writes).

Each measurement is a fresh process (as the controller of a session, which
imports matplotlib once) timing what the session's ``write_outputs`` does:

- without plots: ``render_markdown`` and writing the report;
- with plots: ``plots.write_all`` (the matplotlib import, drawing and saving
  every PNG) and then the same.

Rounds alternate their order; medians are printed, with the extra seconds
and the ratio, as wall time and as CPU time (user + system) of the process.
An untimed warm-up fills matplotlib's font cache and the page cache first.

Target: plots add under 2 s. The verdict is on CPU time: the work is
single-threaded and CPU-bound (a few 40 kB files written), so on an idle core
wall time equals it, while on a shared machine wall time is CPU time divided
by the share of a core the process gets (the load average is printed).
Exit status 0 when met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TARGET_SECONDS = 2.0


def synthetic_results() -> list[dict[str, object]]:
    """The heart study's results as ``CaseResult.to_dict`` writes them."""
    from pytest_experiments.results import CaseResult, Comparison
    from pytest_experiments.stats import Summary

    rng = random.Random(0)
    studies = [
        ("experiments/exp_001_logistic_regression.py", "exp_logistic_regression", "C",
         [0.01, 0.1, 1.0, 10.0, 100.0], ("accuracy", "roc_auc")),
        ("experiments/exp_002_random_forest.py", "exp_random_forest", "n_estimators",
         [50, 100, 200, 300, 500], ("accuracy", "f1")),
        ("experiments/exp_003_gradient_boosting.py", "exp_gradient_boosting", "n_estimators",
         [50, 100, 200, 300, 500], ("accuracy", "f1")),
    ]  # fmt: skip
    results: list[dict[str, object]] = []
    for file, experiment, param, grid, gated in studies:
        for value in grid:
            summaries = {
                metric: Summary.of([centre + rng.gauss(0, 0.015) for _ in range(8)])
                for metric, centre in (("accuracy", 0.84), ("f1", 0.81), ("roc_auc", 0.92))
            }
            comparisons = {
                metric: Comparison(
                    metric=metric,
                    baseline=s.mean + rng.gauss(0, 0.005),
                    current=s.mean,
                    delta=0.0,
                    direction="higher",
                    tolerance="0.02",
                    status="same",
                    baseline_n=8,
                    current_n=8,
                    gated=metric in gated,
                )
                for metric, s in summaries.items()
            }
            result = CaseResult.for_item(
                f"{file}::{experiment}[{param}={value}]",
                file,
                params={param: value},
                metrics={m: s.mean for m, s in summaries.items()},
                spread={m: s.to_dict() for m, s in summaries.items()},
                repeats=8,
                seeds=list(range(8)),
                directions=dict.fromkeys(summaries, "higher"),
                comparisons=comparisons,
                has_baseline=True,
                expect=dict.fromkeys(gated, ">= 0.75"),
                duration=1.0,
            )
            results.append(result.to_dict())
    return results


def child(results_file: Path, out: Path, with_plots: bool) -> None:
    """One timed write of the report (this process's only job); prints JSON."""
    start = time.perf_counter()
    cpu_start = time.process_time()
    from pytest_experiments import reporting
    from pytest_experiments.results import CaseResult, SessionInfo

    document = json.loads(results_file.read_text())
    rows = document["results"] if isinstance(document, dict) else document
    results = [CaseResult.from_dict(_finite(row)) for row in rows]
    info = SessionInfo(started="2026-01-01T00:00:00+00:00")
    ready, cpu_ready = time.perf_counter(), time.process_time()
    links: dict[tuple[str, str], list[tuple[str, str]]] = {}
    count = 0
    if with_plots:
        from pytest_experiments import plots

        written = plots.write_all(results, out / "report_files")
        if written.problems:
            raise SystemExit("; ".join(written.problems))
        for key, files in written.by_experiment.items():
            links[key] = [(p.spec.title, f"report_files/{p.path.name}") for p in files]
            count += len(files)
    markdown = reporting.render_markdown(info, results, plots=links)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    end, cpu_end = time.perf_counter(), time.process_time()
    figures = {"seconds": end - ready, "cpu": cpu_end - cpu_ready, "setup": ready - start}
    print(json.dumps({**figures, "plots": count, "setup_cpu": cpu_ready - cpu_start}))


def _finite(row: dict[str, object]) -> dict[str, object]:
    """A JSON result row with ``"nan"``/``"inf"`` strings turned back into floats."""
    metrics = row.get("metrics")
    if isinstance(metrics, dict):
        row = {**row, "metrics": {k: _number(v) for k, v in metrics.items()}}
    return row


def _number(value: object) -> object:
    if value in ("nan", "inf", "-inf"):
        return float(value)  # type: ignore[arg-type]
    return value


def measure(results_file: Path, with_plots: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "with" if with_plots else "without",
            "--results",
            str(results_file),
            "--out",
            folder,
        ]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"child failed:\n{done.stdout}\n{done.stderr}")
        figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        figures["process"] = wall
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="results written by --exp-json")
    parser.add_argument("--child", choices=["with", "without"], help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.results, args.out, args.child == "with")
        return 0

    with tempfile.TemporaryDirectory() as folder:
        results_file = Path(folder) / "results.json"
        if args.json:
            results_file.write_text(args.json.read_text())
            source = str(args.json)
        else:
            results_file.write_text(json.dumps({"results": synthetic_results()}))
            source = "synthetic heart study (3 experiments x 5 cases, 3 metrics x 8 repeats)"
        measure(results_file, True)  # warm-up: font cache, page cache
        measure(results_file, False)
        timings: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for round_no in range(args.rounds):
            order = (True, False) if round_no % 2 == 0 else (False, True)
            for with_plots in order:
                timings[with_plots].append(measure(results_file, with_plots))

    def median(with_plots: bool, key: str) -> float:
        return statistics.median(t[key] for t in timings[with_plots])

    plots_made = int(timings[True][0]["plots"])
    without, with_ = median(False, "seconds"), median(True, "seconds")
    cpu_without, cpu_with = median(False, "cpu"), median(True, "cpu")
    extra = with_ - without
    process_extra = median(True, "process") - median(False, "process")
    print(f"results: {source}; {plots_made} plots; {args.rounds} rounds, medians")
    print(f"{'':27}{'wall':>9}{'CPU':>11}")
    print(f"report without plots:      {without:7.3f} s  {cpu_without:7.3f} s")
    print(f"report with plots:         {with_:7.3f} s  {cpu_with:7.3f} s")
    print(
        f"plots add:                 {extra:7.3f} s  {cpu_with - cpu_without:7.3f} s"
        f"  (ratio {_ratio(with_, without)} wall)"
    )
    if plots_made:
        print(f"per plot (all included):   {extra / plots_made:7.3f} s")
    print(f"whole process, plots add:  {process_extra:7.3f} s")
    print(f"load average during the run: {_load()}")
    cpu_extra = cpu_with - cpu_without
    verdict = "PASS" if cpu_extra < TARGET_SECONDS else "FAIL"
    print(f"target: plots add under {TARGET_SECONDS:.0f} s of CPU: {verdict}")
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1):
        print("the machine is busy (load above its core count): wall times are inflated")
    return 0 if verdict == "PASS" else 1


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 and math.isfinite(a / b) else "n/a"


def _load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
