"""Unit tests of the terminal summary (``pytest_experiments.terminal``): plain
lines, one row per case, a delta column only where a metric moved, every line
within the width asked for, case labels wrapped and never cut, and every
metric value and delta whole (``assert_numbers_uncut``, in tests/_cases.py).

The tests that hold the terminal to the Markdown report's numbers (decimals a
column shares, the mean of an interval, not-gated and tiny deltas) render both
and live in test_reporting.py, beside the Markdown tests they extend.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from _cases import assert_numbers_uncut, case, comparison, heart_like_results, make_results
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_experiments.results import OUTCOMES, CaseResult, Comparison, Status
from pytest_experiments.terminal import render_terminal


def _lines_ok(lines: Iterable[str]) -> bool:
    return all("\n" not in line and "\r" not in line for line in lines)


# ------------------------------------------------------------------ render_terminal


def test_render_terminal() -> None:
    lines = render_terminal(make_results(), width=100)
    assert _lines_ok(lines)
    assert lines[-1] == "experiments: 2 passed, 1 new, 1 regressed, 1 error"
    titles = [line for line in lines if line.startswith("exp_")]
    assert titles == [
        "exp_rf (experiments/exp_rf.py)",
        "exp_lr (experiments/exp_lr.py)",
    ]
    assert all(len(line) <= 100 for line in lines)
    text = "\n".join(lines)
    # Plain text: no Markdown escaping, the case label as written.
    assert "a|b" in text and "\\|" not in text and "**" not in text
    row = next(line for line in lines if line.startswith("html"))
    assert "0.8" in row and "regressed" in row.lower()


def test_render_terminal_keeps_one_line_per_case() -> None:
    results = [
        case(case_id="exp[one\ntwo]", metrics={"m": 1.0}),
        case(case_id="exp[b]"),
    ]
    lines = render_terminal(results)
    assert _lines_ok(lines)
    # title, header, rule, two rows, blank, counts
    assert len(lines) == 7, lines
    assert lines[3].startswith("one") and "two" in lines[3]


def test_render_terminal_narrow_width() -> None:
    long = case(case_id="exp[" + "x" * 200 + "]", metrics={"accuracy": 0.5})
    lines = render_terminal([long], width=60)
    assert all(len(line) <= 60 for line in lines), lines
    assert any("0.5" in line for line in lines)
    assert any("passed" in line for line in lines)


def test_render_terminal_empty() -> None:
    assert render_terminal([]) == ["experiments: no cases"]


# ------------------------------------------------------------------ deltas that moved


def test_render_terminal_shows_only_deltas_that_moved() -> None:
    quiet = render_terminal(heart_like_results(moved=False), width=80)
    header = quiet[1].split()
    assert header == ["case", "accuracy", "f1", "roc_auc", "outcome", "time"]
    moved = render_terminal(heart_like_results(moved=True), width=80)
    assert moved[1].split()[:4] == ["case", "accuracy", "d", "accuracy"]
    assert "f1" in moved[1] and "d f1" not in moved[1]
    row = next(line for line in moved if line.startswith("n_estimators=100 "))
    assert "-0.0339 REGRESSED" in row
    unchanged = next(line for line in moved if line.startswith("n_estimators=50 "))
    assert " = " in unchanged


def test_render_terminal_keeps_case_labels_readable_at_80_columns() -> None:
    lines = render_terminal(heart_like_results(moved=True), width=80)
    assert all(len(line) <= 80 for line in lines), lines
    labels = [line.split()[0] for line in lines[3:6]]
    assert labels == [
        "n_estimators=50",
        "n_estimators=100",
        "n_estimators=500",
    ]


# ------------------------------------------------------------------ terminal width


def four_metric_results() -> list[CaseResult]:
    """The issue's case: four metrics, all moved, one value in the tens."""
    results = []
    statuses: tuple[Status, ...] = ("worse", "noise", "regressed", "better")
    for n, accuracy in ((50, 0.8525), (100, 0.8361), (500, 56.86891234)):
        metrics = {"accuracy": accuracy, "f1": 0.82, "roc_auc": 0.93, "precision": 0.7712}
        comparisons = {
            m: comparison(m, v + 0.016, v, "higher", status)
            for (m, v), status in zip(metrics.items(), statuses, strict=True)
        }
        results.append(
            case(
                nodeid=f"experiments/exp_002_random_forest.py::exp_random_forest[n_estimators={n}]",
                file="experiments/exp_002_random_forest.py",
                experiment="exp_random_forest",
                case_id=f"exp_random_forest[n_estimators={n}]",
                params={"n_estimators": n},
                metrics=metrics,
                comparisons=comparisons,
                has_baseline=True,
                duration=1.5,
            )
        )
    return results


@pytest.mark.parametrize("width", [80, 120])
def test_render_terminal_four_metrics_with_deltas_fit_uncut(width: int) -> None:
    results = four_metric_results()
    lines = render_terminal(results, width=width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert_numbers_uncut(results, lines)
    # Each case label is there in full, and so is its outcome.
    for result in results:
        label = result.case_id.split("[", 1)[1][:-1]
        assert any(label in line.split() for line in lines), (label, lines)


def test_render_terminal_keeps_long_labels_whole() -> None:
    # A label too long for a table row is wrapped, never cut: its parameter
    # values are numbers too.
    label = "-".join(f"param_number_{i}={i}.{i}{i}" for i in range(12))
    results = [case(case_id=f"exp[{label}]", metrics={"accuracy": 0.8361, "f1": 12.5})]
    lines = render_terminal(results, width=80)
    assert all(len(line) <= 80 for line in lines), lines
    assert label in "".join(line.strip() for line in lines)
    assert_numbers_uncut(results, lines)


# ------------------------------------------------------------------ hypothesis


METRIC_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=40)
PARAM_IDS = st.lists(
    st.tuples(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20),
        st.one_of(
            st.integers(-(10**6), 10**9).map(str),
            st.floats(allow_nan=False, allow_infinity=False).map(repr),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=12),
        ),
    ),
    min_size=1,
    max_size=8,
).map(lambda items: "-".join(f"{k}={v}" for k, v in items))
METRIC_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=-1e6, max_value=1e6),
)


@st.composite
def terminal_results(draw: st.DrawFn) -> list[CaseResult]:
    metrics = draw(st.lists(METRIC_NAMES, min_size=1, max_size=6, unique=True))
    labels = draw(st.lists(PARAM_IDS, min_size=1, max_size=5, unique=True))
    files = draw(st.lists(st.sampled_from(["a.py", "experiments/sub/exp_b.py"]), min_size=1))
    results = []
    for index, label in enumerate(labels):
        returned = draw(st.lists(st.sampled_from(metrics), unique=True))
        comparisons = {}
        for metric in draw(st.lists(st.sampled_from(metrics), unique=True)):
            baseline = draw(st.floats(-1e6, 1e6))
            current = draw(st.floats(-1e6, 1e6))
            status: Status = draw(
                st.sampled_from(["better", "same", "worse", "noise", "regressed"])
            )
            comparisons[metric] = Comparison(
                metric=metric,
                baseline=baseline,
                current=current,
                delta=current - baseline,
                direction=draw(st.sampled_from(["higher", "lower"])),
                tolerance="0.01",
                status=status,
                p_value=draw(st.none() | st.floats(0, 1))
                if status in ("noise", "regressed")
                else None,
            )
        file = files[index % len(files)]
        results.append(
            case(
                nodeid=f"{file}::exp[{label}]",
                file=file,
                case_id=f"exp[{label}]",
                metrics={m: draw(METRIC_VALUES) for m in returned},
                comparisons=comparisons,
                has_baseline=bool(comparisons),
                outcome=draw(st.sampled_from(OUTCOMES)),
                duration=draw(st.floats(0, 10_000)),
            )
        )
    return results


@settings(max_examples=150, deadline=None)
@given(results=terminal_results(), width=st.sampled_from([80, 120]))
def test_render_terminal_fits_any_width_without_cutting_numbers(
    results: list[CaseResult], width: int
) -> None:
    lines = render_terminal(results, width=width)
    assert _lines_ok(lines)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert_numbers_uncut(results, lines)
    # Case labels are wrapped, never cut: each is there, whitespace aside.
    flat = "".join("".join(lines).split())
    for result in results:
        assert result.case_id[4:-1] in flat
