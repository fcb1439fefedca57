"""Target: the heart study at ``-n 2`` with every run and model tracked is at
least 5x faster than the hand-written MLflow loop with ``log_model``.

    .venv/bin/python benchmarks/vs_handwritten.py              # the loop alone 76 to 108 s
    .venv/bin/python benchmarks/vs_handwritten.py --study      # and -n 0, untracked, fits alone
    .venv/bin/python benchmarks/vs_handwritten.py --quick --experiments 1   # 5 cases, a smoke run

**The plugin**: the heart study (``experiments/``, ``conftest.py``, ``data/``
copied into a temporary git repository with a bare ``pytest.ini``, at
``repeats=1`` and without baselines, so that it fits each case once like the
loop) through ``pytest experiments/ -n 2 --exp-report report.md`` on a fresh
sqlite store (median of 3); every run and model must be in the store.

**The loop** (``heart_plain/handwritten.py``): the same fits logged the usual
way: ``mlflow.start_run``, ``log_params``, fit,
``mlflow.sklearn.log_model(model, name="model",
serialization_format="cloudpickle")`` (the default skops format refuses tree
ensembles; requirement inference left on, as by default), ``log_metric`` per
metric; fresh sqlite store. Full runs also time it without models.

``--study`` adds information rows (their targets, 1.7x and 1.3x, are
retired): the plugin at ``-n 0`` and the speed-up of ``-n 2`` over it, a
second session on the store just made, both with ``--exp-no-tracking`` (what
xdist alone makes of the study), and the fits alone with no MLflow at all
(``heart_plain/fits_only.py``) against the plugin at ``-n 2``. Measurements
alternate their order from round to round.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable

from _common import (
    HERE,
    PYTHON,
    REPO,
    Bench,
    BenchError,
    Row,
    Timing,
    check_store,
    header,
    heart_project,
    main,
    median_timing,
    pytest_cmd,
    reset_store,
    timed,
)

FILES = (
    "exp_001_logistic_regression.py",
    "exp_002_random_forest.py",
    "exp_003_gradient_boosting.py",
)
PLAIN = HERE / "heart_plain"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--study", action="store_true", help="also -n 0, a second session, untracked, fits alone"
    )
    parser.add_argument(
        "--experiments",
        type=int,
        default=3,
        choices=(1, 2, 3),
        help="the first N experiment files of the study (5 cases each; default 3)",
    )


class Study:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.experiments: int = bench.args.experiments
        self.cases = 5 * self.experiments
        # One repeat per case: the hand-written loop and the fits alone fit
        # each case once, and so must the plugin for their ratios to compare
        # the same work.
        self.project = heart_project(bench.root, repeats=1, files=FILES[: self.experiments])
        # warm-up, not timed: compile the plugin and experiment files, fill the page cache
        timed(pytest_cmd("-q", "--collect-only", "-p", "no:randomly"), self.project)
        timed([PYTHON, "-c", "import mlflow.sklearn, sklearn.ensemble, pandas"], self.project)

    def plugin(self, workers: int, fresh: bool = True, tracking: bool = True) -> Timing:
        """The study through the plugin on a fresh store (or, with ``fresh=False``,
        a second session on the store the previous run left; with ``tracking=False``,
        ``--exp-no-tracking``: what xdist alone makes of the study)."""
        project = self.project
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
            if f"{self.cases} passed" not in out or (project / "mlflow.db").exists():
                raise BenchError(f"plugin -n {workers} --exp-no-tracking:\n{out[-2000:]}")
        else:
            expected = self.cases if fresh else 2 * self.cases
            check_store(project / "mlflow.db", expected, expected, f"plugin -n {workers}")
        if not (project / "report.md").exists():
            raise BenchError(f"plugin -n {workers}: no report.md written")
        return timing

    def fits_only(self) -> Timing:
        timing, out = timed(
            [
                PYTHON,
                str(PLAIN / "fits_only.py"),
                "--data",
                str(REPO / "data" / "heart.csv"),
                "--experiments",
                str(self.experiments),
            ],
            self.bench.root,
        )
        if f"{self.cases} cases" not in out:
            raise BenchError(f"fits_only.py did not run {self.cases} cases:\n{out}")
        return timing

    def handwritten(self, models: bool) -> Timing:
        folder = self.bench.root / ("hand" if models else "hand-nomodels")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        db = folder / "mlflow.db"
        cmd = [PYTHON, str(PLAIN / "handwritten.py"), "--tracking-uri", f"sqlite:///{db}"]
        cmd += ["--experiments", str(self.experiments)]
        timing, _ = timed(cmd if models else [*cmd, "--no-models"], folder)
        check_store(db, self.cases, self.cases if models else 0, "handwritten.py")
        return timing


def measure(bench: Bench) -> None:
    study = Study(bench)
    n = bench.repeats(3, 1)
    also = bool(bench.args.study)
    existing = also and not bench.quick
    n0: list[Timing] = []
    n2: list[Timing] = []
    fits: list[Timing] = []
    again0: list[Timing] = []
    again2: list[Timing] = []
    off0: list[Timing] = []
    off2: list[Timing] = []
    header(
        f"heart study ({study.cases} cases), {n} round(s): plugin -n 2"
        + (", -n 0, untracked, fits alone" if also else "")
    )
    Step = tuple[list[Timing], Callable[[], Timing]]
    groups: list[list[Step]] = [[(n2, lambda: study.plugin(2))]]
    if existing:
        groups[0].append((again2, lambda: study.plugin(2, fresh=False)))
    if also:
        groups.append([(n0, lambda: study.plugin(0))])
        if existing:
            groups[-1].append((again0, lambda: study.plugin(0, fresh=False)))
        groups.append(
            [
                (off0, lambda: study.plugin(0, tracking=False)),
                (off2, lambda: study.plugin(2, tracking=False)),
            ]
        )
        groups.append([(fits, study.fits_only)])
    for i in range(n):
        # alternate the order so that drift in machine load hits all alike; a
        # second session always runs right after the fresh one that made its store
        for group in groups if i % 2 == 0 else groups[::-1]:
            for bucket, step in group:
                bucket.append(step())
        labels = (
            ("-n 0", n0),
            ("-n 2", n2),
            ("fits", fits),
            ("-n 0 again", again0),
            ("-n 2 again", again2),
            ("-n 0 untracked", off0),
            ("-n 2 untracked", off2),
        )
        shown = ", ".join(f"{label} {b[-1].wall:.2f}s" for label, b in labels if b)
        print(f"  round {i + 1}: {shown}", flush=True)
    runs = f"{study.cases} runs + models"
    m2 = median_timing(n2)
    bench.add(Row(f"plugin -n 2, {runs} (median of {n})", m2.wall, "s", m2.cpu))
    if also:
        study_rows(bench, n, runs, m2, n0, again0, again2, off0, off2, fits)

    header("hand-written MLflow loop (one run each; ~70 s with models)")
    hand = study.handwritten(models=True)
    bench.add(Row("hand-written loop, log_model as usual", hand.wall, "s", hand.cpu))
    if not bench.quick:
        bare = study.handwritten(models=False)
        bench.add(
            Row(
                "hand-written loop, params + metrics only",
                bare.wall,
                "s",
                bare.cpu,
                note="information: no models",
            )
        )
    ratio = hand.wall / m2.wall
    bench.add(Row("hand-written (models) / plugin -n 2", ratio, "x", target=">= 5x", ok=ratio >= 5))


def study_rows(
    bench: Bench,
    n: int,
    runs: str,
    m2: Timing,
    n0: list[Timing],
    again0: list[Timing],
    again2: list[Timing],
    off0: list[Timing],
    off2: list[Timing],
    fits: list[Timing],
) -> None:
    """The information rows of ``--study``."""
    m0 = median_timing(n0)
    bench.add(Row(f"plugin -n 0, {runs} (median of {n})", m0.wall, "s", m0.cpu))
    bench.add(
        Row(
            "speed-up of -n 2 over -n 0",
            m0.wall / m2.wall,
            "x",
            note="information: the 1.7x target was retired (issue 17, see parallel_speedup.py)",
        )
    )
    if again0:
        e0, e2 = median_timing(again0), median_timing(again2)
        note = "information: second session, store exists"
        bench.add(
            Row(f"plugin -n 0, existing store (median of {n})", e0.wall, "s", e0.cpu, note=note)
        )
        bench.add(
            Row(f"plugin -n 2, existing store (median of {n})", e2.wall, "s", e2.cpu, note=note)
        )
        bench.add(
            Row(
                "speed-up of -n 2 over -n 0, existing store",
                e0.wall / e2.wall,
                "x",
                note="information",
            )
        )
    u0, u2 = median_timing(off0), median_timing(off2)
    bench.add(Row(f"plugin -n 0, no tracking (median of {n})", u0.wall, "s", u0.cpu))
    bench.add(Row(f"plugin -n 2, no tracking (median of {n})", u2.wall, "s", u2.cpu))
    bench.add(
        Row(
            "speed-up of -n 2 over -n 0, no tracking",
            u0.wall / u2.wall,
            "x",
            note="information: --exp-no-tracking, what xdist alone gives",
        )
    )
    mf = median_timing(fits)
    bench.add(Row(f"fits alone, one script (median of {n})", mf.wall, "s", mf.cpu))
    bench.add(
        Row(
            "plugin -n 2 / fits alone",
            m2.wall / mf.wall,
            "x",
            note="information (retired target)",
        )
    )


if __name__ == "__main__":
    sys.exit(main(__doc__, measure, add_arguments))
