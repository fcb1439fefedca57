"""Target: p95 under 100 ms a case at ``-n 8``, 400 trivial cases, one store.

    .venv/bin/python benchmarks/n8_latency.py                  # the sqlite file, 2 rounds
    .venv/bin/python benchmarks/n8_latency.py --servers        # also through mlflow servers
    .venv/bin/python benchmarks/n8_latency.py --quick --cases 40

**On the sqlite file** (the target): 400 trivial cases (one metric, no
artifacts), ``pytest -n 8`` on a fresh sqlite store, tracked and
``--exp-no-tracking``; per case = setup + call + teardown from
``--junitxml``; p95 and max over the rounds.

**Through servers** (``--servers``, information): the same cases with
``--exp-tracking-uri`` against the sqlite file, a real ``mlflow server`` on a
sqlite file, and one on a real PostgreSQL (fsync on; skipped with the reason
when PostgreSQL cannot run here). Per case: the run's end time minus its
start time as the store recorded them (from creating the run to ending it,
around a body that does nothing); p50, p95 and max, and the session's wall
time. Every session must exit 0 with one FINISHED run per case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from pathlib import Path

from _common import (
    Bench,
    BenchError,
    Row,
    check_store,
    git_commit,
    group_runs,
    header,
    junit_seconds,
    main,
    postgres_missing,
    postgres_mlflow_server,
    pytest_cmd,
    require,
    reset_store,
    running_server,
    small_project,
    timed,
)

TRIVIAL = """
from pytest_experiments import experiment


@experiment(params={{"i": list(range({cases}))}})
def exp_trivial(i):
    return {{"score": i / {cases}}}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", type=int, default=400, help="trivial cases (default 400)")
    parser.add_argument(
        "--servers", action="store_true", help="also through an mlflow server (sqlite, PostgreSQL)"
    )


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[int(0.95 * (len(values) - 1))]


def measure(bench: Bench) -> None:
    cases: int = bench.args.cases
    n = bench.repeats(2, 1)
    header(f"{cases} trivial cases at -n 8 on one sqlite store, {n} round(s)")
    project = small_project(
        bench.root, "n8", {"experiments/exp_n8.py": TRIVIAL.format(cases=cases)}
    )
    git_commit(project)

    def case_times(tracking: bool) -> list[float]:
        reset_store(project)
        extra = [] if tracking else ["--exp-no-tracking"]
        args = ["-q", "-n", "8", "-p", "no:randomly", "--junitxml", "junit.xml", *extra]
        timed(pytest_cmd("experiments/", *args), project)
        if tracking:
            check_store(project / "mlflow.db", cases, 0, "-n 8")
        return [t * 1000 for t in junit_seconds(project / "junit.xml")]

    on: list[float] = []
    off: list[float] = []
    for i in range(n):
        for tracking in (True, False) if i % 2 == 0 else (False, True):
            (on if tracking else off).extend(case_times(tracking))
    for label, values in (("--exp-no-tracking", off), ("tracking on sqlite", on)):
        row = Row(
            f"per case, {label}: p95 (max {max(values):.0f} ms)",
            p95(values),
            "ms",
            note=f"{len(values)} cases; setup + call + teardown, from JUnit XML",
        )
        if label.startswith("tracking"):
            row.target, row.ok = "p95 < 100 ms", row.value < 100
        bench.add(row)
    if bench.args.servers:
        servers(bench, cases)


def servers(bench: Bench, cases: int) -> None:
    from pytest_experiments import sqlite_store

    header(f"{cases} trivial cases at -n 8: the sqlite file and mlflow servers")
    text = TRIVIAL.format(cases=cases)
    root = bench.root
    db = small_project(root, "srv-file", {"exp_n8.py": text}) / "mlflow.db"
    per_case(bench, "sqlite file", db.parent, f"sqlite:///{db}", cases)
    backend = root / "srv-sqlite.db"
    sqlite_store.create(backend, (root / "srv-sqlite-art").as_uri())
    with running_server(root / "srv-sqlite", f"sqlite:///{backend}") as server:
        project = small_project(root, "srv-sqlite-project", {"exp_n8.py": text})
        per_case(bench, "mlflow server + sqlite", project, server.uri, cases)
    missing = postgres_missing()
    if missing is not None:
        print(f"  PostgreSQL skipped: {missing}")
        return
    with postgres_mlflow_server(root / "srv-pg") as server:
        project = small_project(root, "srv-pg-project", {"exp_n8.py": text})
        per_case(bench, "mlflow server + PostgreSQL", project, server.uri, cases)


def per_case(bench: Bench, store: str, project: Path, uri: str, cases: int) -> None:
    group = f"n8-{uuid.uuid4().hex[:8]}"
    args = ["-p", "no:cacheprovider", "-q", "-n", "8", "--exp-tracking-uri", uri]
    timing, _ = timed(pytest_cmd(*args, "--exp-session-group", group), project, timeout=1800)
    runs = group_runs(uri, group)
    nodeids = {r.data.tags["pytest.nodeid"] for r in runs}
    require(
        len(runs) == cases and len(nodeids) == cases,
        f"{store}: {len(runs)} runs of {len(nodeids)} cases, expected {cases}",
    )
    if {r.info.status for r in runs} != {"FINISHED"}:
        raise BenchError(f"{store}: not every run FINISHED")
    ms = sorted(float(r.info.end_time - r.info.start_time) for r in runs)
    p95_ms = ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)]
    note = "information: run end - start as stored"
    bench.add(Row(f"{store}: per case, p50", statistics.median(ms), "ms", note=note))
    bench.add(Row(f"{store}: per case, p95 (max {ms[-1]:.0f} ms)", p95_ms, "ms", note=note))
    bench.add(Row(f"{store}: session wall time", timing.wall, "s", timing.cpu))


if __name__ == "__main__":
    sys.exit(main(__doc__, measure, add_arguments))
