"""Target: 10,000 cases collected in under 5 s.

    .venv/bin/python benchmarks/collect_speed.py            # 3 runs
    .venv/bin/python benchmarks/collect_speed.py --quick    # 1 run

``pytest experiments/ --collect-only -q --exp-no-tracking`` on one experiment
with a 100 x 100 grid, each run a fresh process after an untimed warm-up;
the median counts.
"""

from __future__ import annotations

import sys

from _common import (
    Bench,
    BenchError,
    Row,
    header,
    main,
    median_timing,
    pytest_cmd,
    small_project,
    timed,
)

GRID = """
from pytest_experiments import experiment


@experiment(params={"a": list(range(100)), "b": list(range(100))})
def exp_grid(a, b):
    return {"score": a * b}
"""


def measure(bench: Bench) -> None:
    n = bench.repeats(3, 1)
    header(f"collecting 10,000 cases, {n} run(s)")
    project = small_project(bench.root, "collect", {"experiments/exp_grid.py": GRID})
    cmd = pytest_cmd(
        "experiments/", "--collect-only", "-q", "--exp-no-tracking", "-p", "no:randomly"
    )
    timed(cmd, project)  # warm-up
    timings = []
    for _ in range(n):
        timing, out = timed(cmd, project)
        if "10000 tests collected" not in out:
            raise BenchError(f"expected 10000 tests collected:\n{out[-2000:]}")
        timings.append(timing)
    m = median_timing(timings)
    bench.add(
        Row(
            f"--collect-only, 10,000 cases (median of {n})",
            m.wall,
            "s",
            m.cpu,
            target="< 5 s",
            ok=m.wall < 5,
        )
    )


if __name__ == "__main__":
    sys.exit(main(__doc__, measure))
