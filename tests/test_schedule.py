"""Longest cases first under xdist, durations kept in pytest's cache, the
report still in declared order."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from _forked import runpytest_forked
from _server import read_json, write
from hypothesis import given
from hypothesis import strategies as st

from pytest_experiments.schedule import DURATIONS_KEY, longest_first

STUDY = """
    import json, os, time
    from pathlib import Path
    from pytest_experiments import experiment

    def test_plain_first():
        pass

    @experiment(params={"i": [0, 1, 2, 3, 4]})
    def exp_sleepy(i):
        with open("order.txt", "a") as fh:
            fh.write(f"{i}\\n")
        time.sleep(0.02 * i)
        return {"score": float(i)}

    def test_plain_last():
        pass
"""

NODE = "exp_001_sleepy.py::exp_sleepy[i={}]"


def _cache_file(root: Path) -> Path:
    return root / ".pytest_cache" / "v" / DURATIONS_KEY


def _order(root: Path) -> list[int]:
    path = root / "order.txt"
    order = [int(line) for line in path.read_text().split()]
    path.unlink()
    return order


def test_a_session_records_durations_and_the_next_one_runs_longest_first(
    project: pytest.Pytester,
) -> None:
    write(project.path, "exp_001_sleepy.py", STUDY)
    args = ("--exp-no-tracking", "--exp-json", "out.json", "-p", "no:randomly")
    result = runpytest_forked(project, "-n", "1", *args)
    assert result.ret == 0, result.stdout.str()
    assert _order(project.path) == [0, 1, 2, 3, 4]  # nothing known yet: declared order
    recorded = json.loads(_cache_file(project.path).read_text())
    assert {NODE.format(i) for i in range(5)} <= set(recorded)
    assert recorded[NODE.format(4)] >= 0.08 > recorded[NODE.format(0)]

    # As a previous session would have left them: 2 slowest, 3 unknown (new).
    durations = {NODE.format(i): s for i, s in [(0, 0.1), (1, 0.5), (2, 9.0), (4, 0.5)]}
    _cache_file(project.path).write_text(json.dumps(durations))
    result = runpytest_forked(project, "-n", "1", "-v", *args)
    assert result.ret == 0, result.stdout.str()
    assert _order(project.path) == [3, 2, 1, 4, 0]
    # Plain tests keep their places, around the experiment cases.
    result.stdout.fnmatch_lines(
        ["*PASSED*::test_plain_first*", "*PASSED*exp_sleepy?i=3?*", "*PASSED*::test_plain_last*"]
    )
    # The report keeps the declared order.
    cases = [r["case_id"] for r in read_json(project.path / "out.json")["results"]]
    assert cases == [f"exp_sleepy[i={i}]" for i in range(5)]

    # Without xdist, and with the ini switch off, the declared order.
    _cache_file(project.path).write_text(json.dumps(durations))
    result = runpytest_forked(project, "-p", "no:xdist", *args)
    assert result.ret == 0, result.stdout.str()
    assert _order(project.path) == [0, 1, 2, 3, 4]
    _cache_file(project.path).write_text(json.dumps(durations))
    project.makeini("[pytest]\nexperiments_longest_first = false\n")
    result = runpytest_forked(project, "-n", "1", *args)
    assert result.ret == 0, result.stdout.str()
    assert _order(project.path) == [0, 1, 2, 3, 4]


@given(
    st.lists(
        st.tuples(st.text(max_size=3), st.one_of(st.none(), st.floats(0, 100))),
        max_size=30,
        unique_by=lambda pair: pair[0],
    )
)
def test_longest_first_puts_unknown_cases_first_then_longest_keeping_ties(
    pairs: list[tuple[str, float | None]],
) -> None:
    names = [name for name, _ in pairs]
    durations = {name: s for name, s in pairs if s is not None}
    ordered = longest_first(names, durations, lambda name: name)
    assert sorted(ordered) == sorted(names)
    unknown = [n for n in names if n not in durations]
    assert ordered[: len(unknown)] == unknown
    known = ordered[len(unknown) :]
    seconds = [durations[n] for n in known]
    assert seconds == sorted(seconds, reverse=True)
    for a, b in itertools.pairwise(known):  # ties keep their order
        if durations[a] == durations[b]:
            assert names.index(a) < names.index(b)
