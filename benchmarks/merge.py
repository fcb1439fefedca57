"""Several machines, measured: ``--exp-merge`` over a store of 10,000 runs,
and what logging a case costs at ``-n 8`` against a PostgreSQL-backed server.

    .venv/bin/python benchmarks/merge.py            # ~6 min on 2 cores
    .venv/bin/python benchmarks/merge.py --quick    # one merge each, 200 cases at -n 8
    .venv/bin/python benchmarks/merge.py --keep     # keep the temporary projects

Part 1, the merge. A temporary project holds one experiment file with a
1,000-case grid (``exp_bench[i=0]`` ... ``exp_bench[i=999]``). Its store gets
10,000 FINISHED runs: ten session groups of 1,000, one run per case each, with
the tags, params and metric a case run of the plugin carries (~20 tags). They
are written in one transaction per store with MLflow's own table definitions
(``mlflow.store.tracking.dbmodels``; logging 10,000 runs through the client
takes ~80 ms a run here, 13 minutes), and read back through MlflowClient
before anything is timed. Then ``pytest --exp-merge <one group> --exp-json
--exp-report`` (a fresh process, median of 3) on:

- the sqlite store (a file in the project), and
- a real ``mlflow server`` backed by a real PostgreSQL 15 (tests/_postgres.py:
  initdb in a temporary folder, fsync on), the same 10,000 runs written into
  its database.

Target: under 5 s. Also shown: ``--collect-only`` of the same project (what
any pytest run of it pays) and the merge's JSON checked (1,000 results, none
missing, the group's metric values).

Part 2, per-case logging at ``-n 8``: 400 trivial cases (one metric, no
artifacts) in a fresh project, ``pytest -n 8`` against (a) the default sqlite
file store (created by the session), (b) ``mlflow server`` on a sqlite file,
(c) the ``mlflow server`` on PostgreSQL of part 1 (10,000 runs already in it).
Per case: the run's end time minus its start time as the store recorded them
(the client's clock: from creating the run to ending it, around a body that
does nothing); p50, p95 and max over the 400 runs, and the session's wall time.
Every session must exit 0 with 400 FINISHED runs, one per case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

PYTHON = sys.executable
CASES = 1_000
GROUPS = 10
TARGET_MERGE_S = 5.0

BENCH_FILE = """from pytest_experiments import experiment


@experiment(params={{"i": list(range({cases}))}}, expect={{"score": ">= 0"}})
def exp_bench(i):
    return {{"score": i / {cases}}}
"""

TRIVIAL_FILE = """from pytest_experiments import experiment


@experiment(params={{"i": list(range({cases}))}})
def exp_trivial(i):
    return {{"score": i / {cases}}}
"""


def environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "PYTEST_", "GITHUB_")) and k != "CI"
    }
    env["GIT_PYTHON_REFRESH"] = "quiet"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def pytest(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=root,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    return time.perf_counter() - start, done


def project(root: Path, text: str) -> Path:
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "exp_001_bench.py").write_text(text)
    return root


# -- part 1: a store of 10,000 runs ---------------------------------------------------------


def fill(store_uri: str, experiment_id: str) -> dict[str, str]:
    """Write GROUPS x CASES finished runs in one transaction; returns group -> a session id."""
    import sqlalchemy as sa
    from mlflow.store.tracking.dbmodels import models

    now = int(time.time() * 1000) - 3_600_000
    runs, tags, params, metrics, latest = [], [], [], [], []
    sessions: dict[str, str] = {}
    versions = {
        "lib.mlflow": "3.17.2",
        "lib.numpy": "2.4.6",
        "lib.pandas": "3.1.1",
        "lib.pytest": "9.2.0",
        "lib.pytest-xdist": "3.8.0",
        "lib.scikit-learn": "1.9.1",
    }
    for g in range(GROUPS):
        group = f"bench-{g}"
        session = sessions[group] = uuid.uuid4().hex
        for i in range(CASES):
            run_id = uuid.uuid4().hex
            start = now + g * 60_000 + i * 10
            nodeid = f"exp_001_bench.py::exp_bench[i={i}]"
            runs.append(
                {
                    "run_uuid": run_id,
                    "name": f"exp_bench[i={i}]",
                    "source_type": "LOCAL",
                    "source_name": "exp_001_bench.py",
                    "entry_point_name": "",
                    "user_id": "bench",
                    "status": "FINISHED",
                    "start_time": start,
                    "end_time": start + 7,
                    "source_version": "",
                    "lifecycle_stage": "active",
                    "artifact_uri": f"/tmp/bench-artifacts/{run_id}",
                    "experiment_id": int(experiment_id),
                }
            )
            values = {
                "pytest.session": session,
                "experiments.session_group": group,
                "pytest.controller": f"bench-host:{1000 + g}",
                "pytest.machine": "boot:4026531836",
                "host": "bench-host",
                "python.version": "3.11.7",
                "git.commit": "0" * 40,
                "mlflow.source.git.commit": "0" * 40,
                "git.dirty": "false",
                "git.branch": "main",
                "data.fingerprint": "f" * 64,
                **versions,
                "pytest.nodeid": nodeid,
                "mlflow.source.name": "exp_001_bench.py",
                "mlflow.runName": f"exp_bench[i={i}]",
                "mlflow.user": "bench",
                "outcome": "passed",
                "experiments.metrics": '["score"]',
                "experiments.duration": "0.0004",
            }
            tags += [{"key": k, "value": v, "run_uuid": run_id} for k, v in values.items()]
            params += [
                {"key": "i", "value": str(i), "run_uuid": run_id},
                {"key": "seed", "value": "42", "run_uuid": run_id},
            ]
            metric = {"key": "score", "value": i / CASES + g, "timestamp": start, "step": 0}
            metric.update(is_nan=False, run_uuid=run_id)
            metrics.append(metric)
            latest.append(dict(metric))
    engine = sa.create_engine(store_uri)
    with engine.begin() as connection:
        for model, rows in (
            (models.SqlRun, runs),
            (models.SqlTag, tags),
            (models.SqlParam, params),
            (models.SqlMetric, metrics),
            (models.SqlLatestMetric, latest),
        ):
            connection.execute(sa.insert(model.__table__), rows)
    engine.dispose()
    return sessions


def check_store(uri: str) -> None:
    """The runs written read back through MlflowClient as runs of the plugin would."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name("exp_001_bench")
    assert found is not None
    page = client.search_runs(
        [found.experiment_id], "tags.`experiments.session_group` = 'bench-3'", max_results=2000
    )
    assert len(page) == CASES, len(page)
    assert page[0].data.metrics["score"] >= 3 and page[0].info.status == "FINISHED"


def check_merge(root: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((root / "merged.json").read_text())
    results = data["results"]
    assert len(results) == CASES and data["session"]["merged"]["missing"] == 0
    assert all(r["outcome"] == "passed" for r in results)
    assert results[7]["metrics"]["score"] == 7 / CASES + 5  # group bench-5's value


def time_merge(root: Path, uri: str, repeats: int, report: bool = True) -> list[float]:
    times = []
    outputs = ["--exp-report", "merged.md"] if report else []
    for _ in range(repeats):
        seconds, done = pytest(
            root, "--exp-merge", "bench-5", "--exp-tracking-uri", uri,
            "--exp-json", "merged.json", *outputs,
        )  # fmt: skip
        check_merge(root, done)
        times.append(seconds)
    return times


def time_search(uri: str, repeats: int) -> list[float]:
    """The merge's read alone, in this process (mlflow already imported): the
    group's 1,000 runs out of 10,000, paged as the merge pages them."""
    from mlflow.tracking import MlflowClient

    from pytest_experiments.tracking import PAGE

    client = MlflowClient(uri)
    found = client.get_experiment_by_name("exp_001_bench")
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
        assert len(runs) == CASES
    return times


# -- part 2: per-case logging at -n 8 ---------------------------------------------------------


def per_case(root: Path, uri: str, cases: int) -> dict[str, float]:
    from _shards import group_runs

    group = f"n8-{uuid.uuid4().hex[:8]}"
    wall, done = pytest(root, "-n", "8", "--exp-tracking-uri", uri, "--exp-session-group", group)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = group_runs(uri, group)
    nodeids = [r.data.tags["pytest.nodeid"] for r in runs]
    assert len(runs) == cases and len(set(nodeids)) == cases, (len(runs), len(set(nodeids)))
    assert {r.info.status for r in runs} == {"FINISHED"}
    ms = sorted(float(r.info.end_time - r.info.start_time) for r in runs)
    return {
        "p50": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)],
        "max": ms[-1],
        "wall": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--only", choices=("merge", "n8"), help="part 1 (merge) or part 2 (n8) alone"
    )
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    trivial = 200 if args.quick else 400

    from _postgres import MISSING, postgres_mlflow_server
    from _server import running_server

    from pytest_experiments import sqlite_store

    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    figures: dict[str, Any] = {}
    try:
        # Part 1 on sqlite.
        root = project(work / "merge-sqlite", BENCH_FILE.format(cases=CASES))
        db = root / "mlflow.db"
        sqlite_store.create(db, (root / "mlruns").as_uri())
        uri = f"sqlite:///{db}"
        from mlflow.tracking import MlflowClient

        exp_id = MlflowClient(uri).create_experiment("exp_001_bench")
        start = time.perf_counter()
        fill(uri, exp_id)
        print(f"sqlite store: {GROUPS * CASES} runs written in {time.perf_counter() - start:.1f} s")
        check_store(uri)
        collect, done = pytest(root, "--collect-only", "--exp-no-tracking")
        assert done.returncode == 0, done.stdout[-2000:]
        figures["collect"] = collect
        if args.only != "n8":
            figures["merge sqlite"] = time_merge(root, uri, repeats)
            figures["merge sqlite, no report"] = time_merge(root, uri, repeats, report=False)
            figures["search sqlite"] = time_search(uri, repeats)

        if args.only != "merge":  # Part 2, sqlite file and sqlite server.
            n8 = project(work / "n8-sqlite", TRIVIAL_FILE.format(cases=trivial))
            figures["n8 sqlite"] = per_case(n8, f"sqlite:///{n8 / 'mlflow.db'}", trivial)
            template = work / "template.db"
            sqlite_store.create(template, (work / "template-art").as_uri())
            with running_server(work / "srv-sqlite", template) as server:
                n8 = project(work / "n8-server-sqlite", TRIVIAL_FILE.format(cases=trivial))
                figures["n8 server sqlite"] = per_case(n8, server.uri, trivial)

        # Part 1 and 2 on PostgreSQL.
        if MISSING is not None:
            print(f"PostgreSQL figures skipped: {MISSING}")
        else:
            (work / "srv-pg").mkdir()
            with postgres_mlflow_server(work / "srv-pg", durable=True) as server:
                exp_id = MlflowClient(server.uri).create_experiment("exp_001_bench")
                start = time.perf_counter()
                fill(server.backend_uri, exp_id)
                elapsed = time.perf_counter() - start
                print(f"PostgreSQL store: {GROUPS * CASES} runs written in {elapsed:.1f} s")
                check_store(server.uri)
                if args.only != "n8":
                    figures["merge pg"] = time_merge(root, server.uri, repeats)
                    figures["merge pg, no report"] = time_merge(
                        root, server.uri, repeats, report=False
                    )
                    figures["search pg"] = time_search(server.uri, repeats)
                if args.only != "merge":
                    n8 = project(work / "n8-pg", TRIVIAL_FILE.format(cases=trivial))
                    figures["n8 pg"] = per_case(n8, server.uri, trivial)
    finally:
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    def med(key: str) -> str:
        values = figures.get(key)
        return f"{statistics.median(values):.2f} s" if values else "-"

    merge_ok = all(
        statistics.median(figures[k]) < TARGET_MERGE_S for k in ("merge sqlite", "merge pg")
        if k in figures
    )  # fmt: skip
    print()
    print(f"| {CASES}-case group among {GROUPS * CASES} runs | sqlite file | "
          "mlflow server + PostgreSQL | target |")  # fmt: skip
    print("|---|---|---|---|")
    print(f"| `--exp-merge` (median of {repeats}) | {med('merge sqlite')} | {med('merge pg')} "
          f"| < {TARGET_MERGE_S:.0f} s {'PASS' if merge_ok else 'FAIL'} |")  # fmt: skip
    print(f"| `--exp-merge` without `--exp-report` | {med('merge sqlite, no report')} | "
          f"{med('merge pg, no report')} | |")  # fmt: skip
    print(f"| the search alone, in process | {med('search sqlite')} | {med('search pg')} | |")
    print(f"| `--collect-only` of the same project | {figures['collect']:.2f} s | | |")
    print()
    print(f"| {trivial} trivial cases, `-n 8` | sqlite file | mlflow server + sqlite | "
          "mlflow server + PostgreSQL |")  # fmt: skip
    print("|---|---|---|---|")
    for key in ("p50", "p95", "max"):
        label = f"per case, {key}"
        cells = [
            f"{figures[k][key]:.0f} ms" if k in figures else "-"
            for k in ("n8 sqlite", "n8 server sqlite", "n8 pg")
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    cells = [
        f"{figures[k]['wall']:.1f} s" if k in figures else "-"
        for k in ("n8 sqlite", "n8 server sqlite", "n8 pg")
    ]
    print("| session wall time | " + " | ".join(cells) + " |")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "merge.json").write_text(json.dumps(figures, indent=2))
    return 0 if merge_ok else 1


if __name__ == "__main__":
    sys.exit(main())
