"""``--exp-merge``: the pure rebuilding of results from runs (hypothesis), and
shards of a study merged from a real sqlite store by real pytest processes.

The PostgreSQL-backed server and shards under xdist are in test_shards.py.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from _server import assert_no_traceback, copy_store, store_template
from _shards import (
    assert_same_results,
    environment,
    outcomes,
    processes,
    run,
    write_study,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_experiments.codec import StoredRun, metric_tags, repeat_tags, result_tags
from pytest_experiments.merge import (
    MISSING,
    DeclaredCase,
    merge_results,
    pick_run,
    result_from_run,
)
from pytest_experiments.results import BAD_OUTCOMES, CaseResult, Comparison
from pytest_experiments.settings import parse_session_group
from pytest_experiments.stats import Summary
from pytest_experiments.tags import TAG_NODEID, TAG_OUTCOME

# -- the pure part --------------------------------------------------------------------

names = st.text("abcdefghij_", min_size=1, max_size=8)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def comparisons(draw: Any, metric: str) -> Comparison:
    n = draw(st.integers(1, 6))
    return Comparison(
        metric=metric,
        baseline=draw(finite),
        current=draw(finite),
        delta=draw(finite),
        direction=draw(st.sampled_from(["higher", "lower"])),
        tolerance=draw(st.sampled_from(["0", "0.01", "2%"])),
        status=draw(st.sampled_from(["better", "same", "worse", "noise", "regressed"])),
        baseline_n=n,
        current_n=n,
        baseline_ci=draw(st.none() | finite),
        current_ci=draw(st.none() | finite),
        p_value=draw(st.none() | st.floats(0, 1)),
        test=draw(st.none() | st.sampled_from(["permutation", "Welch t"])),
        gated=draw(st.booleans()),
    )


@st.composite
def recorded(draw: Any) -> tuple[CaseResult, DeclaredCase, StoredRun]:
    """A result, its declared case and the run the runner records for it
    (tags written by the runner's own functions)."""
    repeats = draw(st.integers(1, 4))
    metric_names = draw(st.lists(names, unique=True, max_size=4))
    summaries = {}
    for name in metric_names:
        mean = draw(finite)
        if repeats > 1:
            std = draw(st.floats(0, 1e6, allow_nan=False))
            summaries[name] = Summary(mean=mean, n=repeats, std=std)
        else:
            summaries[name] = Summary(mean=mean)
    outcome = draw(st.sampled_from(["passed", "new", "failed", "regressed", "xpassed"]))
    has_baseline = draw(st.booleans())
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=repeats, max_size=repeats))
    expect = {m: ">= 0.5" for m in metric_names[:1]}
    result = CaseResult.for_item(
        "exp_001_x.py::exp_x[k=1]",
        "exp_001_x.py",
        params={"k": 1},
        metrics={m: s.mean for m, s in summaries.items()},
        spread={
            m: {"mean": s.mean, "n": s.n, "std": s.std, "samples": []}
            for m, s in summaries.items()
            if s.n > 1
        },
        repeats=repeats,
        seeds=seeds,
        outcome=outcome,
        message=draw(st.none() | st.text(min_size=1, max_size=300)),
        duration=draw(st.floats(0, 1e5)),
        directions={m: "higher" for m in {*summaries, *expect}},
        comparisons={m: draw(comparisons(m)) for m in metric_names} if has_baseline else {},
        has_baseline=has_baseline,
        expect=expect,
        run_id="r1",
        doc="a study",
    )
    tags = {
        TAG_NODEID: result.nodeid,
        TAG_OUTCOME: outcome,
        **metric_tags(summaries),
        **repeat_tags(result),
        **result_tags(result),
    }
    run = StoredRun(
        run_id="r1",
        status="FINISHED",
        start_time=1_000,
        end_time=2_000,
        metrics={m: s.mean for m, s in summaries.items()},
        params={"k": "1", "seed": str(seeds[0])},
        tags=tags,
    )
    case = DeclaredCase(
        nodeid=result.nodeid,
        file=result.file,
        params={"k": 1},
        expect=expect,
        doc="a study",
    )
    return result, case, run


@given(recorded())
@settings(max_examples=100, deadline=None)
def test_a_result_is_rebuilt_from_what_its_run_records(
    case: tuple[CaseResult, DeclaredCase, StoredRun],
) -> None:
    result, declared, stored = case
    assert result_from_run(declared, stored) == result


def test_a_returned_metric_the_run_does_not_hold_was_not_finite() -> None:
    tags = {TAG_NODEID: "f.py::exp", TAG_OUTCOME: "failed", **metric_tags({"a": Summary(1.0)})}
    tags["experiments.metrics"] = json.dumps(["a", "b"])  # b was NaN: not logged
    stored = StoredRun("r", "FINISHED", 0, 1, metrics={"a": 1.0, "side": 3.0}, tags=tags)
    result = result_from_run(DeclaredCase("f.py::exp", "f.py"), stored)
    assert result.metrics["a"] == 1.0 and math.isnan(result.metrics["b"])
    assert "side" not in result.metrics  # logged on the side, not returned


def test_runs_that_did_not_finish_say_so() -> None:
    case = DeclaredCase("f.py::exp", "f.py")
    killed = StoredRun("k", "KILLED", 0, 5, tags={TAG_NODEID: case.nodeid})
    merged = merge_results([case], [killed], "g")
    assert merged.results[0].outcome == "crashed"
    assert "KILLED" in (merged.results[0].message or "")
    running = StoredRun("r", "RUNNING", 9, None, tags={TAG_NODEID: case.nodeid})
    merged = merge_results([case], [running], "g")
    assert merged.results[0].outcome == MISSING
    assert "still RUNNING" in (merged.results[0].message or "")
    assert merged.missing == [case.nodeid]
    no_tag = StoredRun("f", "FAILED", 0, 5, tags={TAG_NODEID: case.nodeid})
    assert merge_results([case], [no_tag], "g").results[0].outcome == "error"


@st.composite
def stored_runs(draw: Any, nodeids: list[str]) -> list[StoredRun]:
    runs = []
    for i in range(draw(st.integers(0, 12))):
        tags = {TAG_NODEID: draw(st.sampled_from(nodeids))}
        if draw(st.booleans()):
            tags[TAG_OUTCOME] = draw(st.sampled_from(["passed", "new", "failed", "regressed"]))
        if draw(st.integers(0, 4)) == 0:
            tags["experiments.superseded_by"] = "later"
        if draw(st.booleans()):
            tags["pytest.attempt"] = str(draw(st.integers(1, 3)))
        status = draw(st.sampled_from(["FINISHED", "FAILED", "KILLED", "RUNNING"]))
        start = draw(st.integers(0, 5))  # ties on purpose
        runs.append(
            StoredRun(
                f"run{i}", status, start, None if status == "RUNNING" else start + 1, tags=tags
            )
        )
    return runs


NODEIDS = ["f.py::exp[k=1]", "f.py::exp[k=2]", "f.py::exp[k=3]", "g.py::old"]


@given(stored_runs(NODEIDS), st.lists(st.sampled_from(NODEIDS[:3]), unique=True), st.randoms())
@settings(max_examples=150, deadline=None)
def test_every_declared_case_once_from_its_latest_ended_run(
    runs: list[StoredRun], declared: list[str], rnd: random.Random
) -> None:
    cases = [DeclaredCase(nodeid, nodeid.split("::")[0]) for nodeid in declared]
    merged = merge_results(cases, runs, "g")
    assert [r.nodeid for r in merged.results] == declared
    shuffled = list(runs)
    rnd.shuffle(shuffled)
    again = merge_results(cases, shuffled, "g")
    assert [(r.outcome, r.run_id) for r in again.results] == [
        (r.outcome, r.run_id) for r in merged.results
    ], "the choice depends on the order the store returned the runs in"
    for result in merged.results:
        mine = [r for r in runs if r.nodeid == result.nodeid]
        ended = [r for r in mine if r.ended]
        if not ended:
            assert result.outcome == MISSING and result.outcome in BAD_OUTCOMES
            continue
        chosen = next(r for r in ended if r.run_id == result.run_id)
        # not superseded when another can speak; else the newest start
        if any(not r.superseded for r in ended):
            assert not chosen.superseded
        peers = [r for r in ended if r.superseded == chosen.superseded]
        assert chosen.start_time == max(r.start_time for r in peers)
        assert chosen is pick_run(ended)
    assert merged.undeclared == sum(1 for r in runs if r.nodeid not in declared)
    assert merged.runs == len(runs)


@given(st.text(min_size=1, max_size=60))
def test_a_group_name_is_kept_or_refused_whole(text: str) -> None:
    try:
        name = parse_session_group(text)
    except argparse.ArgumentTypeError as exc:
        assert (
            text.strip() == ""
            or any(c in text.strip() for c in "'\"`\\")
            or any(not c.isprintable() for c in text.strip())
        ), exc
        return
    assert name == text.strip() and "'" not in name  # safe inside a quoted filter


# -- shards against a sqlite store ------------------------------------------------------


def _study(root: Path, tmp_path_factory: pytest.TempPathFactory, failing: bool) -> Path:
    write_study(root, failing=failing)
    copy_store(store_template(tmp_path_factory), root / "mlflow.db")
    (root / "flags").mkdir()
    return root


@pytest.fixture
def study(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The study with its failing file, and a store."""
    return _study(tmp_path / "study", tmp_path_factory, failing=True)


@pytest.mark.slow
def test_shards_merge_into_the_report_of_one_session_on_sqlite(study: Path) -> None:
    """Two of three pytest-split shards and a session running everything go
    at once into one sqlite store. The merge of the two lists the third
    shard's cases as missing and fails; once the third has run, it reports
    every case as the whole session did (a failed expectation, a skip mark, a
    case that passed on its second attempt), with its exit status; and the
    session itself is shown again by its id."""
    env = environment(STUDY_FLAGS=str(study / "flags"))
    common = ["-p", "no:xdist", "--reruns", "1", "--exp-session-group", "G-7"]
    with processes() as group:
        for shard in (1, 2):
            group.start(
                study, *common, "--splits", "3", "--group", str(shard),
                "--exp-json", f"shard{shard}.json", env=env,
            )  # fmt: skip
        group.start(study, "-p", "no:xdist", "--reruns", "1", "--exp-json", "single.json", env=env)
        *_, single = group.wait()
    assert single.returncode == 1, single.output  # exp_short misses its expectation
    ran = {*outcomes(study / "shard1.json"), *outcomes(study / "shard2.json")}
    everything = outcomes(study / "single.json")
    assert everything["exp_003_failing.py::exp_flaky"] == "new"  # its second attempt
    assert everything["exp_003_failing.py::exp_later"] == "skipped"
    never = [nodeid for nodeid in everything if nodeid not in ran]
    assert never, "pytest-split left nothing to the third shard"

    summary = study / "summary.md"
    merge = run(
        study, "--exp-merge", "G-7", "--exp-json", "merged.json", "--exp-report", "merged.md",
        env={**env, "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert merge.returncode == 1, merge.output
    assert_no_traceback(merge.output)
    merged = outcomes(study / "merged.json")
    assert list(merged) == list(everything)
    assert {n for n, o in merged.items() if o == MISSING} == {
        n
        for n in never
        if everything[n] != "skipped"  # no run is what a skip mark leaves
    }
    assert f"{len([o for o in merged.values() if o == MISSING])} cases have no run" in merge.output
    report = (study / "merged.md").read_text(encoding="utf-8")
    assert "missing" in report and "Merged: session group G-7" in report
    job_summary = summary.read_text(encoding="utf-8")
    assert "Merged: session group G-7" in job_summary and "| missing |" in job_summary
    assert "deselected" in merge.output and " passed" not in merge.output.splitlines()[-1]

    third = run(study, *common, "--splits", "3", "--group", "3", env=env)
    assert third.returncode in (0, 1), third.output

    # The whole group now; and the session that ran everything, by its id.
    from _runs import all_runs

    single_runs = [
        r for r in all_runs(study / "mlflow.db")
        if r.data.tags.get("experiments.session_group") != "G-7"
    ]  # fmt: skip
    session_id = single_runs[0].data.tags["pytest.session"]
    assert {r.data.tags["experiments.session_group"] for r in single_runs} == {session_id}
    with processes() as group:
        group.start(study, "--exp-merge", "G-7", "--exp-json", "merged.json", "-n", "2", env=env)
        group.start(study, "--exp-merge", session_id, "--exp-json", "again.json", env=env)
        merge, again = group.wait()
    assert merge.returncode == single.returncode, merge.output  # -n is ignored
    assert_same_results(study / "merged.json", study / "single.json")
    data = json.loads((study / "merged.json").read_text(encoding="utf-8"))
    assert data["session"]["merged"] == {
        "group": "G-7",
        "matched": "session group",
        "runs": len(everything) - 1,  # the skipped case has none
        "sessions": 3,
        "missing": 0,
    }
    flaky = next(r for r in data["results"] if r["case_id"] == "exp_flaky")
    assert flaky["outcome"] == "new"  # its second attempt, not the superseded first (error)
    assert again.returncode == single.returncode, again.output
    assert_same_results(study / "again.json", study / "single.json")


def test_merge_refuses_what_it_cannot_do_in_one_line(study: Path, project: pytest.Pytester) -> None:
    """An unknown group, tracking off, a store that does not exist, a name
    that could not be matched, nothing selected: one line each, exit status
    4, no traceback, no report. (Only the first reads a store, in its own
    process; the others stop before MLflow is imported, so they run here.)"""
    unknown = run(study, "--exp-merge", "nope", "--exp-report", "r.md", env=environment())
    assert unknown.returncode == 4
    assert f"no runs in group 'nope' in sqlite:///{study.as_posix()}/mlflow.db" in unknown.output
    assert_no_traceback(unknown.output)
    assert not (study / "r.md").exists()

    write_study(project.path)
    missing_store = f"sqlite:///{project.path.as_posix()}/none/x.db"
    for args, says in (
        (["--exp-no-tracking"], "cannot be used with --exp-no-tracking"),
        (["--exp-update-baseline"], "run the study itself with --exp-update-baseline"),
        (["--exp-tracking-uri", missing_store], "the store does not exist"),
        (["-k", "no_such_case"], "no experiment case was collected"),
    ):
        result = project.runpytest_inprocess("--exp-merge", "G", *args, "--exp-report", "r.md")
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR, (args, output)
        assert says in output, (args, output)
        assert_no_traceback(output)
    quoted = project.runpytest_inprocess("--exp-merge", "it's")
    assert quoted.ret == pytest.ExitCode.USAGE_ERROR and "contains" in quoted.stderr.str()
    assert not (project.path / "none").exists()  # a merge never creates a store
    assert not (project.path / "mlflow.db").exists()
    assert not (project.path / "r.md").exists()


SKIPPED_CASE = """
import pytest

from pytest_experiments import experiment


@pytest.mark.skip(reason="needs a GPU")
@experiment(params={"k": [1]})
def exp_gpu(k):
    return {"acc": 1.0}


@experiment(params={"k": [1]})
def exp_cpu(k):
    return {"acc": 0.5}
"""


@pytest.mark.parametrize("moved", [False, True], ids=["pytest-as-is", "api-moved"])
def test_merge_reads_skip_marks_with_pytest_or_stops_loudly(
    project: pytest.Pytester, template: Path, moved: bool
) -> None:
    """A case its marks skip has no run and is not missing; if pytest's
    private reading of marks moves, the merge says so and stops (it used to
    pass in silence and call every skipped case missing)."""
    from _forked import runpytest_forked

    project.makepyfile(exp_001_gpu=SKIPPED_CASE)
    copy_store(template, project.path / "mlflow.db")
    ran = runpytest_forked(project, "--exp-session-group", "G")
    assert ran.ret == 0, ran.stdout.str()
    if moved:  # what a pytest release that renames it would leave
        project.makeconftest("import _pytest.skipping\ndel _pytest.skipping.evaluate_skip_marks\n")
    result = runpytest_forked(project, "--exp-merge", "G", "--exp-json", "m.json")
    output = result.stdout.str() + result.stderr.str()
    if not moved:
        assert result.ret == 0, output
        document = json.loads((project.path / "m.json").read_text())
        assert [r["outcome"] for r in document["results"]] == ["skipped", "new"]
        return
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, output
    assert f"pytest {pytest.__version__} does not provide" in output
    assert "_pytest.skipping.evaluate_skip_marks" in output
    assert_no_traceback(output)
