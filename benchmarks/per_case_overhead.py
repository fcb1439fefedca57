"""Target: tracking a case costs under 10 ms at ``-n 0``, without artifacts.

    .venv/bin/python benchmarks/per_case_overhead.py            # 5 rounds
    .venv/bin/python benchmarks/per_case_overhead.py --quick    # 3 rounds

40 trivial cases (``@experiment(params={"i": range(40)})`` returning one
metric), ``-n 0``, ``--exp-no-tracking`` against tracking on a fresh sqlite
store; the same for 1 case. Per case = ((40 on - 40 off) - (1 on - 1 off)) /
39, so the one-off costs (mlflow import, store creation, experiment) cancel;
median over paired rounds. Also (information): the one-off cost, a bare
``import mlflow``, and **MLflow's own floor**: the same trivial case as three
bare ``MlflowClient`` calls (``create_run`` with no tags, ``log_batch`` of one
metric and one param, ``set_terminated``) on a WAL store the plugin built, 40
cases after 5 warm-up ones, in a fresh process.
"""

from __future__ import annotations

import statistics
import sys

from _common import (
    PYTHON,
    Bench,
    BenchError,
    Row,
    Timing,
    check_store,
    git_commit,
    header,
    main,
    median_timing,
    pytest_cmd,
    reset_store,
    small_project,
    timed,
)

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


def measure(bench: Bench) -> None:
    n = bench.repeats(5, 3)
    header(f"per-case tracking overhead, -n 0, {n} round(s) of 4 runs")
    project = small_project(
        bench.root,
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
        bench.add(Row(f"{cases:>2} trivial case(s), {label} (median of {n})", m.wall, "s", m.cpu))
    one_off = med[1, True].wall - med[1, False].wall
    bench.add(
        Row(
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
    bench.add(
        Row(
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
    bench.add(
        Row(
            "MLflow's floor: create_run + log_batch + set_terminated, bare client",
            statistics.median(floors),
            "ms",
            note=f"information: per case, same WAL store, no tags (median of {n})",
        )
    )
    imports = [timed([PYTHON, "-c", "import mlflow"], project)[0] for _ in range(n)]
    bare = median_timing([timed([PYTHON, "-c", "pass"], project)[0] for _ in range(n)])
    bench.add(
        Row(
            "`import mlflow` alone, fresh process",
            (median_timing(imports).wall - bare.wall) * 1000,
            "ms",
            note="information",
        )
    )


if __name__ == "__main__":
    sys.exit(main(__doc__, measure))
