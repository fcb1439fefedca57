"""Target: a brand-new sqlite store ready in under 0.5 s.

    .venv/bin/python benchmarks/new_store.py            # 5 rounds
    .venv/bin/python benchmarks/new_store.py --quick    # 3 rounds

Each a fresh process, its imports done before the clock starts: MLflow's own
build (``SqlAlchemyStore``, every migration); the plugin's with an empty
template cache (it migrates once into the cache, then copies); the plugin's
with the template cached (the target). Rounds alternate their order.
"""

from __future__ import annotations

import statistics
import sys

from _common import PYTHON, Bench, Row, child_env, header, main, timed

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


def measure(bench: Bench) -> None:
    n = bench.repeats(5, 3)
    header(f"a brand-new sqlite store, {n} round(s) of 3 fresh processes")
    folder = bench.root / "stores"
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
    bench.add(Row(f"MLflow builds it (every migration; median of {n})", med["mlflow"], "s"))
    bench.add(
        Row(
            f"plugin, first store of this MLflow on the machine (median of {n})",
            med["cold"],
            "s",
            note="information: migrates once into the cache, then copies",
        )
    )
    bench.add(
        Row(
            f"plugin, template in the cache (median of {n})",
            med["warm"],
            "s",
            target="< 0.5 s",
            ok=med["warm"] < 0.5,
            note=f"{med['mlflow'] / med['warm']:.0f}x faster than MLflow's build",
        )
    )


if __name__ == "__main__":
    sys.exit(main(__doc__, measure))
