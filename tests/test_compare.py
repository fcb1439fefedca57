"""``--exp-compare A B``: sessions of a study judged against each other by
real pytest processes over a real sqlite store (and a real ``mlflow server``).

The study has a noisy grid with repeats (the paired t-test over the seeds
both sessions ran: the seed moves both alike, each version's fit adds its
own noise) and a deterministic classifier that logs its predictions (the
paired test over test examples); ``COMPARE_DROP`` lowers the metrics of some
cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _server import (
    assert_no_traceback,
    copy_store,
    results_by_case,
    running_server,
    store_template,
    write,
)
from _shards import Finished, environment, processes, run

STUDY = """
    import os

    import numpy as np
    from pytest_experiments import experiment

    DROP = float(os.environ.get("COMPARE_DROP", "0"))


    @experiment(
        params={"k": [1, 2, 3, 4]},
        expect={"score": ">= 0.05"},
        tolerance={"score": 0.01},
        repeats=5,
    )
    def exp_noisy(k, seed):
        noise = np.random.default_rng(seed).normal(0, 0.002)
        fit = np.random.default_rng([seed, round(DROP * 1000)]).normal(0, 0.001)
        return {"score": k / 10 + noise + fit - (DROP if k >= 3 else 0.0)}


    @experiment(params={"flip": [0, 1]})
    def exp_det(flip, experiment_run):
        rng = np.random.default_rng(7 + flip)
        y = rng.integers(0, 2, 1000)
        pred = np.where(rng.random(1000) < 0.9, y, 1 - y)
        if flip and DROP:
            right = np.flatnonzero(pred == y)[: int(DROP * 1000)]
            pred[right] = 1 - pred[right]
        experiment_run.log_predictions(y, pred)
        return {"accuracy": float(np.mean(pred == y))}
"""

NOISY = [f"exp_001_study.py::exp_noisy[k={k}]" for k in (1, 2, 3, 4)]
DET = [f"exp_001_study.py::exp_det[flip={f}]" for f in (0, 1)]
#: The cases COMPARE_DROP lowers.
DROPPED = {NOISY[2], NOISY[3], DET[1]}


def outcomes(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {r["nodeid"]: r["outcome"] for r in data["results"]}


def by_nodeid(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {r["nodeid"]: r for r in data["results"]}


def sessions(root: Path, uri: str | None = None) -> None:
    """S1 (accepted as the baseline files), then at once S2 (the drop) and
    S3 (the noisy cases k=1 and k=2 only), each its own session group."""
    extra = ["--exp-tracking-uri", uri] if uri else []
    env = environment()
    first = run(
        root, "-p", "no:xdist", *extra, "--exp-session-group", "S1", "--exp-update-baseline",
        "--exp-json", "s1.json", env=env,
    )  # fmt: skip
    assert first.returncode == 0, first.output
    with processes() as group:
        group.start(
            root, "-p", "no:xdist", *extra, "--exp-session-group", "S2", "--exp-json", "s2.json",
            env=environment(COMPARE_DROP="0.05"),
        )  # fmt: skip
        group.start(
            root, "-p", "no:xdist", *extra, "--exp-session-group", "S3", *NOISY[:2],
            "--exp-json", "s3.json", env=env,
        )  # fmt: skip
        second, third = group.wait()
    assert second.returncode == 1, second.output  # regressed against the baseline files
    assert third.returncode == 0, third.output


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare") / "study"
    write(root, "pytest.ini", "[pytest]\n")
    write(root, "exp_001_study.py", STUDY)
    copy_store(store_template(tmp_path_factory), root / "mlflow.db")
    sessions(root)
    return root


def compare(root: Path, *args: str) -> Finished:
    done = run(root, "--exp-compare", *args, env=environment())
    assert_no_traceback(done.output)
    return done


def test_a_drop_between_two_sessions_fails_the_comparison(study: Path) -> None:
    """S2 against S1: the dropped cases regress (paired t-test over the
    repeats' seeds, paired test over the predictions), with deltas of S2's
    means against S1's; the report and JSON say it is S2 against S1."""
    done = compare(study, "S1", "S2", "--exp-json", "c12.json", "--exp-report", "c12.md")
    assert done.returncode == 1, done.output
    got = outcomes(study / "c12.json")
    assert list(got) == NOISY + DET
    assert {n for n, o in got.items() if o == "regressed"} == DROPPED, got
    assert {n for n, o in got.items() if o == "passed"} == set(got) - DROPPED, got
    a, b, c = (
        by_nodeid(study / "s1.json"),
        by_nodeid(study / "s2.json"),
        by_nodeid(study / "c12.json"),
    )
    for nodeid in NOISY + DET:
        metric = "score" if "noisy" in nodeid else "accuracy"
        comparison = c[nodeid]["comparisons"][metric]
        assert comparison["baseline"] == pytest.approx(a[nodeid]["metrics"][metric])
        assert comparison["current"] == pytest.approx(b[nodeid]["metrics"][metric])
        assert c[nodeid]["run_id"] == b[nodeid]["run_id"]
    noisy = c[NOISY[3]]["comparisons"]["score"]
    assert noisy["baseline_n"] == noisy["current_n"] == 5
    assert (noisy["test"], noisy["noise"]) == ("paired t", "5 paired seeds")
    assert c[DET[1]]["comparisons"]["accuracy"]["noise"] == "test examples"  # the paired test
    session = json.loads((study / "c12.json").read_text(encoding="utf-8"))["session"]
    assert session["merged"]["group"] == "S2"
    assert session["merged"]["against"] == {"group": "S1", "matched": "session group", "runs": 6}
    report = (study / "c12.md").read_text(encoding="utf-8")
    assert "Compared: session group S2 (B, 6 runs of 1 session) against session group S1" in report
    assert "regressed" in report
    assert list((study / "c12_files").glob("*.png")), "no plot of B against A"
    assert "against session group 'S1' as the baseline" in done.output


def test_a_session_against_itself_passes_whatever_its_own_baseline_said(study: Path) -> None:
    """S2 regressed against the baseline files when it ran; against itself
    every comparison is the same, under -n 2 too (no worker starts)."""
    assert set(outcomes(study / "s2.json").values()) >= {"regressed"}
    done = compare(study, "S2", "S2", "--exp-json", "c22.json", "-n", "2")
    assert done.returncode == 0, done.output
    assert set(outcomes(study / "c22.json").values()) == {"passed"}


def test_the_committed_baseline_files_as_side_a(study: Path) -> None:
    with processes() as group:
        group.start(study, "--exp-compare", "baseline", "S2", "--exp-json", "cb2.json",
                    "--exp-report", "cb2.md")  # fmt: skip
        group.start(study, "--exp-compare", "baseline", "S1", "--exp-json", "cb1.json")
        against_drop, against_same = group.wait()
    assert against_drop.returncode == 1, against_drop.output
    got = outcomes(study / "cb2.json")
    assert {n for n, o in got.items() if o == "regressed"} == DROPPED, got
    assert by_nodeid(study / "cb2.json")[DET[1]]["comparisons"]["accuracy"]["noise"] == (
        "test examples"  # the sidecar's predictions against the run's
    )
    assert "against the committed baseline files (A)" in (study / "cb2.md").read_text()
    assert against_same.returncode == 0, against_same.output
    assert set(outcomes(study / "cb1.json").values()) == {"passed"}


def test_a_case_with_no_run_on_one_side_is_missing_and_says_which(study: Path) -> None:
    """S3 ran only k=1 and k=2: as side A or as side B, the other cases are
    missing (naming the side), and the comparison fails."""
    with processes() as group:
        group.start(study, "--exp-compare", "S3", "S1", "--exp-json", "c31.json")
        group.start(study, "--exp-compare", "S1", "S3", "--exp-json", "c13.json")
        a_lacks, b_lacks = group.wait()
    ran = set(NOISY[:2])
    for done, path, side in ((a_lacks, "c31.json", "side A"), (b_lacks, "c13.json", "side B")):
        assert done.returncode == 1, done.output
        results = by_nodeid(study / path)
        assert {n for n, r in results.items() if r["outcome"] == "missing"} == set(results) - ran
        assert {results[n]["outcome"] for n in ran} == {"passed"}
        assert all(
            results[n]["message"].startswith(f"{side}: no run in session group 'S")
            for n in set(results) - ran
        ), results
        assert "cases have no run in one of the sides" in done.output


def test_compare_refuses_what_it_cannot_do_in_one_line(
    study: Path, project: pytest.Pytester
) -> None:
    """An unknown name, the baseline files as B, and the options a
    comparison cannot go with: one line each, exit status 4, no report."""
    unknown = compare(study, "S1", "nope", "--exp-report", "nope.md")
    assert unknown.returncode == 4
    assert "--exp-compare: no runs in group 'nope' in sqlite:///" in unknown.output
    assert not (study / "nope.md").exists()

    write(project.path, "exp_001_study.py", STUDY)
    for args, says in (
        (["S1", "baseline"], "side B cannot be 'baseline'"),
        (["S1", "S2", "--exp-merge", "S1"], "cannot be used with --exp-merge"),
        (["S1", "S2", "--exp-no-tracking"], "cannot be used with --exp-no-tracking"),
        (["S1", "S2", "--exp-update-baseline"], "cannot be used with --exp-update-baseline"),
        (["S1", "S2", "--exp-baseline", "mlflow"], "cannot be used with --exp-baseline mlflow"),
        (["S1", "it's"], "contains"),
        (["S1"], "expected 2 arguments"),
        (["S1", "S2", "-k", "no_such_case"], "no experiment case was collected"),
    ):
        result = project.runpytest_inprocess("--exp-compare", *args, "--exp-report", "r.md")
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR, (args, output)
        assert says in output, (args, output)
        assert_no_traceback(output)
    assert not (project.path / "mlflow.db").exists()
    assert not (project.path / "r.md").exists()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    template = store_template(tmp_path_factory)
    root = tmp_path_factory.mktemp("compare-server") / "study"
    write(root, "pytest.ini", "[pytest]\n")
    write(root, "exp_001_study.py", STUDY)
    with running_server(tmp_path_factory.mktemp("mlflow-server"), template) as server:
        sessions(root, server.uri)
        yield root, server.uri


@pytest.mark.slow
def test_compare_through_a_server(served: tuple[Path, str]) -> None:
    """The same verdicts through an HTTP ``mlflow server``: samples read back
    from the metric history, predictions downloaded through the server."""
    root, uri = served
    done = compare(root, "S1", "S2", "--exp-tracking-uri", uri, "--exp-json", "c12.json")
    assert done.returncode == 1, done.output
    got = results_by_case(root / "c12.json")
    assert {c for c, r in got.items() if r["outcome"] == "regressed"} == {
        n.split("::")[1] for n in DROPPED
    }
    assert got["exp_det[flip=1]"]["comparisons"]["accuracy"]["noise"] == "test examples"
    assert got["exp_noisy[k=4]"]["comparisons"]["score"]["test"] == "paired t"
    assert all(r["run_url"].startswith(uri) for r in got.values())
