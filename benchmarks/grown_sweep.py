"""A grown sweep with the run cache: only the new case runs, measured.

    .venv/bin/python benchmarks/grown_sweep.py            # -n 0 (~1 min on 2 idle cores)
    .venv/bin/python benchmarks/grown_sweep.py -n 2
    .venv/bin/python benchmarks/grown_sweep.py --keep     # keep the temporary project

The heart study's random forest (experiments/exp_002_random_forest.py:
``n_estimators`` in [50, 100, 200, 300, 500], 8 seeds a case) is copied into
a temporary git repository (as benchmarks/run.py part a does). After an
untimed warm-up (collection only), three sessions, each a fresh process on the
same sqlite store:

1. the 5-value grid, without the cache (every case fits; each records its key);
2. the grid grown to 6 values (700 added), ``--exp-cache``: the 5 old cases
   must be cached (checked in the JSON results) and only ``n_estimators=700``
   fits;
3. for comparison, the 6-value grid again with ``--exp-no-cache`` (what the
   grown sweep cost before the file's key left its sweep literals out).

Prints the three wall times. Exit status 0 when session 2 ran exactly the new
case, 2 when a session did not do what it should.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import BenchError, child_env, heart_project, load_average, pytest_cmd, timed  # noqa: E402

FILE = "experiments/exp_002_random_forest.py"
GRID = '"n_estimators": [50, 100, 200, 300, 500]'
GROWN = '"n_estimators": [50, 100, 200, 300, 500, 700]'


def ran_bodies(path: Path) -> set[str]:
    """The cases of a session that ran their body (not cached)."""
    results = json.loads(path.read_text())["results"]
    return {r["case_id"] for r in results if r["cached_from"] is None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", dest="workers", default="0", choices=["0", "2"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        project = heart_project(tmp)
        for other in ("exp_001_logistic_regression.py", "exp_003_gradient_boosting.py"):
            (project / "experiments" / other).unlink()
        shutil.rmtree(project / "experiments" / "baselines", ignore_errors=True)
        env = child_env()
        base = ["experiments/", "-n", args.workers]
        print(f"random forest sweep, -n {args.workers}, load average {load_average()}")
        timed(pytest_cmd("experiments/", "--collect-only", "-q", "--exp-no-tracking"), project)

        first, _ = timed(pytest_cmd(*base, "--exp-json", "1.json"), project, env=env)
        if len(ran_bodies(project / "1.json")) != 5:
            raise BenchError("first session: the 5 cases did not all run")
        source = project / FILE
        text = source.read_text()
        if GRID not in text:
            raise BenchError(f"{FILE} no longer declares {GRID}")
        source.write_text(text.replace(GRID, GROWN))
        grown, _ = timed(pytest_cmd(*base, "--exp-cache", "--exp-json", "2.json"), project, env=env)
        ran = ran_bodies(project / "2.json")
        if ran != {"exp_random_forest[n_estimators=700]"}:
            raise BenchError(f"grown session ran {sorted(ran)}, not the new case alone")
        everything, _ = timed(
            pytest_cmd(*base, "--exp-no-cache", "--exp-json", "3.json"), project, env=env
        )
        if len(ran_bodies(project / "3.json")) != 6:
            raise BenchError("--exp-no-cache session: the 6 cases did not all run")
        print(f"  5-value grid, first session (5 cases fitted)     {first.wall:7.2f} s")
        print(f"  grown to 6, --exp-cache (1 fitted, 5 cached)       {grown.wall:7.2f} s")
        print(f"  grown to 6, --exp-no-cache (6 fitted)              {everything.wall:7.2f} s")
        return 0
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
