"""A tiny study with deterministic metrics, and real pytest processes that
run it as shards (imported by test_merge and test_shards).

The study's metrics are pure functions of the case params (no fits), so one
session running every case and shards running parts of it must record the
same numbers, outcomes and baseline comparisons.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _forked import ForkedPopen, popen_pytest
from _server import WAIT_S, write

from devtools.servers import kill_group

#: ``exp_grid[k=...]`` cases; the first ``BASELINED`` have a baseline entry.
GRID = 8
BASELINED = 6
#: The grid case that regresses when the environment sets STUDY_DRIFT.
DRIFTING = "exp_001_grid.py::exp_grid[k=5]"

GRID_FILE = """
    import os

    from pytest_experiments import experiment


    @experiment(
        params={{"k": list(range(1, {grid} + 1))}},
        expect={{"score": ">= 0.1"}},
        tolerance={{"score": 0.01}},
    )
    def exp_grid(k):
        drift = float(os.environ.get("STUDY_DRIFT", "0")) if k == 5 else 0.0
        return {{"score": k / 10 - drift, "loss": 1 / k}}
"""

REPEATS_FILE = """
    from pytest_experiments import experiment


    @experiment(params={"a": [1, 2]}, repeats=3)
    def exp_repeats(a, seed):
        return {"acc": 0.5 + a / 10 + (seed % 97) / 10000}
"""

#: A case its mark skips (no run), one that misses its expectation, and one
#: that fails its first attempt in each process (pytest-rerunfailures runs it
#: again).
FAILING_FILE = """
    import os
    from pathlib import Path

    import pytest
    from pytest_experiments import experiment


    @pytest.mark.skip(reason="later")
    @experiment
    def exp_later():
        return {"score": 1.0}


    @experiment(expect={"score": ">= 0.9"})
    def exp_short():
        return {"score": 0.5}


    @experiment
    def exp_flaky():
        flag = Path(os.environ["STUDY_FLAGS"]) / f"flaky-{os.getpid()}"
        if not flag.exists():
            flag.touch()
            raise RuntimeError("the first attempt fails")
        return {"score": 0.75}
"""


def write_study(root: Path, *, grid: int = GRID, failing: bool = False) -> list[str]:
    """Write the study into ``root`` (its own rootdir); returns its node ids."""
    write(root, "pytest.ini", "[pytest]\n")
    write(root, "exp_001_grid.py", GRID_FILE.format(grid=grid))
    write(root, "exp_002_repeats.py", REPEATS_FILE)
    baseline = {
        f"exp_grid[k={k}]": {"loss": 1 / k, "score": k / 10} for k in range(1, BASELINED + 1)
    }
    write(root, "baselines/exp_001_grid.json", json.dumps(baseline, indent=2, sort_keys=True))
    ids = [f"exp_001_grid.py::exp_grid[k={k}]" for k in range(1, grid + 1)]
    ids += [f"exp_002_repeats.py::exp_repeats[a={a}]" for a in (1, 2)]
    if failing:
        write(root, "exp_003_failing.py", FAILING_FILE)
        ids += [f"exp_003_failing.py::{name}" for name in ("exp_later", "exp_short", "exp_flaky")]
    return ids


def environment(**extra: str) -> dict[str, str]:
    """This environment without what would leak a developer's settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "PYTEST_", "GITHUB_")) and k != "CI"
    }
    env["GIT_PYTHON_REFRESH"] = "quiet"
    env.update(extra)
    return env


@dataclass
class Finished:
    args: list[str]
    returncode: int
    output: str


@contextmanager
def processes() -> Iterator[Processes]:
    """Start pytest processes at once (forked from the zygote, side by side);
    every one is stopped on the way out, also when a test fails."""
    group = Processes()
    try:
        yield group
    finally:
        group.stop()


class Processes:
    def __init__(self) -> None:
        self.running: list[tuple[list[str], ForkedPopen | subprocess.Popen[bytes], Path]] = []

    def start(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        log = root / f"pytest-{len(self.running)}-{os.getpid()}.log"
        command = ["-p", "no:cacheprovider", *args]
        env = env if env is not None else environment()
        self.running.append((list(args), popen_pytest(command, root, log, env), log))

    def wait(self, timeout: float = WAIT_S * 2) -> list[Finished]:
        """Wait for every process started (in order); their exit status and output."""
        finished = []
        for args, proc, log in self.running:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc, grace=5)
            text = log.read_text(encoding="utf-8", errors="replace")
            returncode = proc.returncode if proc.returncode is not None else -1  # never reaped
            finished.append(Finished(args, returncode, text))
        self.running = []
        return finished

    def stop(self) -> None:
        for _, proc, _ in self.running:
            kill_group(proc, grace=5)
        self.running = []


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> Finished:
    """One pytest process, to its end."""
    with processes() as group:
        group.start(root, *args, env=env)
        return group.wait()[0]


#: Fields of a result that a merge must rebuild exactly as the session had them.
SAME = (
    "nodeid",
    "file",
    "experiment",
    "case_id",
    "params",
    "metrics",
    "repeats",
    "seeds",
    "outcome",
    "message",
    "directions",
    "comparisons",
    "has_baseline",
    "expect",
    "doc",
)


def comparable(path: Path) -> list[dict[str, Any]]:
    """The ``--exp-json`` results, in order, reduced to what a merge keeps
    (spread without its samples, which stay in the metric history, and
    without their seeds, which stay in the run's ``experiments.seeds``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for result in data["results"]:
        row = {key: result[key] for key in SAME}
        row["spread"] = {
            m: {k: v for k, v in s.items() if k not in ("samples", "seeds")}
            for m, s in result["spread"].items()
        }
        rows.append(row)
    return rows


def outcomes(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {r["nodeid"]: r["outcome"] for r in data["results"]}


def assert_same_results(merged: Path, single: Path) -> None:
    """Every case once, in the same order, with what the single session had."""
    got, want = comparable(merged), comparable(single)
    assert [r["nodeid"] for r in got] == [r["nodeid"] for r in want]
    for a, b in zip(got, want, strict=True):
        assert a == b, f"{a['nodeid']}:\nmerged {a}\nsingle {b}"


def count_by_nodeid(runs: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs:
        nodeid = run.data.tags.get("pytest.nodeid", "?")
        counts[nodeid] = counts.get(nodeid, 0) + 1
    return counts
