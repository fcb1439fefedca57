"""The report, the plots and the gate tell a case and a metric the same way.

A metric's direction (which way is better), a case's label and a param's
text are shown by the Markdown report (bold best values, the leaderboard),
by the plots (y label, legend, categories), by the parent run's best case
and decided by the gate
(:func:`~pytest_experiments.conditions.direction_for`). These tests read
each from the public output and check they agree, for generated results.
"""

from __future__ import annotations

import string
from typing import Any

from _markdown import cell_value, parse_tables, unescape
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_experiments.conditions import LOWER_IS_BETTER_WORDS, direction_for
from pytest_experiments.parents import best_case
from pytest_experiments.plots import PlotSpec, experiment_plots
from pytest_experiments.presentation import (
    by_experiment,
    case_label,
    direction,
    half_width,
    param_text,
    union,
)
from pytest_experiments.reporting import escape_cell, render_markdown
from pytest_experiments.results import CaseResult, Direction, SessionInfo
from pytest_experiments.stats import Summary

FILE = "experiments/exp_agree.py"
EXPERIMENT = "exp_agree"

#: Words metric names are made of: some make a metric lower-is-better by name.
WORDS = [*sorted(LOWER_IS_BETTER_WORDS), "accuracy", "auc", "f1", "log", "score", "val"]
metric_names = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map("_".join)
#: A declaration's ``lower_is_better``/``higher_is_better`` for the metric, or none.
declarations = st.sampled_from([None, "lower", "higher"])


def results_for(
    metric: str, values: list[int], directions: dict[str, Direction]
) -> list[CaseResult]:
    """One case per value, a swept param ``n`` (so the metric gets a sweep plot)."""
    return [
        CaseResult.for_item(
            f"{FILE}::{EXPERIMENT}[n={index}]",
            FILE,
            params={"n": index},
            metrics={metric: float(value)},
            directions=dict(directions),
            curves={metric: [[0.0, float(value)], [1.0, float(value)]]},
        )
        for index, value in enumerate(values)
    ]


def report_direction(markdown: str, metric: str) -> str:
    """The direction the leaderboard ranks *metric* by, as its sentence says."""
    for way in ("higher", "lower"):
        if f"By {escape_cell(metric)} ({way} is better)." in markdown:
            return way
    raise AssertionError(f"no leaderboard sentence for {metric} in:\n{markdown}")


def bold_cases(markdown: str, metric: str) -> list[str]:
    """The case labels whose *metric* cell is bold (the best) in the experiment table."""
    (table,) = [t for t in parse_tables(markdown) if t.title.startswith(EXPERIMENT)]
    index = table.header.index(metric)
    return [unescape(row[0]) for row in table.rows if cell_value(row[index])[0]]


def plot_of(specs: list[PlotSpec], metric: str, kind: str) -> PlotSpec:
    (spec,) = [s for s in specs if s.metric == metric and s.kind == kind]
    return spec


@given(
    metric=metric_names,
    declared=declarations,
    recorded=st.booleans(),
    values=st.lists(st.integers(-1000, 1000), min_size=2, max_size=5, unique=True),
)
@example(metric="loss", declared=None, recorded=False, values=[1, 2])
@settings(max_examples=150, deadline=None)
def test_the_report_the_plots_and_the_gate_agree_on_a_metrics_direction(
    metric: str, declared: str | None, recorded: bool, values: list[int]
) -> None:
    """A declared direction travels on the results; an undeclared one the
    runner records as the gate decides it (*recorded*), or a result made
    elsewhere does not carry it at all: all of them read the same."""
    gate = direction_for(
        metric,
        lower_is_better=[metric] if declared == "lower" else [],
        higher_is_better=[metric] if declared == "higher" else [],
    )
    directions: dict[str, Direction] = {metric: gate} if declared or recorded else {}
    results = results_for(metric, values, directions)

    markdown = render_markdown(SessionInfo(started="today", primary_metric=metric), results)
    assert report_direction(markdown, metric) == gate
    best = values.index(min(values) if gate == "lower" else max(values))
    assert bold_cases(markdown, metric) == [f"n={best}"]
    # The parent run's best case (its tag and metrics) is the report's.
    chosen = best_case(results, metric)
    assert chosen is not None and case_label(chosen.case_id) == f"n={best}"

    specs = experiment_plots(results)
    assert plot_of(specs, metric, "sweep").direction == gate
    assert plot_of(specs, metric, "curve").direction == gate


def test_an_undeclared_loss_is_lower_is_better_in_the_report_as_at_the_gate() -> None:
    """The drift issue 27 found: a result that carries no direction for
    ``loss`` was ranked higher-is-better by the report, lower by the plots
    and the gate."""
    results = results_for("val_loss", [3, 1, 2], {})
    markdown = render_markdown(SessionInfo(started="today", primary_metric="val_loss"), results)
    assert direction_for("val_loss") == "lower"
    assert report_direction(markdown, "val_loss") == "lower"
    assert bold_cases(markdown, "val_loss") == ["n=1"]
    assert plot_of(experiment_plots(results), "val_loss", "sweep").direction == "lower"


param_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=string.ascii_letters + string.digits + ".-", min_size=1, max_size=8),
)


def labelled(experiment: str, params: dict[str, Any], index: int) -> CaseResult:
    label = "-".join(f"{k}={v}" for k, v in params.items())
    return CaseResult.for_item(
        f"{FILE}::{experiment}[{label}-{index}]",
        FILE,
        params=params,
        metrics={"score": float(index)},
        curves={"score": [[0.0, 1.0], [1.0, 2.0]]},
    )


def table_of(markdown: str, experiment: str) -> dict[str, list[str]]:
    """The experiment table's columns, unescaped."""
    (table,) = [t for t in parse_tables(markdown) if t.title.startswith(f"{experiment} (")]
    return {name: [cell_value(cell)[1] for cell in table.column(name)] for name in table.header}


@given(st.lists(param_values, min_size=2, max_size=5))
@settings(max_examples=150, deadline=None)
def test_the_report_and_the_plots_write_params_and_case_labels_alike(values: list[Any]) -> None:
    """A param's text in the report's column is the plots' legend entry
    (a second swept param) or bar category (the only one), and a case's
    label is its curve's legend entry."""
    results = [labelled("exp_lines", {"n": i, "kind": v}, i) for i, v in enumerate(values)]
    results += [labelled("exp_bars", {"kind": v}, i) for i, v in enumerate(values)]
    markdown = render_markdown(SessionInfo(started="today"), results)
    lines, bars = table_of(markdown, "exp_lines"), table_of(markdown, "exp_bars")
    specs = {(s.experiment, s.kind): s for s in experiment_plots(results)}

    for experiment, table in (("exp_lines", lines), ("exp_bars", bars)):
        assert [s.label for s in specs[experiment, "curve"].series] == table["case"]
    sweep = specs["exp_lines", "sweep"]
    assert sweep.x_label == "n"
    if sweep.series_params:  # kind takes more than one value (1 and 1.0 are one)
        assert {s.label for s in sweep.series} <= set(lines["kind"])
    bars_sweep = specs.get(("exp_bars", "sweep"))
    if bars_sweep is not None and bars_sweep.categories:
        assert list(bars_sweep.categories) == list(dict.fromkeys(bars["kind"]))


# ------------------------------------------------------------ the shared helpers


def test_a_case_label_is_the_part_in_brackets_else_the_whole_id() -> None:
    assert case_label("exp[n=1-kind=a]") == "n=1-kind=a"
    assert case_label("exp") == "exp"
    assert case_label("exp[a]b") == "exp[a]b"


def test_param_text_writes_values_as_the_case_id_does() -> None:
    assert [param_text(v) for v in (None, 1.0, True, "a b")] == ["None", "1.0", "True", "a b"]


def test_union_and_groups_keep_first_seen_order() -> None:
    assert union([{"b": 1, "a": 2}, ["c", "a"], {}]) == ["b", "a", "c"]
    a1, b1, a2 = (
        CaseResult.for_item(f"{file}::{name}[x]", file)
        for file, name in (("f.py", "a"), ("f.py", "b"), ("f.py", "a"))
    )
    other = CaseResult.for_item("g.py::a[x]", "g.py")
    assert by_experiment([a1, b1, other, a2]) == [[a1, a2], [b1], [other]]


def test_a_carried_direction_wins_over_the_name() -> None:
    plain = CaseResult.for_item("f.py::e[x]", "f.py")
    declared = CaseResult.for_item("f.py::e[y]", "f.py", directions={"loss": "higher"})
    assert direction([plain], "loss") == "lower"
    assert direction([plain, declared], "loss") == "higher"
    assert direction([plain], "accuracy") == "higher"


def test_half_width_needs_a_spread_over_more_than_one_value() -> None:
    two = Summary.of([1.0, 3.0])
    result = CaseResult.for_item(
        "f.py::e[x]",
        "f.py",
        metrics={"m": 2.0, "one": 1.0},
        spread={"m": two.to_dict(), "one": Summary.of([1.0]).to_dict()},
    )
    assert half_width(result, "m") == two.half_width()
    assert half_width(result, "one") is None
    assert half_width(result, "absent") is None
