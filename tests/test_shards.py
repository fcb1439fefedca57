"""Shards of one study run at the same time by separate pytest processes
(pytest-split, each under xdist) against a real ``mlflow server`` backed by
a real PostgreSQL, then ``--exp-merge``: one report for the whole group.

Skipped, with the reason, only where PostgreSQL or psycopg2 is not installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _postgres import needs_postgres, postgres_mlflow_server
from _server import MlflowServer, assert_no_traceback
from _shards import (
    DRIFTING,
    assert_same_results,
    count_by_nodeid,
    environment,
    outcomes,
    processes,
    run,
    write_study,
)

from devtools.runs import group_runs

pytestmark = [pytest.mark.slow, needs_postgres]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """PostgreSQL and an mlflow server on it, for this module (startup is slow)."""
    with postgres_mlflow_server(tmp_path_factory.mktemp("pg-mlflow")) as running:
        yield running
    assert running.proc is not None and running.proc.poll() is not None


def test_three_shards_at_once_against_postgresql_merge_into_one_sessions_report(
    server: MlflowServer, tmp_path: Path
) -> None:
    """Three pytest-split shards, each with 2 xdist workers, write to the
    PostgreSQL-backed server at the same time (with a session running the
    whole study beside them, untracked): no run is lost or duplicated, and
    the merge reports every case once, as that session did, with its exit
    status. Then the shard holding exp_grid[k=5] runs again with a drift,
    as a CI re-run of one job would (same group): its latest runs win, the
    case regressed against its baseline file, and the merge fails."""
    root = tmp_path / "study"
    nodeids = write_study(root, grid=16)
    group = f"gh-{uuid.uuid4().hex[:12]}"
    env = environment()
    tracked = ["--exp-tracking-uri", server.uri, "--exp-session-group", group]
    with processes() as started:
        for split in (1, 2, 3):
            started.start(
                root, "-n", "2", "--splits", "3", "--group", str(split), *tracked,
                "--exp-json", f"shard{split}.json", env=env,
            )  # fmt: skip
        started.start(root, "-p", "no:xdist", "--exp-no-tracking", "--exp-json", "single.json")
        *shards, single = started.wait()
    for shard in shards:
        assert shard.returncode == 0, shard.output
        assert_no_traceback(shard.output)
    assert single.returncode == 0, single.output

    # Each case ran in exactly one shard, and has exactly one run, finished.
    parts = [outcomes(root / f"shard{shard}.json") for shard in (1, 2, 3)]
    assert sorted(n for part in parts for n in part) == sorted(nodeids)
    runs = group_runs(server.uri, group)
    assert count_by_nodeid(runs) == dict.fromkeys(nodeids, 1)
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["pytest.session"] for r in runs}) == 3

    merge = run(
        root, "--exp-merge", group, "--exp-tracking-uri", server.uri,
        "--exp-json", "merged.json", "--exp-report", "merged.md", env=env,
    )  # fmt: skip
    assert merge.returncode == 0, merge.output
    assert_no_traceback(merge.output)
    assert_same_results(root / "merged.json", root / "single.json")
    report = (root / "merged.md").read_text(encoding="utf-8")
    assert f"({server.uri}/#/experiments/" in report  # every case links to its run
    assert f"Merged: session group {group}, {len(nodeids)} runs of 3 sessions" in report

    # One shard again, with a regression, in the same group.
    drifting = next(i for i, part in enumerate(parts, 1) if DRIFTING in part)
    rerun = run(
        root, "-p", "no:xdist", "--splits", "3", "--group", str(drifting), *tracked,
        env={**env, "STUDY_DRIFT": "0.05"},
    )  # fmt: skip
    assert rerun.returncode == 1, rerun.output
    merge = run(
        root, "--exp-merge", group, "--exp-tracking-uri", server.uri,
        "--exp-json", "merged.json", env=env,
    )  # fmt: skip
    assert merge.returncode == 1, merge.output
    merged = outcomes(root / "merged.json")
    assert merged[DRIFTING] == "regressed"
    assert {n: o for n, o in merged.items() if n != DRIFTING} == {
        n: o for n, o in outcomes(root / "single.json").items() if n != DRIFTING
    }
    counts = count_by_nodeid(group_runs(server.uri, group))
    assert counts == {n: 2 if n in parts[drifting - 1] else 1 for n in nodeids}
    assert f"{len(nodeids)} cases from {len(nodeids)} runs of 3 sessions" in merge.output
