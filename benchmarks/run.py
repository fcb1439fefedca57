"""pytest-experiments benchmarks: one command, every figure side by side.

    .venv/bin/python benchmarks/run.py              # everything (~8 min on 2 idle cores)
    .venv/bin/python benchmarks/run.py --quick      # fewer repeats
    .venv/bin/python benchmarks/run.py --only d,e   # some parts again

Parts (see benchmarks/README.md):
  a  the heart study through the plugin, -n 0 vs -n 2, runs and models tracked
  b  the same 15 runs logged to MLflow by hand (benchmarks/handwritten.py)
  c  the 15 fits alone, no tracking (benchmarks/fits_only.py)
  d  the plugin's start-up cost on a plain suite of 50 tests (no experiments)
  e  per-case tracking overhead on the sqlite default, without artifacts
  f  collection time of 10,000 generated cases

Every figure comes from fresh processes on this machine with this Python,
each tracked run on a fresh sqlite store in a temporary project; the repo's
own mlflow.db is never touched. Prints a table of times, ratios, targets and
PASS/FAIL, and writes it as JSON (default benchmarks/out/results.json).
Exit status: 0 all targets met, 1 a target missed, 2 a part could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
PARTS = "abcdefghi"


class BenchError(RuntimeError):
    """A measured command did not do what it should (so its time means nothing)."""


# -- measuring ------------------------------------------------------------------


@dataclass
class Timing:
    wall: float  # seconds, wall clock of the whole command
    cpu: float  # seconds, user + sys of the command and every process it waited for


@dataclass
class Row:
    part: str
    what: str
    value: float
    unit: str  # "s", "ms", "x"
    cpu: float | None = None  # CPU seconds, for times
    target: str = ""
    ok: bool | None = None  # None: information only
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else "PASS" if self.ok else "FAIL"


@dataclass
class Results:
    machine: dict[str, str]
    options: dict[str, object]
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {format_row(row)}", flush=True)
        return row


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every measured command: nothing that steers MLflow or
    pytest from outside, and bytecode caching on (as on a normal machine; this
    sandbox sets PYTHONDONTWRITEBYTECODE, which would make every start-up
    recompile the plugin)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "PYTEST_")) and k != "GITHUB_STEP_SUMMARY"
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["GIT_PYTHON_REFRESH"] = "quiet"
    env.update(extra)
    return env


def timed(
    cmd: Sequence[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> tuple[Timing, str]:
    """Run ``cmd`` in a fresh process; its wall and CPU time and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env or child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in ok_codes:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise BenchError(f"`{' '.join(cmd)}` in {cwd} exited {proc.returncode}:\n{tail}")
    return Timing(wall, cpu), proc.stdout


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% interval (normal approximation)."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, 1.96 * statistics.stdev(values) / len(values) ** 0.5


def median_timing(timings: Sequence[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


def pytest_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "pytest", *args]


# -- temporary projects -----------------------------------------------------------


def git_commit(folder: Path) -> None:
    """Make ``folder`` a git repository with one commit (the plugin records git
    state on every run, as it would in a real project)."""
    if shutil.which("git") is None:
        return
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "bench"]):
        subprocess.run(
            ["git", *args],
            cwd=folder,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def heart_project(root: Path, repeats: int | None = None) -> Path:
    """A copy of the heart study (experiments/, conftest.py, data/) with its own
    ini; with ``repeats``, each experiment's ``repeats=`` set to it (the study
    itself has ``repeats=8``) and no baselines (they hold 8 samples a case; one
    sample against them is the noisy single-number comparison the gate's
    repeats exist to avoid)."""
    project = root / "heart"
    project.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "experiments", project / "experiments", ignore=skip)
    if repeats:
        for path in (project / "experiments").glob("exp_*.py"):
            text, count = re.subn(r"\brepeats=\d+", f"repeats={repeats}", path.read_text())
            if count != 1:
                raise BenchError(f"{path.name}: expected one repeats= to set, found {count}")
            path.write_text(text)
        shutil.rmtree(project / "experiments" / "baselines")
    shutil.copytree(REPO / "data", project / "data", ignore=skip)
    shutil.copy2(REPO / "conftest.py", project / "conftest.py")
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / ".gitignore").write_text("mlflow.db\nmlruns/\nreport.md\n.pytest_cache/\n")
    git_commit(project)
    return project


def reset_store(project: Path) -> None:
    """Leave the project as freshly checked out: no store, no artifacts, no cache."""
    for name in ("mlflow.db", "mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm", "report.md"):
        (project / name).unlink(missing_ok=True)
    for name in ("mlruns", ".pytest_cache"):
        shutil.rmtree(project / name, ignore_errors=True)


#: Case runs only: each session also makes one parent run per experiment file.
CASE_RUNS = " and run_uuid not in (select run_uuid from tags where key = 'experiments.parent')"


def check_store(db: Path, runs: int, models: int, where: str) -> None:
    """The store holds ``runs`` finished runs and ``models`` logged models."""
    if not db.exists():
        raise BenchError(f"{where}: no store at {db}")
    with sqlite3.connect(db) as con:
        (finished,) = con.execute(
            "select count(*) from runs where status = 'FINISHED' and lifecycle_stage = 'active'"
            + CASE_RUNS
        ).fetchone()
        (total,) = con.execute("select count(*) from runs where 1 = 1" + CASE_RUNS).fetchone()
    found = len(list(db.parent.glob("mlruns/**/MLmodel")))
    if finished != runs or total != runs or found != models:
        raise BenchError(
            f"{where}: expected {runs} finished runs and {models} models, found "
            f"{finished} finished of {total} runs and {found} models"
        )


PLAIN_TEST = """
import pytest


@pytest.mark.parametrize("n", range(45))
def test_param(n):
    assert n * n >= 0


def test_one():
    assert sum([1, 2]) == 3


def test_two():
    assert "a" in "abc"


def test_three():
    assert [1] * 3 == [1, 1, 1]


def test_four():
    assert {"x": 1}["x"] == 1


def test_five():
    assert abs(-5) == 5
"""

PLAIN_CONFTEST = """
import json
import os
import sys


def pytest_unconfigure(config):
    out = os.environ.get("BENCH_MODULES_OUT")
    if out:
        with open(out, "w") as fh:
            json.dump(
                {
                    "plugin": config.pluginmanager.hasplugin("experiments"),
                    "heavy": sorted(
                        m for m in ("mlflow", "pandas", "sklearn") if m in sys.modules
                    ),
                },
                fh,
            )
"""

TRIVIAL_MANY = """
from pytest_experiments import experiment


@experiment(params={"i": list(range(40))})
def exp_many(i):
    return {"score": i / 40}
"""

TRIVIAL_ONE = """
from pytest_experiments import experiment


@experiment(params={"i": [0]})
def exp_one(i):
    return {"score": i / 40}
"""

TRIVIAL_400 = """
from pytest_experiments import experiment


@experiment(params={"i": list(range(400))})
def exp_400(i):
    return {"score": i / 400}
"""

MAKE_STORE = """
import sys, time
from pathlib import Path

import mlflow.store.tracking.sqlalchemy_store  # imports are not what is measured

from pytest_experiments import sqlite_store

mode, db = sys.argv[1], Path(sys.argv[2])
artifacts = (db.parent / "mlruns").as_uri()
start = time.perf_counter()
if mode == "mlflow":
    store = mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore(f"sqlite:///{db}", artifacts)
    store.engine.dispose()
else:
    sqlite_store.create(db, artifacts)
print(time.perf_counter() - start)
"""

FLOOR = """
import sys, time
from pathlib import Path

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from pytest_experiments import sqlite_store

db = Path(sys.argv[1])
sqlite_store.create(db, (db.parent / "mlruns").as_uri())
client = MlflowClient(f"sqlite:///{db}")
experiment = client.create_experiment("floor")


def case(i):
    run = client.create_run(experiment, run_name=f"case{i}")
    client.log_batch(
        run.info.run_id, metrics=[Metric("score", 0.5, 0, 0)], params=[Param("i", str(i))]
    )
    client.set_terminated(run.info.run_id, "FINISHED")


for i in range(5):
    case(i)
start = time.perf_counter()
for i in range(40):
    case(i)
print((time.perf_counter() - start) / 40 * 1000)
"""

GRID = """
from pytest_experiments import experiment


@experiment(params={"a": list(range(100)), "b": list(range(100))})
def exp_grid(a, b):
    return {"score": a * b}
"""


def small_project(root: Path, name: str, files: dict[str, str]) -> Path:
    project = root / name
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    for rel, text in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return project


# -- the parts --------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, root: Path, results: Results) -> None:
        self.args = args
        self.root = root
        self.results = results
        self.quick: bool = args.quick
        self.heart: Path | None = None
        self.n2: Timing | None = None

    def repeats(self, full: int, quick: int) -> int:
        n: int = self.args.repeats or (quick if self.quick else full)
        return n

    def heart_dir(self) -> Path:
        if self.heart is None:
            # One repeat per case: the hand-written loop (part b) and the fits
            # alone (part c) fit each of the 15 cases once, and so must the
            # plugin for their ratios to compare the same work.
            self.heart = heart_project(self.root, repeats=1)
            # warm-up, not timed: compile the plugin and experiment files, fill the page cache
            timed(pytest_cmd("-q", "--collect-only", "-p", "no:randomly"), self.heart)
            timed([PYTHON, "-c", "import mlflow.sklearn, sklearn.ensemble, pandas"], self.heart)
        return self.heart

    def plugin_study(self, workers: int, fresh: bool = True, tracking: bool = True) -> Timing:
        """The study through the plugin on a fresh store (or, with ``fresh=False``,
        a second session on the store the previous run left; with ``tracking=False``,
        ``--exp-no-tracking``: what xdist alone makes of the study)."""
        project = self.heart_dir()
        if fresh:
            reset_store(project)
        (project / "report.md").unlink(missing_ok=True)
        timing, out = timed(
            pytest_cmd(
                "experiments/",
                "-q",
                "-n",
                str(workers),
                "-p",
                "no:randomly",
                "--exp-report",
                "report.md",
                *([] if tracking else ["--exp-no-tracking"]),
            ),
            project,
        )
        if not tracking:
            if "15 passed" not in out or (project / "mlflow.db").exists():
                raise BenchError(f"plugin -n {workers} --exp-no-tracking:\n{out[-2000:]}")
        else:
            expected = 15 if fresh else 30
            check_store(project / "mlflow.db", expected, expected, f"plugin -n {workers}")
        if not (project / "report.md").exists():
            raise BenchError(f"plugin -n {workers}: no report.md written")
        return timing

    def fits_only(self) -> Timing:
        timing, out = timed(
            [PYTHON, str(HERE / "fits_only.py"), "--data", str(REPO / "data" / "heart.csv")],
            self.root,
        )
        if "15 cases" not in out:
            raise BenchError(f"fits_only.py did not run 15 cases:\n{out}")
        return timing

    def handwritten(self, models: bool) -> Timing:
        folder = self.root / ("hand" if models else "hand-nomodels")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        db = folder / "mlflow.db"
        cmd = [PYTHON, str(HERE / "handwritten.py"), "--tracking-uri", f"sqlite:///{db}"]
        timing, _ = timed(cmd if models else [*cmd, "--no-models"], folder)
        check_store(db, 15, 15 if models else 0, "handwritten.py")
        return timing

    # a, c (and the -n 2 figure that b and c compare with)
    def study(self, parts: str) -> None:
        r = self.results
        n = self.repeats(3, 1)
        n0: list[Timing] = []
        n2: list[Timing] = []
        fits: list[Timing] = []
        # information only (full runs): a second session on the store just made
        again0: list[Timing] = []
        again2: list[Timing] = []
        existing = "a" in parts and not self.quick
        # information: the same study with tracking off, -n 0 and -n 2
        off0: list[Timing] = []
        off2: list[Timing] = []
        header(f"[a/c] heart study, {n} round(s): plugin -n 0, plugin -n 2, fits alone")
        Step = tuple[list[Timing], Callable[[], Timing]]
        groups: list[list[Step]] = [[(n2, lambda: self.plugin_study(2))]]
        if existing:
            groups[0].append((again2, lambda: self.plugin_study(2, fresh=False)))
        if "a" in parts:
            groups.append([(n0, lambda: self.plugin_study(0))])
        if existing:
            groups[-1].append((again0, lambda: self.plugin_study(0, fresh=False)))
        if "a" in parts:
            groups.append(
                [
                    (off0, lambda: self.plugin_study(0, tracking=False)),
                    (off2, lambda: self.plugin_study(2, tracking=False)),
                ]
            )
        if "c" in parts:
            groups.append([(fits, self.fits_only)])
        for i in range(n):
            # alternate the order so that drift in machine load hits all alike; a
            # second session always runs right after the fresh one that made its store
            for group in groups if i % 2 == 0 else groups[::-1]:
                for bucket, measure in group:
                    bucket.append(measure())
            print(
                f"  round {i + 1}: "
                + ", ".join(
                    f"{label} {b[-1].wall:.2f}s"
                    for label, b in (
                        ("-n 0", n0),
                        ("-n 2", n2),
                        ("fits", fits),
                        ("-n 0 again", again0),
                        ("-n 2 again", again2),
                        ("-n 0 untracked", off0),
                        ("-n 2 untracked", off2),
                    )
                    if b
                ),
                flush=True,
            )
        self.n2 = m2 = median_timing(n2)
        if "a" in parts:
            m0 = median_timing(n0)
            r.add(Row("a", f"plugin -n 0, 15 runs + models (median of {n})", m0.wall, "s", m0.cpu))
        r.add(Row("a", f"plugin -n 2, 15 runs + models (median of {n})", m2.wall, "s", m2.cpu))
        if "a" in parts:
            speedup = m0.wall / m2.wall
            r.add(
                Row(
                    "a",
                    "speed-up of -n 2 over -n 0",
                    speedup,
                    "x",
                    note="information: the 1.7x target was retired (issue 17, see part i)",
                )
            )
        if existing:
            e0, e2 = median_timing(again0), median_timing(again2)
            note = "information: second session, store exists"
            r.add(
                Row(
                    "a",
                    f"plugin -n 0, existing store (median of {n})",
                    e0.wall,
                    "s",
                    e0.cpu,
                    note=note,
                )
            )
            r.add(
                Row(
                    "a",
                    f"plugin -n 2, existing store (median of {n})",
                    e2.wall,
                    "s",
                    e2.cpu,
                    note=note,
                )
            )
            r.add(
                Row(
                    "a",
                    "speed-up of -n 2 over -n 0, existing store",
                    e0.wall / e2.wall,
                    "x",
                    note="information",
                )
            )
        if off0:
            u0, u2 = median_timing(off0), median_timing(off2)
            note = "information: --exp-no-tracking, what xdist alone gives"
            r.add(Row("a", f"plugin -n 0, no tracking (median of {n})", u0.wall, "s", u0.cpu))
            r.add(Row("a", f"plugin -n 2, no tracking (median of {n})", u2.wall, "s", u2.cpu))
            r.add(
                Row(
                    "a",
                    "speed-up of -n 2 over -n 0, no tracking",
                    u0.wall / u2.wall,
                    "x",
                    note=note,
                )
            )
        if "c" in parts:
            mf = median_timing(fits)
            r.add(Row("c", f"fits alone, one script (median of {n})", mf.wall, "s", mf.cpu))
            ratio = m2.wall / mf.wall
            r.add(
                Row(
                    "c", "plugin -n 2 / fits alone", ratio, "x", note="information (retired target)"
                )
            )

    def part_b(self) -> None:
        r = self.results
        assert self.n2 is not None
        header("[b] hand-written MLflow loop (one run each; ~70 s with models)")
        hand = self.handwritten(models=True)
        r.add(Row("b", "hand-written loop, log_model as usual", hand.wall, "s", hand.cpu))
        if not self.quick:
            bare = self.handwritten(models=False)
            r.add(
                Row(
                    "b",
                    "hand-written loop, params + metrics only",
                    bare.wall,
                    "s",
                    bare.cpu,
                    note="information: no models",
                )
            )
        ratio = hand.wall / self.n2.wall
        r.add(
            Row(
                "b",
                "hand-written (models) / plugin -n 2",
                ratio,
                "x",
                target=">= 5x",
                ok=ratio >= 5,
            )
        )

    def part_d(self) -> None:
        r = self.results
        n = self.repeats(15, 6)
        sizes = (50, 500)
        grind = shutil.which("valgrind")
        listed = " and ".join(map(str, sizes))
        header(
            f"[d] start-up on plain suites of {listed} tests: {n} alternating pairs each"
            + (", and instructions counted under valgrind" if grind else "")
        )
        without_cmd = pytest_cmd("-q", "-p", "no:experiments", "-p", "no:randomly")
        with_cmd = pytest_cmd("-q", "-p", "no:randomly")
        added: list[float] = []
        for size in sizes:
            project = small_project(
                self.root,
                f"plain{size}",
                {
                    "conftest.py": PLAIN_CONFTEST,
                    "tests/test_plain.py": PLAIN_TEST.replace("range(45)", f"range({size - 5})"),
                },
            )
            modules = project / "modules.json"
            # A fixed hash seed makes a run's instruction count repeat exactly.
            env = child_env(BENCH_MODULES_OUT=str(modules), PYTHONHASHSEED="0")

            def check(cmd: list[str], out: str, size: int = size, modules: Path = modules) -> None:
                if f"{size} passed" not in out:
                    raise BenchError(f"plain suite did not pass {size} tests:\n{out[-2000:]}")
                seen = json.loads(modules.read_text())
                if seen["plugin"] != (cmd is with_cmd):
                    raise BenchError(f"plugin loaded={seen['plugin']} for {' '.join(cmd)}")
                if seen["heavy"]:
                    raise BenchError(f"{' '.join(cmd)} imported {', '.join(seen['heavy'])}")

            for cmd in (without_cmd, with_cmd):  # warm-up: bytecode caches, page cache
                timed(cmd, project, env=env)
            without: list[Timing] = []
            with_: list[Timing] = []
            for i in range(n):
                pair = [(without, without_cmd), (with_, with_cmd)]
                if i % 2:
                    pair.reverse()
                for bucket, cmd in pair:
                    timing, out = timed(cmd, project, env=env)
                    check(cmd, out)
                    bucket.append(timing)
            if (project / "mlflow.db").exists() or (project / "mlruns").exists():
                raise BenchError("the plain suite created an MLflow store")
            # Whole processes of ~1 s on a VM differ by tens of ms from run to run,
            # and whether one more automatic full GC pass (~40 ms) lands inside a
            # run depends on every allocation in it. Wall times are shown with
            # their 95% interval; where valgrind exists, the instructions each
            # run executes (the same on every repeat) give the exact difference,
            # turned into time at the rate this machine runs the plain suite.
            diffs = [b.wall - a.wall for a, b in zip(without, with_, strict=True)]
            mean, half = mean_interval(diffs)
            m_without, m_with = median_timing(without), median_timing(with_)
            r.add(
                Row(
                    "d",
                    f"{size} plain tests: wall time added (mean of {n} pairs)",
                    mean * 1000,
                    "ms",
                    note=f"95% interval +/- {half * 1000:.0f} ms; medians "
                    f"{m_without.wall:.2f} s without, {m_with.wall:.2f} s with",
                )
            )
            if grind is None:
                added.append(mean)
                continue
            counts = {}
            for label, cmd in (("without", without_cmd), ("with", with_cmd)):
                grind_cmd = [
                    grind,
                    "--tool=cachegrind",
                    "--cache-sim=no",
                    "--cachegrind-out-file=/dev/null",
                    *cmd,
                ]
                _, out = timed(grind_cmd, project, env=env)
                check(cmd, out)
                found = re.search(r"I\s+refs:\s+([\d,]+)", out)
                if found is None:
                    raise BenchError(f"no instruction count from valgrind:\n{out[-2000:]}")
                counts[label] = int(found.group(1).replace(",", ""))
            extra = counts["with"] - counts["without"]
            ms = extra / counts["without"] * m_without.wall * 1000
            added.append(ms / 1000)
            r.add(
                Row(
                    "d",
                    f"{size} plain tests: instructions added (valgrind)",
                    ms,
                    "ms",
                    note=f"{extra / 1e6:+.1f} M instructions ({extra / counts['without']:+.2%} of "
                    f"{counts['without'] / 1e9:.2f} G), at {m_without.wall:.2f} s per run",
                )
            )
        worst = max(added) * 1000
        how = "instructions" if grind else "wall time"
        r.add(
            Row(
                "d",
                f"start-up added by the plugin (worst of the {len(sizes)} suites, by {how})",
                worst,
                "ms",
                target="< 30 ms",
                ok=worst < 30,
                note="no mlflow/pandas/sklearn in sys.modules, no store",
            )
        )
        imports = []
        code = (
            "import time, pytest, xdist.plugin; t = time.perf_counter(); "
            "import pytest_experiments.plugin; print(time.perf_counter() - t)"
        )
        for _ in range(n):
            _, out = timed([PYTHON, "-c", code], project)
            imports.append(float(out.strip().splitlines()[-1]))
        r.add(
            Row(
                "d",
                "import pytest_experiments.plugin (pytest loaded)",
                statistics.median(imports) * 1000,
                "ms",
                note="information",
            )
        )

    def part_e(self) -> None:
        r = self.results
        n = self.repeats(5, 3)
        header(f"[e] per-case tracking overhead, -n 0, {n} round(s) of 4 runs")
        project = small_project(
            self.root,
            "overhead",
            {"experiments/exp_many.py": TRIVIAL_MANY, "experiments/exp_one.py": TRIVIAL_ONE},
        )
        git_commit(project)

        def run(file: str, cases: int, tracking: bool) -> Timing:
            reset_store(project)
            extra = [] if tracking else ["--exp-no-tracking"]
            timing, out = timed(
                pytest_cmd(f"experiments/{file}", "-q", "-n", "0", "-p", "no:randomly", *extra),
                project,
            )
            if f"{cases} passed" not in out:
                raise BenchError(f"{file}: expected {cases} passed:\n{out[-2000:]}")
            if tracking:
                check_store(project / "mlflow.db", cases, 0, file)
            return timing

        run("exp_one.py", 1, True)  # warm-up
        runs: dict[tuple[int, bool], list[Timing]] = {
            (c, t): [] for c in (40, 1) for t in (False, True)
        }
        for i in range(n):
            keys = list(runs)
            if i % 2:
                keys.reverse()
            for cases, tracking in keys:
                file = "exp_many.py" if cases == 40 else "exp_one.py"
                runs[cases, tracking].append(run(file, cases, tracking))
        med = {key: median_timing(v) for key, v in runs.items()}
        for (cases, tracking), m in med.items():
            label = "tracking on sqlite" if tracking else "--exp-no-tracking"
            r.add(
                Row("e", f"{cases:>2} trivial case(s), {label} (median of {n})", m.wall, "s", m.cpu)
            )
        one_off = med[1, True].wall - med[1, False].wall
        r.add(
            Row(
                "e",
                "one-off tracking cost (mlflow import, new store, experiment)",
                one_off * 1000,
                "ms",
                note="information: from the 1-case runs",
            )
        )
        per_round = [
            (
                (runs[40, True][i].wall - runs[40, False][i].wall)
                - (runs[1, True][i].wall - runs[1, False][i].wall)
            )
            / 39
            for i in range(n)
        ]
        per_case = statistics.median(per_round) * 1000
        cpu_per_case = (
            ((med[40, True].cpu - med[40, False].cpu) - (med[1, True].cpu - med[1, False].cpu))
            / 39
            * 1000
        )
        r.add(
            Row(
                "e",
                "tracking overhead per case (one-off costs taken out)",
                per_case,
                "ms",
                target="< 10 ms",
                ok=per_case < 10,
                note=f"median of {n} paired rounds; CPU {cpu_per_case:.1f} ms",
            )
        )
        floor_script = project / "floor.py"
        floor_script.write_text(FLOOR)
        floors = []
        for i in range(n):
            _, out = timed([PYTHON, str(floor_script), str(project / f"floor-{i}.db")], project)
            floors.append(float(out.strip().splitlines()[-1]))
        floor = statistics.median(floors)
        r.add(
            Row(
                "e",
                "MLflow's floor: create_run + log_batch + set_terminated, bare client",
                floor,
                "ms",
                note=f"information: per case, same WAL store, no tags (median of {n})",
            )
        )
        imports: list[Timing] = []
        for _ in range(n):
            imports.append(timed([PYTHON, "-c", "import mlflow"], project)[0])
        bare = median_timing([timed([PYTHON, "-c", "pass"], project)[0] for _ in range(n)])
        mi = median_timing(imports)
        r.add(
            Row(
                "e",
                "`import mlflow` alone, fresh process",
                (mi.wall - bare.wall) * 1000,
                "ms",
                note="information",
            )
        )

    def part_f(self) -> None:
        r = self.results
        n = self.repeats(3, 1)
        header(f"[f] collecting 10,000 cases, {n} run(s)")
        project = small_project(self.root, "collect", {"experiments/exp_grid.py": GRID})
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
        r.add(
            Row(
                "f",
                f"--collect-only, 10,000 cases (median of {n})",
                m.wall,
                "s",
                m.cpu,
                target="< 5 s",
                ok=m.wall < 5,
            )
        )

    # -- issue 17: store, floor, scaling, a fits-dominated study ------------------

    def part_g(self) -> None:
        """A brand-new sqlite store: MLflow's migrations vs the plugin's template
        copy (cold: template built first; warm: template present)."""
        r = self.results
        n = self.repeats(5, 3)
        header(f"[g] a brand-new sqlite store, {n} round(s) of 3 fresh processes")
        folder = self.root / "stores"
        folder.mkdir()
        script = folder / "make_store.py"
        script.write_text(MAKE_STORE)
        warm_cache = folder / "warm-cache"
        timed(
            [PYTHON, str(script), "plugin", str(folder / "w.db")],
            folder,
            env=child_env(PYTEST_EXPERIMENTS_CACHE_DIR=str(warm_cache)),
        )
        got: dict[str, list[float]] = {"mlflow": [], "cold": [], "warm": []}
        for i in range(n):
            for mode in ("mlflow", "cold", "warm") if i % 2 == 0 else ("warm", "cold", "mlflow"):
                db = folder / f"{mode}-{i}.db"
                cache = warm_cache if mode == "warm" else folder / f"cold-cache-{i}"
                _, out = timed(
                    [PYTHON, str(script), "mlflow" if mode == "mlflow" else "plugin", str(db)],
                    folder,
                    env=child_env(PYTEST_EXPERIMENTS_CACHE_DIR=str(cache)),
                )
                got[mode].append(float(out.strip().splitlines()[-1]))
        med = {k: statistics.median(v) for k, v in got.items()}
        r.add(Row("g", f"MLflow builds it (every migration; median of {n})", med["mlflow"], "s"))
        r.add(
            Row(
                "g",
                f"plugin, first store of this MLflow on the machine (median of {n})",
                med["cold"],
                "s",
                note="information: migrates once into the cache, then copies",
            )
        )
        r.add(
            Row(
                "g",
                f"plugin, template in the cache (median of {n})",
                med["warm"],
                "s",
                target="< 0.5 s",
                ok=med["warm"] < 0.5,
                note=f"{med['mlflow'] / med['warm']:.0f}x faster than MLflow's build",
            )
        )

    def part_h(self) -> None:
        """Per-case time at -n 8 with 400 trivial cases on one sqlite store."""
        r = self.results
        n = self.repeats(2, 1)
        header(f"[h] 400 trivial cases at -n 8 on one sqlite store, {n} round(s)")
        project = small_project(self.root, "n8", {"experiments/exp_400.py": TRIVIAL_400})
        git_commit(project)

        def case_times(tracking: bool) -> list[float]:
            reset_store(project)
            extra = [] if tracking else ["--exp-no-tracking"]
            timed(
                pytest_cmd(
                    "experiments/",
                    "-q",
                    "-n",
                    "8",
                    "-p",
                    "no:randomly",
                    "--junitxml",
                    "junit.xml",
                    *extra,
                ),
                project,
            )
            if tracking:
                check_store(project / "mlflow.db", 400, 0, "-n 8")
            import xml.etree.ElementTree as ET

            cases = ET.parse(project / "junit.xml").getroot().iter("testcase")
            return [float(c.get("time", "nan")) * 1000 for c in cases]

        on: list[float] = []
        off: list[float] = []
        for i in range(n):
            for tracking in (True, False) if i % 2 == 0 else (False, True):
                (on if tracking else off).extend(case_times(tracking))
        for label, values in (("--exp-no-tracking", off), ("tracking on sqlite", on)):
            values.sort()
            p95 = values[int(0.95 * (len(values) - 1))]
            row = Row(
                "h",
                f"per case, {label}: p95 (max {max(values):.0f} ms)",
                p95,
                "ms",
                note=f"{len(values)} cases; setup + call + teardown, from JUnit XML",
            )
            if label.startswith("tracking"):
                row.target, row.ok = "p95 < 100 ms", p95 < 100
            r.add(row)

    def part_i(self) -> None:
        """A study where the fits dominate: what -n 2 gains against what two
        CPU-bound processes gain on this machine in the same run."""
        r = self.results
        n = self.repeats(2, 1)
        header(f"[i] 40-case fits-dominated study, {n} round(s)")
        fits = HERE / "fits"
        project = small_project(self.root, "fits", {})
        (project / "experiments").mkdir()
        for name in ("study.py", "exp_fits.py"):
            shutil.copy2(fits / name, project / "experiments" / name)
        (project / ".gitignore").write_text("mlflow.db*\nmlruns/\n.pytest_cache/\n")
        git_commit(project)
        env = child_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        capacity_cmd = [PYTHON, str(project / "experiments" / "capacity.py")]
        shutil.copy2(fits / "capacity.py", project / "experiments" / "capacity.py")

        def plugin(workers: int, tracking: bool) -> Timing:
            reset_store(project)
            cache = project / ".pytest_cache"
            extra = [] if tracking else ["--exp-no-tracking"]
            timing, out = timed(
                pytest_cmd("experiments/", "-q", "-n", str(workers), "-p", "no:randomly", *extra),
                project,
                env=env,
            )
            if "40 passed" not in out:
                raise BenchError(f"fits study: expected 40 passed:\n{out[-2000:]}")
            if tracking:
                check_store(project / "mlflow.db", 40, 40, "fits study")
            del cache
            return timing

        def halves_together() -> Timing:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            procs = [
                subprocess.Popen([*capacity_cmd, str(k), "2"], cwd=project, env=env) for k in (0, 1)
            ]
            if any(p.wait() != 0 for p in procs):
                raise BenchError("capacity.py failed")
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            return Timing(wall, cpu)

        def mlflow_import() -> Timing:
            # What each tracking process pays once before its first case.
            code = "import mlflow, mlflow.store.tracking.sqlalchemy_store"
            timing, _ = timed([PYTHON, "-c", code], project, env=env)
            return timing

        def halves_in_turn() -> Timing:
            a, _ = timed([*capacity_cmd, "0", "2"], project, env=env)
            b, _ = timed([*capacity_cmd, "1", "2"], project, env=env)
            return Timing(a.wall + b.wall, a.cpu + b.cpu)

        # Warm-up, untimed: bytecode, page cache, and the durations that
        # longest-first scheduling reads (as a team's earlier runs would leave).
        plugin(0, False)
        steps: dict[str, Callable[[], Timing]] = {
            "in turn": halves_in_turn,
            "together": halves_together,
            "-n 0 tracked": lambda: plugin(0, True),
            "-n 2 tracked": lambda: plugin(2, True),
            "-n 0 untracked": lambda: plugin(0, False),
            "-n 2 untracked": lambda: plugin(2, False),
            "import mlflow + SQL store": mlflow_import,
        }
        got: dict[str, list[Timing]] = {k: [] for k in steps}
        for i in range(n):
            order = list(steps) if i % 2 == 0 else list(reversed(steps))
            for key in order:
                got[key].append(steps[key]())
                print(f"    {key}: {got[key][-1].wall:.2f} s", flush=True)
        m = {k: median_timing(v) for k, v in got.items()}
        for key in steps:
            r.add(Row("i", f"{key} (median of {n})", m[key].wall, "s", m[key].cpu))
        capacity = m["in turn"].wall / m["together"].wall
        r.add(
            Row(
                "i",
                "capacity: two CPU-bound processes, in turn / together",
                capacity,
                "x",
                note="what two cores give on this machine now",
            )
        )
        speedup = m["-n 0 tracked"].wall / m["-n 2 tracked"].wall
        share = speedup / capacity
        r.add(
            Row(
                "i",
                f"-n 2 over -n 0, tracked: {speedup:.2f}x, share of capacity",
                share,
                "x",
                target=">= 0.85",
                ok=share >= 0.85,
            )
        )
        xdist = m["-n 0 untracked"].wall / m["-n 2 untracked"].wall
        r.add(
            Row(
                "i",
                "-n 2 over -n 0, untracked (xdist alone)",
                xdist,
                "x",
                note=f"{xdist / capacity:.2f} of capacity",
            )
        )
        # The best a tracked -n 2 session could do: everything the untracked
        # one does (xdist's own loss included), plus tracking's work at -n 0
        # beyond the one MLflow import, spread over both cores at the machine's
        # capacity with no loss at all, plus the import that each worker pays
        # (two at once, also at capacity).
        imp = m["import mlflow + SQL store"].wall
        work = m["-n 0 tracked"].wall - m["-n 0 untracked"].wall - imp
        best = m["-n 2 untracked"].wall + (work + 2 * imp) / capacity
        best_share = m["-n 0 tracked"].wall / best / capacity
        r.add(
            Row(
                "i",
                f"bound: tracked -n 2 with lossless tracking would take {best:.1f} s, share",
                best_share,
                "x",
                note=(
                    f"untracked -n 2 + ({work:.1f} s tracking at -n 0 without the import"
                    f" + 2 x {imp:.1f} s import) / capacity"
                ),
            )
        )
        cost2 = m["-n 2 tracked"].wall / m["-n 2 untracked"].wall
        cost0 = m["-n 0 tracked"].wall / m["-n 0 untracked"].wall
        r.add(
            Row(
                "i",
                "tracked / untracked at -n 2",
                cost2,
                "x",
                target="<= 1.15x",
                ok=cost2 <= 1.15,
                note=f"-n 0: {cost0:.2f}x",
            )
        )


# -- output -----------------------------------------------------------------------


def machine() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "usable cores": str(len(os.sched_getaffinity(0)))
        if hasattr(os, "sched_getaffinity")
        else "?",
        "load average at start": load_average(),
        "os": platform.platform(),
        "niceness": str(os.getpriority(os.PRIO_PROCESS, 0)),
        "python": f"{platform.python_version()} ({PYTHON})",
    }
    for dist in (
        "pytest",
        "pytest-xdist",
        "mlflow",
        "scikit-learn",
        "pandas",
        "numpy",
        "pytest-mlflow-experiments",
    ):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = "not installed"
    return info


def header(text: str) -> None:
    """Announce a part, with the machine's load at that moment."""
    print(f"{text} (load {load_average()})", flush=True)


def load_average() -> str:
    """1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def format_value(row: Row) -> str:
    if row.unit == "x":
        return f"{row.value:.2f}x"
    if row.unit == "ms":
        return f"{row.value:.1f} ms"
    return f"{row.value:.2f} s"


def format_row(row: Row) -> str:
    cpu = f"{row.cpu:.2f} s" if row.cpu is not None else ""
    return (
        f"{row.part}  {row.what:<58} {format_value(row):>10} {cpu:>9}  "
        f"{row.target:<9} {row.verdict:<4}  {row.note}"
    ).rstrip()


def print_table(results: Results) -> None:
    print()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in results.machine.items()))
    header = f"{'':3}{'measurement':<58} {'value':>10} {'CPU':>9}  {'target':<9} {'':<4}  note"
    print(header)
    print("-" * len(header))
    for row in results.rows:
        print(format_row(row))
    for error in results.errors:
        print(f"ERROR {error}")
    verdicts = [row.ok for row in results.rows if row.ok is not None]
    print(
        f"\n{sum(1 for v in verdicts if v)} of {len(verdicts)} targets met"
        + (f", {len(results.errors)} part(s) could not run" if results.errors else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no extra rows")
    parser.add_argument("--only", default=PARTS, help="parts to run, e.g. a,c or d (default all)")
    parser.add_argument("--repeats", type=int, default=0, help="repeats per measurement")
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "out" / "results.json",
        help="where to write the results (default benchmarks/out/results.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    parser.add_argument(
        "--nice",
        type=int,
        default=None,
        metavar="N",
        help="run every measured command at niceness N (e.g. -10, as root) so that other "
        "work on a shared machine disturbs the figures less",
    )
    args = parser.parse_args(argv)
    parts = "".join(sorted({p for p in args.only.replace(",", "") if p.strip()}))
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--only takes parts among {','.join(PARTS)}, got {args.only!r}")

    if args.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        except PermissionError:
            parser.error(f"--nice {args.nice}: not permitted (a negative niceness needs root)")
    results = Results(
        machine(),
        {"parts": parts, "quick": args.quick, "repeats": args.repeats, "nice": args.nice},
    )
    print("machine: " + "; ".join(f"{k} {v}" for k, v in results.machine.items()), flush=True)
    # a plain `kill` still removes the temporary projects (and stops the running command)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="pytest-experiments-bench-"))
    bench = Bench(args, root, results)
    started = time.perf_counter()
    try:
        steps: list[tuple[str, Callable[[], None]]] = []
        if set(parts) & set("abc"):
            steps.append(("a/c", lambda: bench.study(parts)))
        if "b" in parts:
            steps.append(("b", bench.part_b))
        for part, method in (
            ("d", bench.part_d),
            ("e", bench.part_e),
            ("f", bench.part_f),
            ("g", bench.part_g),
            ("h", bench.part_h),
            ("i", bench.part_i),
        ):
            if part in parts:
                steps.append((part, method))
        for name, step in steps:
            if name == "b" and bench.n2 is None:
                results.errors.append("part b: needs the plugin -n 2 figure, which failed")
                continue
            try:
                step()
            except BenchError as exc:
                results.errors.append(f"part {name}: {exc}")
                print(f"  ERROR {exc}", flush=True)
    finally:
        if args.keep:
            print(f"temporary projects kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results.options["total_s"] = round(time.perf_counter() - started, 1)
    results.machine["load average at end"] = load_average()
    print_table(results)
    print(f"total {results.options['total_s']} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                **asdict(results),
                "rows": [{**asdict(r), "verdict": r.verdict} for r in results.rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.json}")
    if results.errors:
        return 2
    return 0 if all(r.ok for r in results.rows if r.ok is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
