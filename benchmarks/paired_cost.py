"""Target: the paired test of F1, and of ROC AUC, on 1,000 examples x 8 repeats in < 0.5 s.

    .venv/bin/python benchmarks/paired_cost.py            # ~1 min on 2 idle cores
    .venv/bin/python benchmarks/paired_cost.py --quick    # one round of the fast path

The gate's paired test (:func:`pytest_experiments.paired.paired_test`) on
synthetic binary predictions and scores (each side right on about 80% of
the examples), in this process, with and without the path that leaves each
group of examples out in one pass (F1: the confusion matrices; ROC AUC: the
Mann-Whitney count) and without it (one scikit-learn call per group, repeat
and side, as before 2026-12-07). Printed side by side with their ratio, at
the heart study's size (61 examples, 3 repeats) and at 1,000 examples (200
jackknife groups) with 1 and 8 repeats; accuracy, a mean over examples, as
the floor. The fast path is the median of 5 rounds (1 with ``--quick``),
the per-group path one round. The two paths' p-values must agree (else the
script fails).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from functools import partial
from typing import Any

from _common import Bench, BenchError, Row, header, main

#: (examples, repeats a side) measured.
SIZES = [(61, 3), (1000, 1), (1000, 8)]
TARGET_S = 0.5


def sides(examples: int, repeats: int) -> tuple[Any, Any]:
    import numpy as np

    from pytest_experiments.predictions import Predictions, logged_entry

    rng = np.random.default_rng(examples * 10 + repeats)
    y = rng.integers(0, 2, examples)

    def side() -> Any:
        entries = []
        for _ in range(repeats):
            pred = np.where(rng.random(examples) < 0.8, y, 1 - y)
            score = np.clip(0.5 * pred + 0.5 * rng.random(examples), 0, 1)
            entries.append(logged_entry(y, pred, None, score))
        return Predictions.of_repeats(entries)

    return side(), side()


def seconds(call: Any, rounds: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``call()`` over ``rounds``, and its result."""
    walls, cpus, result = [], [], None
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def measure(bench: Bench) -> None:
    from pytest_experiments.paired import KNOWN_METRICS, paired_test

    rounds = bench.repeats(5, 1)
    header(f"the paired test, in process (fast path: median of {rounds} round(s))")
    paired_test(KNOWN_METRICS["f1"], *sides(61, 1), "higher", 0.0)  # warm-up: the imports
    accuracy = KNOWN_METRICS["accuracy"]
    for examples, repeats in SIZES:
        base, cur = sides(examples, repeats)
        size = f"{examples} examples x {repeats} repeat(s)"
        big = (examples, repeats) == SIZES[-1]
        for name in ("f1", "roc_auc"):
            spec = KNOWN_METRICS[name]
            fast, fast_cpu, got = seconds(
                partial(paired_test, spec, base, cur, "higher", 0.0), rounds
            )
            bench.add(
                Row(
                    f"{name}, one pass, {size}",
                    fast,
                    "s",
                    fast_cpu,
                    target=f"< {TARGET_S} s" if big else "",
                    ok=fast < TARGET_S if big else None,
                )
            )
            if bench.quick:
                continue
            per_group = replace(spec, leave_out=None)
            slow, slow_cpu, want = seconds(
                partial(paired_test, per_group, base, cur, "higher", 0.0), 1
            )
            if (
                want.p_value is None
                or got.p_value is None
                or abs(got.p_value - want.p_value) > 1e-9
            ):
                raise BenchError(f"{name}, {size}: p-values {got.p_value} and {want.p_value}")
            bench.add(Row(f"{name}, a scikit-learn call per group, {size}", slow, "s", slow_cpu))
            bench.add(Row(f"  per group / one pass, {name}, {size}", slow / fast, "x"))
        floor, _, _ = seconds(partial(paired_test, accuracy, base, cur, "higher", 0.0), rounds)
        bench.add(Row(f"accuracy (a mean: no jackknife), {size}", floor * 1000, "ms"))


if __name__ == "__main__":
    sys.exit(main(__doc__, measure))
