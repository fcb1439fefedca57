"""Target: a sweep that grows runs only its new case (``--exp-cache``).

    .venv/bin/python benchmarks/grown_sweep.py            # -n 0 (~1 min on 2 idle cores)
    .venv/bin/python benchmarks/grown_sweep.py -n 2
    .venv/bin/python benchmarks/grown_sweep.py --quick    # no --exp-no-cache session

The heart study's random forest (experiments/exp_002_random_forest.py:
``n_estimators`` in [50, 100, 200, 300, 500], 8 seeds a case) is copied into
a temporary git repository, without its baselines. After an untimed warm-up
(collection only), three sessions, each a fresh process on the same sqlite
store:

1. the 5-value grid, without the cache (every case fits; each records its key);
2. the grid grown to 6 values (700 added), ``--exp-cache``: the 5 old cases
   must be cached (checked in the JSON results) and only ``n_estimators=700``
   fits;
3. for comparison (not with ``--quick``), the 6-value grid again with
   ``--exp-no-cache`` (what the grown sweep cost before the file's key left
   its sweep literals out).

Prints the three wall times; the target holds when session 2 ran exactly the
new case.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from _common import Bench, Row, child_env, header, heart_project, main, pytest_cmd, require, timed

FILE = "experiments/exp_002_random_forest.py"
GRID = '"n_estimators": [50, 100, 200, 300, 500]'
GROWN = '"n_estimators": [50, 100, 200, 300, 500, 700]'
NEW_CASE = "exp_random_forest[n_estimators=700]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", dest="workers", default="0", choices=["0", "2"])


def ran_bodies(path: Path) -> set[str]:
    """The cases of a session that ran their body (not cached)."""
    results = json.loads(path.read_text())["results"]
    return {r["case_id"] for r in results if r["cached_from"] is None}


def measure(bench: Bench) -> None:
    project = heart_project(bench.root, files=[Path(FILE).name])
    shutil.rmtree(project / "experiments" / "baselines", ignore_errors=True)
    env = child_env()
    base = ["experiments/", "-n", bench.args.workers]
    header(f"random forest sweep, -n {bench.args.workers}")
    timed(pytest_cmd("experiments/", "--collect-only", "-q", "--exp-no-tracking"), project)

    first, _ = timed(pytest_cmd(*base, "--exp-json", "1.json"), project, env=env)
    require(len(ran_bodies(project / "1.json")) == 5, "first session: the 5 cases did not all run")
    source = project / FILE
    text = source.read_text()
    require(GRID in text, f"{FILE} no longer declares {GRID}")
    source.write_text(text.replace(GRID, GROWN))
    grown, _ = timed(pytest_cmd(*base, "--exp-cache", "--exp-json", "2.json"), project, env=env)
    ran = ran_bodies(project / "2.json")
    bench.add(Row("5-value grid, first session (5 cases fitted)", first.wall, "s", first.cpu))
    bench.add(
        Row(
            "grown to 6, --exp-cache (1 fitted, 5 cached)",
            grown.wall,
            "s",
            grown.cpu,
            target="new alone",
            ok=ran == {NEW_CASE},
            note="" if ran == {NEW_CASE} else f"ran {sorted(ran)}",
        )
    )
    if bench.quick:
        return
    everything, _ = timed(
        pytest_cmd(*base, "--exp-no-cache", "--exp-json", "3.json"), project, env=env
    )
    require(
        len(ran_bodies(project / "3.json")) == 6,
        "--exp-no-cache session: the 6 cases did not all run",
    )
    bench.add(Row("grown to 6, --exp-no-cache (6 fitted)", everything.wall, "s", everything.cpu))


if __name__ == "__main__":
    sys.exit(main(__doc__, measure, add_arguments))
