"""What the benchmark scripts share; each script imports this module and
nothing else of the repository but the plugin (never ``tests/``; what the
tests share with the benchmarks is in ``devtools/``, at the repository's
root, which this module puts on ``sys.path``).

- **measuring**: :func:`timed` runs a command in a fresh process from a clean
  environment (:func:`child_env`) and gives its wall and CPU time;
- **a script's frame**: :func:`main` parses the options every script takes
  (``--quick``, ``--repeats``, ``--keep``, ``--nice``, ``--json``), makes a
  temporary folder, calls the script's ``measure(bench)``, which adds
  :class:`Row` s (a figure, its target and verdict), then prints the table,
  writes it as JSON (``benchmarks/out/<script>.json``) and returns the exit
  status: 0 every target met, 1 one missed, 2 something did not run as it should;
- **temporary projects**: a git repository holding a copy of the heart study
  (:func:`heart_project`) or a few generated files (:func:`small_project`),
  and checks of the sqlite store a session left (:func:`check_store`);
- **synthetic MLflow stores**: :func:`fill` writes groups of FINISHED case
  runs in one transaction with MLflow's own table definitions (for
  ``--exp-merge`` and ``--exp-compare``);
- **servers**: a real ``mlflow server`` on a sqlite file
  (:func:`running_server`) or on a real PostgreSQL
  (:func:`postgres_mlflow_server`), started by ``devtools.servers`` (which
  the tests use too) as a plain subprocess in a clean environment.

Every project lives in a temporary folder: the repository's own
``mlflow.db`` is never touched.
"""

from __future__ import annotations

import argparse
import contextlib
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
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable

# devtools/ is a folder at the repository's root, not installed: after the
# script's own folder, before site-packages.
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))
from devtools import servers  # noqa: E402
from devtools.runs import group_runs as group_runs  # noqa: E402
from devtools.servers import MlflowServer, ServerError  # noqa: E402
from devtools.servers import postgres_missing as postgres_missing  # noqa: E402


class BenchError(RuntimeError):
    """A measured command did not do what it should (so its time means nothing)."""


def require(condition: object, message: str) -> None:
    """Raise :class:`BenchError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise BenchError(message)


# -- measuring ------------------------------------------------------------------


@dataclass
class Timing:
    wall: float  # seconds, wall clock of the whole command
    cpu: float  # seconds, user + sys of the command and every process it waited for
    status: int = 0  # the command's exit status


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every measured command: nothing that steers MLflow,
    pytest or a CI report from outside, and bytecode caching on (as on a
    normal machine; a sandbox that sets PYTHONDONTWRITEBYTECODE would make
    every start-up recompile the plugin)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "PYTEST_", "GITHUB_")) and k != "CI"
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
    ok_codes: tuple[int, ...] | None = (0,),
    timeout: float | None = None,
) -> tuple[Timing, str]:
    """Run ``cmd`` in a fresh process; its wall and CPU time and its output
    (stdout and stderr together). An exit status outside ``ok_codes`` raises
    :class:`BenchError` (``ok_codes=None``: any status will do)."""
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
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if ok_codes is not None and proc.returncode not in ok_codes:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise BenchError(f"`{' '.join(cmd)}` in {cwd} exited {proc.returncode}:\n{tail}")
    return Timing(wall, cpu, proc.returncode), proc.stdout


def pytest_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "pytest", *args]


def median_timing(timings: Sequence[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% interval (normal approximation)."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, 1.96 * statistics.stdev(values) / len(values) ** 0.5


def load_average() -> str:
    """1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header(text: str) -> None:
    """Announce a step, with the machine's load at that moment."""
    print(f"{text} (load {load_average()})", flush=True)


# -- results --------------------------------------------------------------------


@dataclass
class Row:
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
    script: str
    machine: dict[str, str]
    options: dict[str, object]
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {format_row(row)}", flush=True)
        return row


def format_value(row: Row) -> str:
    if row.unit == "x":
        return f"{row.value:.2f}x"
    if row.unit == "ms":
        return f"{row.value:.1f} ms"
    return f"{row.value:.2f} s"


def format_row(row: Row) -> str:
    cpu = f"{row.cpu:.2f} s" if row.cpu is not None else ""
    return (
        f"{row.what:<60} {format_value(row):>10} {cpu:>9}  "
        f"{row.target:<9} {row.verdict:<4}  {row.note}"
    ).rstrip()


def print_table(results: Results) -> None:
    print()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in results.machine.items()))
    title = f"{'measurement':<60} {'value':>10} {'CPU':>9}  {'target':<9} {'':<4}  note"
    print(title)
    print("-" * len(title))
    for row in results.rows:
        print(format_row(row))
    for error in results.errors:
        print(f"ERROR {error}")
    verdicts = [row.ok for row in results.rows if row.ok is not None]
    print(
        f"\n{results.script}: {sum(1 for v in verdicts if v)} of {len(verdicts)} targets met"
        + (f", {len(results.errors)} error(s)" if results.errors else "")
    )


def machine() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "date": time.strftime("%Y-%m-%d"),
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


# -- a script's frame -------------------------------------------------------------


@dataclass
class Bench:
    """What a script's ``measure`` gets: its options, a temporary folder
    (removed afterwards unless ``--keep``) and the results to add rows to."""

    args: argparse.Namespace
    root: Path
    results: Results

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    def repeats(self, full: int, quick: int) -> int:
        """Rounds of a measurement: ``--repeats``, else ``quick`` with
        ``--quick``, else ``full``."""
        n: int = self.args.repeats or (quick if self.quick else full)
        return n

    def add(self, row: Row) -> Row:
        return self.results.add(row)


def main(
    doc: str,
    measure: Callable[[Bench], None],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Run one benchmark script: parse its options, ``measure``, print and
    write the table; returns the exit status (0 met, 1 missed, 2 errors)."""
    module = sys.modules[measure.__module__]
    script = Path(module.__file__ or "bench").stem
    parser = argparse.ArgumentParser(
        prog=f"benchmarks/{script}.py",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds, a smaller workload")
    parser.add_argument("--repeats", type=int, default=0, help="rounds of each measurement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    parser.add_argument(
        "--nice",
        type=int,
        default=None,
        metavar="N",
        help="run at niceness N (e.g. -10, as root) so that other work on a shared "
        "machine disturbs the figures less",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "out" / f"{script}.json",
        help=f"where to write the results (default benchmarks/out/{script}.json)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        except PermissionError:
            parser.error(f"--nice {args.nice}: not permitted (a negative niceness needs root)")
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = Results(script, machine(), options)
    print(f"{script}: " + "; ".join(f"{k} {v}" for k, v in results.machine.items()), flush=True)
    # a plain `kill` still removes the temporary projects (and stops the running command)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix=f"bench-{script}-"))
    started = time.perf_counter()
    try:
        measure(Bench(args, root, results))
    except (BenchError, ServerError) as exc:
        results.errors.append(str(exc))
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
    document = {
        **asdict(results),
        "rows": [{**asdict(r), "verdict": r.verdict} for r in results.rows],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.json}")
    if results.errors:
        return 2
    return 0 if all(r.ok for r in results.rows if r.ok is not None) else 1


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


def heart_project(root: Path, repeats: int | None = None, files: Sequence[str] = ()) -> Path:
    """A copy of the heart study (experiments/, conftest.py, data/) with its own
    ini, in a git repository; ``files``: only these experiment files. With
    ``repeats``, each experiment's ``repeats=`` set to it (the study itself
    has ``repeats=8``) and no baselines (they hold 8 samples a case; one
    sample against them is the noisy single-number comparison the gate's
    repeats exist to avoid)."""
    project = root / "heart"
    project.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "experiments", project / "experiments", ignore=skip)
    if files:
        for path in (project / "experiments").glob("exp_*.py"):
            if path.name not in files:
                path.unlink()
                for baseline in (project / "experiments" / "baselines").glob(f"{path.stem}.*"):
                    baseline.unlink()
    if repeats:
        for path in (project / "experiments").glob("exp_*.py"):
            text, count = re.subn(r"\brepeats=\d+", f"repeats={repeats}", path.read_text())
            require(count == 1, f"{path.name}: expected one repeats= to set, found {count}")
            path.write_text(text)
        shutil.rmtree(project / "experiments" / "baselines")
    shutil.copytree(REPO / "data", project / "data", ignore=skip)
    shutil.copy2(REPO / "conftest.py", project / "conftest.py")
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / ".gitignore").write_text("mlflow.db\nmlruns/\nreport.md\n.pytest_cache/\n")
    git_commit(project)
    return project


def small_project(root: Path, name: str, files: dict[str, str]) -> Path:
    """A folder ``name`` under ``root`` with a bare pytest.ini and ``files``."""
    project = root / name
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    for rel, text in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
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
    """The sqlite store holds ``runs`` case runs, all FINISHED, and ``models``
    logged models."""
    require(db.exists(), f"{where}: no store at {db}")
    with sqlite3.connect(db) as con:
        (finished,) = con.execute(
            "select count(*) from runs where status = 'FINISHED' and lifecycle_stage = 'active'"
            + CASE_RUNS
        ).fetchone()
        (total,) = con.execute("select count(*) from runs where 1 = 1" + CASE_RUNS).fetchone()
    found = len(list(db.parent.glob("mlruns/**/MLmodel")))
    require(
        finished == runs and total == runs and found == models,
        f"{where}: expected {runs} finished runs and {models} models, found "
        f"{finished} finished of {total} runs and {found} models",
    )


def junit_seconds(path: Path) -> list[float]:
    """Each test case's time (setup, call and teardown) from a JUnit XML file."""
    import xml.etree.ElementTree as ET

    return [float(case.get("time", "nan")) for case in ET.parse(path).iter("testcase")]


# -- synthetic MLflow stores --------------------------------------------------------

#: The experiment file of a synthetic store's runs (format with ``cases``).
BENCH_FILE = """from pytest_experiments import experiment


@experiment(params={{"i": list(range({cases}))}}, expect={{"score": ">= 0"}})
def exp_bench(i):
    return {{"score": i / {cases}}}
"""


def fill(store_uri: str, experiment_id: str, groups: int, cases: int) -> None:
    """Write ``groups`` x ``cases`` FINISHED runs of ``BENCH_FILE`` in one
    transaction, with MLflow's own table definitions (logging them one by
    one through the client takes ~80 ms a run on the 2-core machine): session
    group ``bench-<g>`` holds one run per case ``exp_bench[i=<i>]``, with the
    tags, params and metric a case run of the plugin carries; the score of
    case i in group g is i / cases + g."""
    import sqlalchemy as sa
    from mlflow.store.tracking.dbmodels import models

    now = int(time.time() * 1000) - 3_600_000
    runs, tags, params, metrics, latest = [], [], [], [], []
    versions = {
        "lib.mlflow": "3.17.2",
        "lib.numpy": "2.4.6",
        "lib.pandas": "3.1.1",
        "lib.pytest": "9.2.0",
        "lib.pytest-xdist": "3.8.0",
        "lib.scikit-learn": "1.9.1",
    }
    for g in range(groups):
        group = f"bench-{g}"
        session = uuid.uuid4().hex
        for i in range(cases):
            run_id = uuid.uuid4().hex
            start = now + g * 60_000 + i * 10
            nodeid = f"exp_001_bench.py::exp_bench[i={i}]"
            runs.append(
                {
                    "run_uuid": run_id,
                    "name": f"exp_bench[i={i}]",
                    "source_type": "LOCAL",
                    "source_name": "exp_001_bench.py",
                    "entry_point_name": "",
                    "user_id": "bench",
                    "status": "FINISHED",
                    "start_time": start,
                    "end_time": start + 7,
                    "source_version": "",
                    "lifecycle_stage": "active",
                    "artifact_uri": f"/tmp/bench-artifacts/{run_id}",
                    "experiment_id": int(experiment_id),
                }
            )
            values = {
                "pytest.session": session,
                "experiments.session_group": group,
                "pytest.controller": f"bench-host:{1000 + g}",
                "pytest.machine": "boot:4026531836",
                "host": "bench-host",
                "python.version": "3.11.7",
                "git.commit": "0" * 40,
                "mlflow.source.git.commit": "0" * 40,
                "git.dirty": "false",
                "git.branch": "main",
                "data.fingerprint": "f" * 64,
                **versions,
                "pytest.nodeid": nodeid,
                "mlflow.source.name": "exp_001_bench.py",
                "mlflow.runName": f"exp_bench[i={i}]",
                "mlflow.user": "bench",
                "outcome": "passed",
                "experiments.metrics": '["score"]',
                "experiments.duration": "0.0004",
            }
            tags += [{"key": k, "value": v, "run_uuid": run_id} for k, v in values.items()]
            params += [
                {"key": "i", "value": str(i), "run_uuid": run_id},
                {"key": "seed", "value": "42", "run_uuid": run_id},
            ]
            metric = {"key": "score", "value": i / cases + g, "timestamp": start, "step": 0}
            metric.update(is_nan=False, run_uuid=run_id)
            metrics.append(metric)
            latest.append(dict(metric))
    engine = sa.create_engine(store_uri)
    with engine.begin() as connection:
        for model, rows in (
            (models.SqlRun, runs),
            (models.SqlTag, tags),
            (models.SqlParam, params),
            (models.SqlMetric, metrics),
            (models.SqlLatestMetric, latest),
        ):
            connection.execute(sa.insert(model.__table__), rows)
    engine.dispose()


def check_filled(uri: str, cases: int) -> None:
    """The runs :func:`fill` wrote read back through MlflowClient as runs of
    the plugin would (those of group ``bench-1``)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name("exp_001_bench")
    require(found is not None, f"{uri}: no experiment exp_001_bench")
    assert found is not None
    page = client.search_runs(
        [found.experiment_id], "tags.`experiments.session_group` = 'bench-1'", max_results=2000
    )
    require(len(page) == cases, f"{uri}: {len(page)} runs in group bench-1, expected {cases}")
    run = page[0]
    require(
        run.data.metrics["score"] >= 1 and run.info.status == "FINISHED",
        f"{uri}: a run of group bench-1 reads back wrong",
    )


def synthetic_project(folder: Path, groups: int, cases: int) -> tuple[Path, str]:
    """A project holding ``BENCH_FILE`` and a sqlite store filled with
    :func:`fill` (checked); returns the project and the store's URI."""
    from mlflow.tracking import MlflowClient

    from pytest_experiments import sqlite_store

    root = small_project(folder.parent, folder.name, {})
    (root / "exp_001_bench.py").write_text(BENCH_FILE.format(cases=cases))
    db = root / "mlflow.db"
    sqlite_store.create(db, (root / "mlruns").as_uri())
    uri = f"sqlite:///{db}"
    exp_id = MlflowClient(uri).create_experiment("exp_001_bench")
    start = time.perf_counter()
    fill(uri, exp_id, groups, cases)
    print(f"sqlite store: {groups * cases} runs written in {time.perf_counter() - start:.1f} s")
    check_filled(uri, cases)
    return root, uri


# -- servers ----------------------------------------------------------------------


@contextlib.contextmanager
def running_server(folder: Path, backend_uri: str) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` on the store at ``backend_uri``, in a clean
    environment (:func:`child_env`) like every command measured."""
    server = MlflowServer(folder, backend_uri, env=child_env())
    try:
        yield server.start(timeout=180.0)
    finally:
        server.stop()


def postgres_mlflow_server(folder: Path) -> contextlib.AbstractContextManager[MlflowServer]:
    """PostgreSQL (fsync on, as a real server) and a real ``mlflow server``
    on a database in it, as :func:`running_server` starts one; both stopped
    on exit. The server's ``backend_uri`` is the database's URI."""
    return servers.postgres_mlflow_server(
        lambda uri: MlflowServer(folder, uri, env=child_env()), durable=True
    )
