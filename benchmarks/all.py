"""``make bench``: every per-target script in turn, each a process of its own.

    .venv/bin/python benchmarks/all.py                     # every target
    .venv/bin/python benchmarks/all.py --quick             # each script's --quick
    .venv/bin/python benchmarks/all.py --only startup,collect_speed
    .venv/bin/python benchmarks/all.py --slow              # also gate.py and suite.py

Each script prints its figures against its target and writes them to
``benchmarks/out/<script>.json``; this one prints each script's exit status
and wall time at the end. ``gate.py`` (the gate's false alarms and power:
its three parts' own estimates add up to ~35 min) and ``suite.py`` (``make
test`` on a fresh clone) run only with ``--slow`` or ``--only``. Exit
status: the worst of the scripts' (0 every target met, 1 one missed, 2 a
script could not measure).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import HERE, PYTHON

#: Script -> the options of its quick run (``plots.py`` has no ``--quick``).
SCRIPTS = {
    "startup": ["--quick"],
    "collect_speed": ["--quick"],
    "new_store": ["--quick"],
    "per_case_overhead": ["--quick"],
    "n8_latency": ["--quick"],
    "parallel_speedup": ["--quick"],
    "vs_handwritten": ["--quick"],
    "cached_rerun": ["--quick"],
    "grown_sweep": ["--quick"],
    "merge_speed": ["--quick"],
    "compare_speed": ["--quick"],
    "paired_cost": ["--quick"],
    "plots": ["--rounds", "3"],
}
SLOW = {"gate": ["--quick"], "suite": []}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="each script's quick run")
    parser.add_argument("--only", default="", help="scripts to run, by name, comma-separated")
    parser.add_argument("--slow", action="store_true", help="also gate.py and suite.py")
    args = parser.parse_args()
    known = {**SCRIPTS, **SLOW}
    names = [n.strip().removesuffix(".py") for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (known: {', '.join(known)})")
    chosen = names or [*SCRIPTS, *(SLOW if args.slow else ())]
    done: list[tuple[str, int, float]] = []
    for name in chosen:
        command = [PYTHON, str(HERE / f"{name}.py"), *(known[name] if args.quick else [])]
        print(f"\n=== benchmarks/{name}.py {' '.join(command[2:])}".rstrip(), flush=True)
        start = time.perf_counter()
        status = subprocess.run(command, check=False).returncode
        done.append((name, status, time.perf_counter() - start))
    print("\n=== summary")
    verdicts = {0: "targets met", 1: "a target MISSED", 2: "ERROR: could not measure"}
    for name, status, seconds in done:
        print(f"  {name:<20} {seconds:7.1f} s  exit {status}: {verdicts.get(status, 'ERROR')}")
    return max((min(status, 2) if status >= 0 else 2 for _, status, _ in done), default=0)


if __name__ == "__main__":
    sys.exit(main())
