"""Target: a fully cached heart study re-runs in at most 25% of the first run.

    .venv/bin/python benchmarks/cached_rerun.py              # -n 2 (~1 min on 2 idle cores)
    .venv/bin/python benchmarks/cached_rerun.py -n 0         # without xdist
    .venv/bin/python benchmarks/cached_rerun.py --quick      # -n 0, no breakdown
    .venv/bin/python benchmarks/cached_rerun.py --quick --experiments 1   # 5 cases, a smoke run

The heart study (experiments/, conftest.py, data/) is copied into a temporary
git repository with a bare pytest.ini. After an untimed warm-up (collection
only, which fills the page and bytecode caches), two sessions, each a fresh
process on the same store:

1. ``pytest experiments/ -n N`` on a fresh sqlite store: the 15 cases fit
   their models (8 seeds each) and log them; 15 runs and 15 models are checked;
2. ``pytest experiments/ -n N --exp-cache``: nothing changed, so every case
   must be cached (checked in its JSON results: each names the run of the
   first session it came from) and no model is fitted or logged again.

Prints both wall times and their ratio (the target). Then (not with
``--quick``) what the cached session is made of, each a fresh process:
Python and pytest alone, the imports the study needs (scikit-learn and
pandas), the MLflow import the plugin needs with tracking on, collection,
and the cached session's own time in its cases (from its JUnit XML and JSON
results).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import (
    PYTHON,
    Bench,
    Row,
    check_store,
    child_env,
    header,
    heart_project,
    junit_seconds,
    main,
    pytest_cmd,
    require,
    timed,
)

TARGET = 0.25
FILES = (
    "exp_001_logistic_regression.py",
    "exp_002_random_forest.py",
    "exp_003_gradient_boosting.py",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", dest="workers", default=None, choices=["0", "2"])
    parser.add_argument(
        "--experiments",
        type=int,
        default=3,
        choices=(1, 2, 3),
        help="the first N experiment files of the study (5 cases each; default 3)",
    )


def cached_results(path: Path, first: dict[str, str]) -> float:
    """Check that every case of the cached session came from the first
    session's run of it; returns the seconds its cases took together."""
    results = json.loads(path.read_text())["results"]
    require(len(results) == len(first), f"cached session: {len(results)} results")
    for result in results:
        origin = first.get(result["case_id"])
        require(
            result["cached_from"] == origin and result["outcome"] in ("passed", "new"),
            f"cached session: {result['case_id']} was not cached from {origin} "
            f"(cached_from={result['cached_from']}, outcome {result['outcome']})",
        )
    return float(sum(r["duration"] for r in results))


def measure(bench: Bench) -> None:
    workers_n = bench.args.workers or ("0" if bench.quick else "2")
    workers = ["-n", workers_n]
    cases = 5 * bench.args.experiments
    project = heart_project(bench.root, files=FILES[: bench.args.experiments])
    env = child_env()
    header(f"heart study, -n {workers_n}")
    timed(pytest_cmd("experiments/", "--collect-only", "-q", "--exp-no-tracking"), project)

    first_json, second_json = project / "first.json", project / "second.json"
    first, _ = timed(
        pytest_cmd("experiments/", *workers, "--exp-json", str(first_json)), project, env=env
    )
    check_store(project / "mlflow.db", cases, cases, "first session")
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
    in_cases = sum(junit_seconds(second_xml))
    # The cached session logs a run for each case, and no model.
    check_store(project / "mlflow.db", 2 * cases, cases, "cached session")

    ratio = second.wall / first.wall
    bench.add(Row(f"first session ({cases} cases fitted, fresh store)", first.wall, "s", first.cpu))
    bench.add(Row(f"same study again, --exp-cache ({cases} cached)", second.wall, "s", second.cpu))
    bench.add(
        Row(
            f"cached / first at -n {workers_n}",
            ratio,
            "x",
            target=f"<= {TARGET:.2f}",
            ok=ratio <= TARGET,
        )
    )
    if bench.quick:
        return

    header("what the cached session is made of (fresh processes, -n 0 unless said)")

    def part(what: str, cmd: list[str], ok_codes: tuple[int, ...] = (0,)) -> None:
        timing, _ = timed(cmd, project, env=env, ok_codes=ok_codes)
        bench.add(Row(what, timing.wall, "s", timing.cpu, note="information"))

    part("python -c pass", [PYTHON, "-c", "pass"])
    part("pytest --version (pytest and its plugins start)", pytest_cmd("--version"))
    part(
        "import sklearn.ensemble, pandas (what the study imports)",
        [PYTHON, "-c", "import sklearn.ensemble, pandas"],
    )
    part(
        "import mlflow + its sqlite store (what tracking imports)",
        [PYTHON, "-c", "import mlflow, mlflow.store.tracking.sqlalchemy_store"],
    )
    part(
        "pytest experiments/ --collect-only --exp-no-tracking",
        pytest_cmd("experiments/", "--collect-only", "-q", "--exp-no-tracking"),
    )
    if workers_n != "0":
        part(
            f"-n {workers_n}, no case selected (workers start and collect)",
            pytest_cmd("experiments/", *workers, "-k", "no_such_case"),
            ok_codes=(5,),
        )
        again = project / "again.json"
        part(
            "the cached session again, -n 0",
            pytest_cmd("experiments/", "--exp-cache", "--exp-json", str(again)),
        )
        cached_results(again, runs)
    bench.add(Row(f"{cases} cached cases: setup, lookup, new run (JUnit times)", in_cases, "s"))
    bench.add(Row("  of which the experiment bodies (none ran)", in_calls, "s"))


if __name__ == "__main__":
    sys.exit(main(__doc__, measure, add_arguments))
