"""Target: ``--exp-merge`` over a store of 10,000 runs in under 5 s.

    .venv/bin/python benchmarks/merge_speed.py                   # sqlite and PostgreSQL (~3 min)
    .venv/bin/python benchmarks/merge_speed.py --quick --no-postgres --cases 100   # a smoke run

A temporary project holds one experiment file with a 1,000-case grid
(``exp_bench[i=0]`` ... ``exp_bench[i=999]``). Its store gets 10,000
FINISHED runs: ten session groups of 1,000, one run per case each, with the
tags, params and metric a case run of the plugin carries (~25 tags), written
in one transaction with MLflow's own table definitions and read back through
MlflowClient before anything is timed. Then ``pytest --exp-merge bench-5
--exp-json --exp-report`` (a fresh process, median of 3; its JSON is checked:
every case, none missing, group bench-5's values) on:

- the sqlite store (a file in the project), and
- a real ``mlflow server`` backed by a real PostgreSQL (fsync on), the same
  runs written into its database (skipped with the reason where PostgreSQL
  cannot run).

Also (information): the same without ``--exp-report``, the search alone in
this process (MLflow already imported), and ``--collect-only`` of the
project (what any pytest run of it pays). Per-case logging at ``-n 8``
through the same kinds of store: ``benchmarks/n8_latency.py --servers``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    Bench,
    Row,
    check_filled,
    fill,
    header,
    main,
    postgres_missing,
    postgres_mlflow_server,
    pytest_cmd,
    require,
    synthetic_project,
    timed,
)

GROUPS = 10
TARGET_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=int, default=1000, help="cases a group (default 1000)")
    parser.add_argument("--no-postgres", action="store_true", help="the sqlite file alone")


def time_merge(root: Path, uri: str, cases: int, repeats: int, report: bool) -> list[float]:
    times = []
    outputs = ["--exp-report", "merged.md"] if report else []
    for _ in range(repeats):
        timing, out = timed(
            pytest_cmd(
                "-p", "no:cacheprovider", "-q", "--exp-merge", "bench-5",
                "--exp-tracking-uri", uri, "--exp-json", "merged.json", *outputs,
            ),
            root,
            timeout=1800,
        )  # fmt: skip
        data = json.loads((root / "merged.json").read_text())
        results = data["results"]
        require(
            len(results) == cases and data["session"]["merged"]["missing"] == 0,
            f"merge: {len(results)} results, expected {cases}:\n{out[-2000:]}",
        )
        require(all(r["outcome"] == "passed" for r in results), "merge: a case did not pass")
        score = results[7]["metrics"]["score"]
        require(score == 7 / cases + 5, f"merge: case 7 scored {score}, not group bench-5's")
        times.append(timing.wall)
    return times


def time_search(uri: str, cases: int, repeats: int) -> list[float]:
    """The merge's read alone, in this process (mlflow already imported): the
    group's runs out of all, paged as the merge pages them."""
    from mlflow.tracking import MlflowClient

    from pytest_experiments.tracking import PAGE

    client = MlflowClient(uri)
    found = client.get_experiment_by_name("exp_001_bench")
    require(found is not None, f"{uri}: no experiment exp_001_bench")
    assert found is not None
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runs: list[Any] = []
        token = None
        while True:
            page = client.search_runs(
                [found.experiment_id],
                "tags.`experiments.session_group` = 'bench-5'",
                max_results=PAGE,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                break
        times.append(time.perf_counter() - start)
        require(len(runs) == cases, f"search: {len(runs)} runs, expected {cases}")
    return times


def measure(bench: Bench) -> None:
    cases: int = bench.args.cases
    repeats = bench.repeats(3, 1)
    runs = f"{cases:,}-case group of {GROUPS * cases:,} runs"
    header(f"--exp-merge of a {runs}, {repeats} round(s)")
    root, uri = synthetic_project(bench.root / "merge-sqlite", GROUPS, cases)
    collect, _ = timed(
        pytest_cmd("-p", "no:cacheprovider", "-q", "--collect-only", "--exp-no-tracking"), root
    )
    stores = [("sqlite file", uri)]

    def rows(store: str, uri: str) -> None:
        merged = time_merge(root, uri, cases, repeats, report=True)
        median = statistics.median(merged)
        bench.add(
            Row(
                f"--exp-merge, {store} (median of {repeats})",
                median,
                "s",
                target=f"< {TARGET_S:.0f} s",
                ok=median < TARGET_S,
                note=", ".join(f"{t:.2f}" for t in merged),
            )
        )
        bare = statistics.median(time_merge(root, uri, cases, repeats, report=False))
        bench.add(Row(f"  the same without --exp-report, {store}", bare, "s"))
        search = statistics.median(time_search(uri, cases, repeats))
        bench.add(Row(f"  the search alone, in process, {store}", search, "s"))

    rows(*stores[0])
    bench.add(Row("--collect-only of the same project", collect.wall, "s", collect.cpu))
    if bench.args.no_postgres:
        return
    missing = postgres_missing()
    if missing is not None:
        print(f"  PostgreSQL skipped: {missing}")
        return
    from mlflow.tracking import MlflowClient

    with postgres_mlflow_server(bench.root / "srv-pg") as server:
        exp_id = MlflowClient(server.uri).create_experiment("exp_001_bench")
        start = time.perf_counter()
        fill(server.backend_uri, exp_id, GROUPS, cases)
        took = time.perf_counter() - start
        print(f"PostgreSQL store: {GROUPS * cases} runs written in {took:.1f} s")
        check_filled(server.uri, cases)
        rows("mlflow server + PostgreSQL", server.uri)


if __name__ == "__main__":
    sys.exit(main(__doc__, measure, add_arguments))
