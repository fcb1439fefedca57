"""The run cache, measured: the heart study once, then again with --exp-cache.

    .venv/bin/python benchmarks/cache.py              # -n 2 (~1 min on 2 idle cores)
    .venv/bin/python benchmarks/cache.py -n 0         # without xdist
    .venv/bin/python benchmarks/cache.py --keep       # keep the temporary project

The heart study (experiments/, conftest.py, data/) is copied into a temporary
git repository with a bare pytest.ini, as in benchmarks/run.py part a. After
an untimed warm-up (collection only, which fills the page and bytecode
caches), two sessions, each a fresh process on the same store:

1. ``pytest experiments/ -n N`` on a fresh sqlite store: the 15 cases fit
   their models (8 seeds each) and log them; 15 runs and 15 models are checked;
2. ``pytest experiments/ -n N --exp-cache``: nothing changed, so every case
   must be cached (checked in its JSON results: each names the run of the
   first session it came from) and no model is fitted or logged again.

Prints both wall times and their ratio (target: the cached session at most
25% of the first). Then what the cached session is made of, each a fresh
process: Python and pytest alone, the imports the study needs (scikit-learn
and pandas), the MLflow import the plugin needs with tracking on, collection,
and the cached session's own time in its cases (from its JSON results).
Exit status 0 when the target is met, 1 when missed, 2 when a session did not
do what it should.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import (  # noqa: E402
    PYTHON,
    BenchError,
    Timing,
    child_env,
    heart_project,
    load_average,
    pytest_cmd,
    timed,
)

TARGET = 0.25
CASES = 15


def cached_results(path: Path, first: dict[str, str]) -> float:
    """Check that every case of the cached session came from the first
    session's run of it; returns the seconds its cases took together."""
    results = json.loads(path.read_text())["results"]
    if len(results) != CASES:
        raise BenchError(f"cached session: {len(results)} results, expected {CASES}")
    for result in results:
        origin = first.get(result["case_id"])
        if result["cached_from"] != origin or result["outcome"] not in ("passed", "new"):
            raise BenchError(
                f"cached session: {result['case_id']} was not cached from {origin} "
                f"(cached_from={result['cached_from']}, outcome {result['outcome']})"
            )
    return float(sum(r["duration"] for r in results))


def check_case_runs(project: Path, runs: int, where: str) -> None:
    """The store holds ``runs`` FINISHED case runs (sessions' parent runs
    aside) and 15 models: the cached session logs none."""
    with sqlite3.connect(project / "mlflow.db") as con:
        (found,) = con.execute(
            "select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
            "where t.key = 'pytest.nodeid' and r.status = 'FINISHED'"
        ).fetchone()
    models = len(list((project / "mlruns").glob("**/MLmodel")))
    if found != runs or models != CASES:
        raise BenchError(
            f"{where}: expected {runs} finished case runs and {CASES} models, "
            f"found {found} and {models}"
        )


def junit_seconds(path: Path) -> float:
    """The time pytest spent in the session's test cases (setup, call and
    teardown), from its JUnit XML."""
    import xml.etree.ElementTree as ET

    return sum(float(case.get("time", 0)) for case in ET.parse(path).iter("testcase"))


def show(what: str, timing: Timing, note: str = "") -> None:
    print(f"  {what:<58} {timing.wall:7.2f} s  (CPU {timing.cpu:6.2f} s){note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", dest="workers", default="2", choices=["0", "2"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args(argv)
    workers = ["-n", args.workers]
    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        project = heart_project(tmp)
        env = child_env()
        print(f"heart study, -n {args.workers}, load average {load_average()}", flush=True)
        timed(pytest_cmd("experiments/", "--collect-only", "-q", "--exp-no-tracking"), project)

        first_json, second_json = project / "first.json", project / "second.json"
        first, _ = timed(
            pytest_cmd("experiments/", *workers, "--exp-json", str(first_json)), project, env=env
        )
        check_case_runs(project, CASES, "first session")
        runs = {r["case_id"]: r["run_id"] for r in json.loads(first_json.read_text())["results"]}
        second_xml = project / "second.xml"
        second, _ = timed(
            pytest_cmd(
                "experiments/",
                *workers,
                "--exp-cache",
                "--exp-json",
                str(second_json),
                "--junitxml",
                str(second_xml),
            ),
            project,
            env=env,
        )
        in_calls = cached_results(second_json, runs)
        in_cases = junit_seconds(second_xml)
        check_case_runs(project, 2 * CASES, "cached session")

        ratio = second.wall / first.wall
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        print()
        show("first session (15 cases fitted, fresh store)", first)
        show("same study again, --exp-cache (15 cached)", second)
        print(f"  {'cached / first':<58} {ratio:7.2f}    {verdict} (target <= {TARGET:.2f})")

        print("\nwhat the cached session is made of (fresh processes, -n 0 unless said):")
        show("python -c pass", timed([PYTHON, "-c", "pass"], project, env=env)[0])
        show(
            "pytest --version (pytest and its plugins start)",
            timed(pytest_cmd("--version"), project, env=env)[0],
        )
        show(
            "import sklearn.ensemble, pandas (what the study imports)",
            timed([PYTHON, "-c", "import sklearn.ensemble, pandas"], project, env=env)[0],
        )
        show(
            "import mlflow + its sqlite store (what tracking imports)",
            timed(
                [PYTHON, "-c", "import mlflow, mlflow.store.tracking.sqlalchemy_store"],
                project,
                env=env,
            )[0],
        )
        show(
            "pytest experiments/ --collect-only --exp-no-tracking",
            timed(
                pytest_cmd("experiments/", "--collect-only", "-q", "--exp-no-tracking"),
                project,
                env=env,
            )[0],
        )
        if args.workers != "0":
            show(
                f"-n {args.workers}, no case selected (workers start and collect)",
                timed(
                    pytest_cmd("experiments/", *workers, "-k", "no_such_case"),
                    project,
                    env=env,
                    ok_codes=(5,),
                )[0],
            )
        if args.workers != "0":
            again = project / "again.json"
            show(
                "the cached session again, -n 0",
                timed(
                    pytest_cmd("experiments/", "--exp-cache", "--exp-json", str(again)),
                    project,
                    env=env,
                )[0],
            )
            cached_results(again, runs)
        print(f"  {'15 cached cases: setup, lookup, new run (JUnit times)':<58} {in_cases:7.2f} s")
        print(f"  {'  of which the experiment bodies (none ran)':<58} {in_calls:7.2f} s")
        return 0 if ratio <= TARGET else 1
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.pop("PYTEST_ADDOPTS", None)
    raise SystemExit(main())
