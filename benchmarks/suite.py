"""The test suite's own time (issue 13): ``make test`` on a fresh clone, with
how busy the rest of the machine was while it ran.

    .venv/bin/python benchmarks/suite.py                 # one run of HEAD, ~3-4 min idle
    .venv/bin/python benchmarks/suite.py --runs 3 --busy-loop   # steadiness: 3 runs in a row
                                                          # beside a busy-loop process
    .venv/bin/python benchmarks/suite.py --rev 6ac8116   # another commit
    .venv/bin/python benchmarks/suite.py --target lint   # another make target (a smoke run)

Each run clones the repository (``git clone``, then ``git checkout REV``)
into a temporary folder, links this checkout's ``.venv`` into it (so the
figures leave out the virtual environment's install, ~3 min on a fresh
machine; make's reinstall of the package itself, editable, pointing at the
clone, runs before the clock starts, and the install is pointed back at this
checkout afterwards) and times ``make test`` there: the tests at ``-n 2``
with ruff and mypy beside them, as CI runs it. Figures per run:

- wall time, and CPU: user + system time of ``make test`` and every process
  it waited for (the tests, their sessions and servers, lint, types);
- how busy the whole machine was (``/proc/stat``, sampled every 0.5 s), and
  from it the CPU that *other* processes took during the run: machine busy
  time minus the run's own. Where that is more than a few percent of the
  run's own, the machine was not idle and the wall time is inflated; the
  figures say so. (A PostgreSQL server that a test starts detaches from its
  parent, so its few CPU-seconds count as "other".)

With ``--busy-loop``, one ``python3 -c "while True: pass"`` runs beside every
run (the steadiness target: no failure in three runs in a row beside another
CPU-heavy process); its CPU is left out of "other". Exit status: 0 when every
run passed, 1 otherwise; each failing run's log is kept and named.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _common import REPO

TICKS = os.sysconf("SC_CLK_TCK")


def machine_times() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine since boot (/proc/stat)."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return (total - idle) / TICKS, total / TICKS


def process_cpu(pid: int) -> float:
    """User + system CPU-seconds of a running process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Sampler(threading.Thread):
    """Machine-wide busy fraction every 0.5 s, kept for the summary."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        before = machine_times()
        while not self.stop.wait(0.5):
            now = machine_times()
            total = now[1] - before[1]
            self.samples.append((now[0] - before[0]) / total if total else 0.0)
            before = now


@dataclass
class Run:
    index: int
    commit: str
    rc: int
    wall: float
    #: CPU-seconds of ``make test`` and everything it waited for.
    cpu: float
    #: CPU-seconds other processes took meanwhile (the busy loop left out).
    other: float
    #: Mean busy fraction of the machine during the run.
    busy: float
    tests: str
    log: Path


def timed_make_test(
    index: int, commit: str, clone: Path, log: Path, busy_loop: bool, target: str = "test"
) -> Run:
    """``make <target>`` (``make test``) in ``clone``, output to ``log``, timed and watched."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy_loop else None
    sampler = Sampler()
    try:
        busy0, _ = machine_times()
        hog0 = process_cpu(hog.pid) if hog else 0.0
        sampler.start()
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with log.open("wb") as out:
            rc = subprocess.run(["make", target], cwd=clone, stdout=out, stderr=out).returncode
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - start
        busy1, _ = machine_times()
        hog_cpu = (process_cpu(hog.pid) - hog0) if hog else 0.0
    finally:
        sampler.stop.set()
        if hog:
            hog.kill()
            hog.wait()
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = re.findall(
        r"=+ (.*(?:passed|failed|error).*) in [\d.]+s", log.read_text(errors="replace")
    )
    return Run(
        index=index,
        commit=commit,
        rc=rc,
        wall=wall,
        cpu=own,
        other=max(0.0, (busy1 - busy0) - own - hog_cpu),
        busy=sum(sampler.samples) / max(1, len(sampler.samples)),
        tests=summary[-1] if summary else "no pytest summary",
        log=log,
    )


def one_run(rev: str, index: int, busy_loop: bool, keep: bool, target: str = "test") -> Run:
    folder = Path(tempfile.mkdtemp(prefix=f"suite-{index}-"))
    clone = folder / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=clone,
        check=True,
        text=True,
        capture_output=True,
    ).stdout.strip()
    (clone / ".venv").symlink_to(REPO / ".venv")
    log = folder / "make-test.log"
    # Untimed: the clone's pyproject.toml is newer than the venv's stamp, so
    # make reinstalls the package (editable, now pointing at the clone). From
    # here on, whatever happens, the install is pointed back at this checkout.
    try:
        with log.open("wb") as out:
            subprocess.run(["make", ".venv/.installed-stamp"], cwd=clone, stdout=out, stderr=out)
        result = timed_make_test(index, commit, clone, log, busy_loop, target)
    finally:
        subprocess.run(
            [
                str(REPO / ".venv/bin/python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "-e",
                ".",
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    if result.rc == 0 and not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="HEAD", help="the commit to measure (default HEAD)")
    parser.add_argument("--runs", type=int, default=1, help="runs in a row (default 1)")
    parser.add_argument("--busy-loop", action="store_true", help="a busy-loop process beside")
    parser.add_argument("--keep", action="store_true", help="keep every clone and log")
    parser.add_argument("--target", default="test", help="the make target (default test)")
    args = parser.parse_args()
    if not (REPO / ".venv" / "bin" / "python").exists():
        print("benchmarks/suite.py: no .venv here; run `make test` once first", file=sys.stderr)
        return 2
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"make {args.target} on a fresh clone of {args.rev}"
        + (", beside a busy-loop process" if args.busy_loop else ", nothing else started")
    )
    failed = 0
    for index in range(1, args.runs + 1):
        r = one_run(args.rev, index, args.busy_loop, args.keep, args.target)
        note = ""
        if r.other > 0.05 * r.cpu:
            note = f"  NOT IDLE: other processes took {r.other / r.cpu:.0%} of the run's own CPU"
        print(
            f"run {r.index} ({r.commit}): rc {r.rc}, wall {minutes(r.wall)}, "
            f"CPU {minutes(r.cpu)}, other CPU {r.other:.0f} s, machine busy {r.busy:.0%}; "
            f"{r.tests}{note}",
            flush=True,
        )
        if r.rc != 0:
            failed += 1
            print(f"  log kept: {r.log}")
    print(f"{args.runs - failed} of {args.runs} runs passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
