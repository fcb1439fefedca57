"""``--exp-compare A B`` over a store of 10,000 runs, beside ``--exp-merge``
of the same store (same machine, same minute).

    .venv/bin/python benchmarks/compare.py            # ~2 min on 2 cores
    .venv/bin/python benchmarks/compare.py --quick    # one timing each

The store is benchmarks/merge.py's part 1: one experiment file with a
1,000-case grid and ten session groups of 1,000 FINISHED runs (``bench-0``
... ``bench-9``, the score of case i in group g is i/1000 + g), written in
one transaction with MLflow's own table definitions into a sqlite file.
Then, each in a fresh process (median of 3), with ``--exp-json`` and
``--exp-report``:

- ``--exp-compare bench-4 bench-5``: every case better, exit 0;
- ``--exp-compare bench-5 bench-4``: every case regressed, exit 1;
- ``--exp-merge bench-5`` for reference.

Target: the comparison under 5 s, like the merge. A comparison reads two
groups (two paged searches) and, per run with several samples, its metric
history; these runs have one sample each and no predictions (the score is
not a metric the plugin can recompute, so no artifact is asked for).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from merge import BENCH_FILE, CASES, GROUPS, check_store, fill, project, pytest

TARGET_S = 5.0


def time_compare(root: Path, uri: str, a: str, b: str, repeats: int, status: int) -> list[float]:
    times = []
    for _ in range(repeats):
        seconds, done = pytest(
            root, "--exp-compare", a, b, "--exp-tracking-uri", uri,
            "--exp-json", "compared.json", "--exp-report", "compared.md",
        )  # fmt: skip
        assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
        data = json.loads((root / "compared.json").read_text())
        results = data["results"]
        assert len(results) == CASES and data["session"]["merged"]["missing"] == 0
        want = "passed" if status == 0 else "regressed"
        assert all(r["outcome"] == want for r in results), {r["outcome"] for r in results}
        delta = results[7]["comparisons"]["score"]["delta"]
        assert abs(delta - (int(b[-1]) - int(a[-1]))) < 1e-9, delta
        times.append(seconds)
    return times


def time_merge(root: Path, uri: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        seconds, done = pytest(
            root, "--exp-merge", "bench-5", "--exp-tracking-uri", uri,
            "--exp-json", "merged.json", "--exp-report", "merged.md",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        times.append(seconds)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    from mlflow.tracking import MlflowClient

    from pytest_experiments import sqlite_store

    work = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    try:
        root = project(work / "compare-sqlite", BENCH_FILE.format(cases=CASES))
        db = root / "mlflow.db"
        sqlite_store.create(db, (root / "mlruns").as_uri())
        uri = f"sqlite:///{db}"
        exp_id = MlflowClient(uri).create_experiment("exp_001_bench")
        fill(uri, exp_id)
        check_store(uri)
        print(f"sqlite store: {GROUPS * CASES} runs")
        figures = {
            "compare bench-4 bench-5 (better, exit 0)": time_compare(
                root, uri, "bench-4", "bench-5", repeats, 0
            ),
            "compare bench-5 bench-4 (regressed, exit 1)": time_compare(
                root, uri, "bench-5", "bench-4", repeats, 1
            ),
            "merge bench-5 (reference)": time_merge(root, uri, repeats),
        }
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        for name, times in figures.items():
            median = statistics.median(times)
            verdict = (
                ""
                if name.startswith("merge")
                else (f"  (target < {TARGET_S:g} s: {'PASS' if median < TARGET_S else 'FAIL'})")
            )
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(f"{name}: median {median:.2f} s [{shown}]{verdict}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
