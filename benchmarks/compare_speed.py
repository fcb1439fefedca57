"""Target: ``--exp-compare A B`` over a store of 10,000 runs in under 5 s.

    .venv/bin/python benchmarks/compare_speed.py            # ~2 min on 2 cores
    .venv/bin/python benchmarks/compare_speed.py --quick    # one timing each
    .venv/bin/python benchmarks/compare_speed.py --quick --cases 100   # a smoke run

The store of ``benchmarks/merge_speed.py`` (one 1,000-case grid, ten session
groups of 1,000 FINISHED runs, ``bench-0`` ... ``bench-9``, the score of
case i in group g is i/1000 + g), written in one transaction into a sqlite
file. Then, each in a fresh process (median of 3), with ``--exp-json`` and
``--exp-report``:

- ``--exp-compare bench-4 bench-5``: every case better, exit 0;
- ``--exp-compare bench-5 bench-4``: every case regressed, exit 1;
- ``--exp-merge bench-5`` for reference.

A comparison reads two groups (two paged searches) and, per run with several
samples, its metric history; these runs have one sample each and no
predictions (the score is not a metric the plugin can recompute, so no
artifact is asked for).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from _common import Bench, Row, header, main, pytest_cmd, require, synthetic_project, timed

GROUPS = 10
TARGET_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=int, default=1000, help="cases a group (default 1000)")


def session(root: Path, args: list[str], status: int) -> tuple[float, dict[str, Any]]:
    """One fresh pytest process over the store; its wall time and JSON."""
    timing, _ = timed(
        pytest_cmd("-p", "no:cacheprovider", "-q", *args, "--exp-json", "out.json",
                   "--exp-report", "out.md"),
        root,
        ok_codes=(status,),
        timeout=1800,
    )  # fmt: skip
    data: dict[str, Any] = json.loads((root / "out.json").read_text())
    return timing.wall, data


def time_compare(root: Path, uri: str, a: str, b: str, cases: int, repeats: int) -> list[float]:
    better = int(b[-1]) > int(a[-1])
    times = []
    for _ in range(repeats):
        args = ["--exp-compare", a, b, "--exp-tracking-uri", uri]
        seconds, data = session(root, args, 0 if better else 1)
        results = data["results"]
        missing = data["session"]["merged"]["missing"]
        require(len(results) == cases and missing == 0, f"compare: {len(results)} results")
        want = "passed" if better else "regressed"
        outcomes = {r["outcome"] for r in results}
        require(outcomes == {want}, f"compare {a} {b}: outcomes {outcomes}, expected {want}")
        delta = results[7]["comparisons"]["score"]["delta"]
        require(abs(delta - (int(b[-1]) - int(a[-1]))) < 1e-9, f"compare: delta {delta}")
        times.append(seconds)
    return times


def measure(bench: Bench) -> None:
    cases: int = bench.args.cases
    repeats = bench.repeats(3, 1)
    header(f"--exp-compare of two {cases:,}-case groups among {GROUPS * cases:,} runs")
    root, uri = synthetic_project(bench.root / "compare-sqlite", GROUPS, cases)
    for a, b, what in (
        ("bench-4", "bench-5", "better, exit 0"),
        ("bench-5", "bench-4", "regressed, exit 1"),
    ):
        times = time_compare(root, uri, a, b, cases, repeats)
        median = statistics.median(times)
        bench.add(
            Row(
                f"--exp-compare {a} {b} ({what}; median of {repeats})",
                median,
                "s",
                target=f"< {TARGET_S:.0f} s",
                ok=median < TARGET_S,
                note=", ".join(f"{t:.2f}" for t in times),
            )
        )
    merge = ["--exp-merge", "bench-5", "--exp-tracking-uri", uri]
    merges = [session(root, merge, 0)[0] for _ in range(repeats)]
    bench.add(
        Row(
            f"--exp-merge bench-5 (reference, median of {repeats})",
            statistics.median(merges),
            "s",
            note=", ".join(f"{t:.2f}" for t in merges),
        )
    )


if __name__ == "__main__":
    sys.exit(main(__doc__, measure, add_arguments))
