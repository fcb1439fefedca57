"""Unit tests of the pure Markdown and JSON report
(``pytest_experiments.reporting``) and of the number formatting it shares with
the terminal summary (``.formatting``). The terminal summary's own tests are in
test_terminal.py; the case builders both use are in tests/_cases.py.

The Markdown is checked through a small GitHub-table parser (tests/_markdown.py:
cells split on unescaped ``|``, escapes undone), not by comparing with the
renderer's own output.

A few tests here render the terminal summary of the same cases too and check
that it shows the numbers the Markdown shows (the decimals a column shares,
the mean of an interval, not-gated deltas, a tiny delta beside a huge one):
they are Markdown tests first, and read best beside the Markdown tests they
extend.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
import unicodedata

import pytest
from _cases import FENCE_MESSAGE, assert_numbers_uncut, case, heart_like_results, make_results
from _markdown import BREAK, Table, parse_tables, split_row, unescape
from _markdown import cell_value as bold_value
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_experiments.formatting import format_number, outcome_counts
from pytest_experiments.reporting import (
    choose_primary_metric,
    escape_cell,
    render_json,
    render_markdown,
)
from pytest_experiments.results import (
    OUTCOMES,
    CaseResult,
    Comparison,
    SessionInfo,
    Status,
)
from pytest_experiments.terminal import render_terminal

# ------------------------------------------------------------------ test helpers

LINE_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def table_under(markdown: str, heading_start: str) -> Table:
    matches = [t for t in parse_tables(markdown) if t.heading.startswith(heading_start)]
    assert len(matches) == 1, [t.heading for t in parse_tables(markdown)]
    return matches[0]


def sanitized(text: str) -> str:
    """What the spec says a cell shows: breaks marked, controls gone, tabs spaced."""
    text = LINE_BREAKS.sub(BREAK, text).replace("\t", " ")
    return "".join(
        ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs") and ch not in BIDI
    )


# ------------------------------------------------------------------ fixtures


def make_session(**changes: object) -> SessionInfo:
    session = SessionInfo(
        started="2024-05-01T10:00:00",
        wall_time=12.5,
        commit="abc1234",
        branch="main",
        dirty=True,
        data_fingerprint="0123456789abcdef0123456789abcdef",
        tracking_uri=None,
        partial=False,
    )
    for key, value in changes.items():
        setattr(session, key, value)
    return session


@pytest.fixture
def markdown() -> str:
    results = make_results()
    return render_markdown(
        make_session(),
        results,
        extra_columns={results[1].nodeid: {"note": "look | here"}},
        extra_sections=["## Custom\n\nhello from a hook"],
    )


# ------------------------------------------------------------------ format_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.8525, "0.8525"),
        (1234.5, "1234.5"),
        (1e-7, "1e-07"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (100, "100"),
        (0.85, "0.85"),
        (1.0, "1"),
        (0.0, "0"),
        (-0.5, "-0.5"),
        (12.345678, "12.3457"),
        (0.012345, "0.01235"),
        (10**20, "100000000000000000000"),
    ],
)
def test_format_number(value: float, expected: str) -> None:
    assert format_number(value) == expected


# Below 1e300 so that rounding to 4 digits cannot overflow when parsed back.
@given(st.floats(min_value=-1e300, max_value=1e300))
def test_format_number_is_close_to_the_value(value: float) -> None:
    text = format_number(value)
    assert float(text) == pytest.approx(value, rel=1e-3, abs=1e-4)


# ------------------------------------------------------------------ escape_cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("a|b", "a\\|b"),
        ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("a&b", "a&amp;b"),
        ("`code`", "\\`code\\`"),
        ("back\\slash", "back\\\\slash"),
        ("*em* _u_ [l]", "\\*em\\* \\_u\\_ \\[l\\]"),
        ("line1\nline2", "line1 ⏎ line2"),
        ("a\r\nb\rc", "a ⏎ b ⏎ c"),
        ("tab\there", "tab here"),
        ("nul\x00bell\x07", "nulbell"),
        (0.5, "0.5"),
        (math.nan, "nan"),
        (3, "3"),
    ],
)
def test_escape_cell_examples(value: object, expected: str) -> None:
    assert escape_cell(value) == expected


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("|\\`*_[]<>&~#$\n\r\t\x00\x1b\x85\u2028 -")),
        st.characters(),
    )
)


@given(TEXT)
def test_escape_cell_is_safe_for_any_text(text: str) -> None:
    out = escape_cell(text)
    assert "\n" not in out and "\r" not in out
    assert len(out.splitlines()) <= 1
    assert "<" not in out and ">" not in out
    assert not any(unicodedata.category(ch) == "Cc" for ch in out)
    # No pipe survives unescaped: a one-cell row still has one cell.
    assert split_row(f"| {out} |") == [out.strip()]


@given(TEXT.filter(lambda t: "\x1b" not in t))
def test_escape_cell_round_trips(text: str) -> None:
    # Unescaping gives back the text as the spec says a cell shows it.
    assert unescape(escape_cell(text)) == sanitized(text)


# ------------------------------------------------------------------ primary metric


def test_choose_primary_metric() -> None:
    no_expect = case(metrics={"f1": 0.5, "accuracy": 0.7})
    with_expect = case(metrics={"accuracy": 0.7}, expect={"roc_auc": ">0.5", "f1": ">0"})
    assert choose_primary_metric([no_expect, with_expect], "recall") == "recall"
    assert choose_primary_metric([no_expect, with_expect], None) == "roc_auc"
    assert choose_primary_metric([case(), no_expect], None) == "f1"
    assert choose_primary_metric([case(), case(outcome="crashed")], None) is None
    assert choose_primary_metric([], None) is None


def test_outcome_counts_lists_every_outcome_in_order() -> None:
    results = [case(outcome="new"), case(outcome="passed"), case(outcome="new")]
    counts = outcome_counts(results)
    assert list(counts) == list(OUTCOMES)
    assert counts["new"] == 2 and counts["passed"] == 1
    assert sum(counts.values()) == 3
    assert outcome_counts([]) == dict.fromkeys(OUTCOMES, 0)


# ------------------------------------------------------------------ render_markdown


def test_header(markdown: str) -> None:
    head = markdown.split("\n## ")[0]
    assert head.startswith("# Experiment report\n")
    assert "PARTIAL" not in head
    assert "- Date: 2024-05-01T10:00:00" in head
    assert "- Commit: abc1234 (dirty)" in head
    assert "- Branch: main" in head
    assert "- Data fingerprint: 0123456789ab\n" in head
    assert "- Tracking: off" in head
    # Only non-zero outcomes, in OUTCOMES order.
    assert "- Cases: 2 passed, 1 new, 1 regressed, 1 error\n" in head
    assert "12.5" in head and "failed" not in head


def test_partial_banner_near_the_top() -> None:
    text = render_markdown(make_session(partial=True), make_results())
    first_lines = text.split("\n")[:4]
    assert any("PARTIAL" in line for line in first_lines), first_lines


def test_tracking_uri_clean_commit() -> None:
    session = make_session(dirty=False, tracking_uri="http://mlflow.local:5000")
    text = render_markdown(session, make_results())
    assert "- Commit: abc1234\n" in text
    assert "- Tracking: http://mlflow.local:5000" in text


def test_every_table_is_well_formed(markdown: str) -> None:
    # parse_tables asserts header/separator/row cell counts.
    tables = parse_tables(markdown)
    assert [t.heading for t in tables] == [
        "exp\\_rf (experiments/exp\\_rf.py)",
        "exp\\_lr (experiments/exp\\_lr.py)",
        "Leaderboard",
    ]


def test_experiment_sections_and_docs(markdown: str) -> None:
    rf = markdown.index("## exp\\_rf (experiments/exp\\_rf.py)")
    lr = markdown.index("## exp\\_lr (experiments/exp\\_lr.py)")
    assert rf < lr
    assert "\nRandom forest on the heart data.\n" in markdown
    assert "Second paragraph" not in markdown
    assert "\nLogistic regression.\n" in markdown


def test_columns_in_order(markdown: str) -> None:
    rf = table_under(markdown, "exp\\_rf")
    assert rf.header == [
        "case",
        "n_estimators",
        "criterion",
        "extra",
        # Each metric is followed by its delta.
        "accuracy",
        "Δ accuracy",
        "log_loss",
        "Δ log_loss",
        "note",
        "outcome",
        "duration",
        "run",
    ]
    lr = table_under(markdown, "exp\\_lr")
    # No comparison on log_loss in exp_lr: no delta column for it; no case has
    # a run id (tracking off): no run column.
    assert lr.header == [
        "case",
        "C",
        "accuracy",
        "Δ accuracy",
        "log_loss",
        "outcome",
        "duration",
    ]


def test_hostile_params_land_in_their_column(markdown: str) -> None:
    rf = table_under(markdown, "exp\\_rf")
    assert [unescape(c) for c in rf.column("case")] == ["a|b", "html", "lines"]
    assert [unescape(c) for c in rf.column("criterion")] == [
        "a|b",
        "<b>x</b>",
        "line1" + BREAK + "line2",
    ]
    assert [unescape(c) for c in rf.column("extra")] == ["", "", "`code`"]
    assert [unescape(c) for c in rf.column("n_estimators")] == ["100", "200", "300"]
    assert [unescape(c) for c in rf.column("note")] == ["", "look | here", ""]
    assert [unescape(c) for c in rf.column("outcome")] == ["passed", "regressed", "new"]
    assert unescape(rf.row("a|b")["duration"]) == "1.23 s"
    # No raw HTML anywhere in the report.
    assert "<b>" not in markdown


def test_best_values_bold_by_direction(markdown: str) -> None:
    rf = table_under(markdown, "exp\\_rf")
    # accuracy: higher is better; 0.85 twice -> both bold (tie). A column shares
    # its decimals, so 0.8 reads 0.80.
    assert [bold_value(c) for c in rf.column("accuracy")] == [
        (True, "0.85"),
        (False, "0.80"),
        (True, "0.85"),
    ]
    # log_loss: lower is better -> 0.3 bold; NaN never bold.
    assert [bold_value(c) for c in rf.column("log_loss")] == [
        (False, "0.4"),
        (True, "0.3"),
        (False, "nan"),
    ]
    lr = table_under(markdown, "exp\\_lr")
    # A single value is still the best; the errored case has none.
    assert [bold_value(c) for c in lr.column("accuracy")] == [
        (True, "0.9"),
        (False, ""),
    ]


def test_all_nan_column_has_no_bold() -> None:
    results = [
        case(case_id="exp[a]", metrics={"m": math.nan}),
        case(case_id="exp[b]", metrics={"m": math.inf}, directions={"m": "lower"}),
    ]
    table = parse_tables(render_markdown(make_session(), results))[0]
    assert [bold_value(c) for c in table.column("m")] == [
        (False, "nan"),
        (False, "inf"),
    ]


def test_delta_marked_by_direction_not_sign(markdown: str) -> None:
    rf = table_under(markdown, "exp\\_rf")
    first = rf.row("a|b")
    assert unescape(first["Δ accuracy"]).startswith("+0.02 ▲")
    # log_loss rose by 0.01: positive sign, but worse for a "lower" metric.
    assert unescape(first["Δ log_loss"]).startswith("+0.01 ▼")
    second = rf.row("html")
    regressed = unescape(second["Δ accuracy"])
    assert regressed.startswith("-0.03 ▼") and "(regressed)" in regressed
    # log_loss fell by 0.05: negative sign, but better.
    assert unescape(second["Δ log_loss"]).startswith("-0.05 ▲")
    assert "regressed" not in unescape(first["Δ log_loss"])
    # A new case has no comparison: "new" in the first delta column only.
    new = rf.row("lines")
    assert (unescape(new["Δ accuracy"]), unescape(new["Δ log_loss"])) == ("new", "")
    # Unchanged: no number (a float-noise delta like 1e-16 would only distract).
    same = table_under(markdown, "exp\\_lr").row("C=1")
    assert unescape(same["Δ accuracy"]) == "= same"


def test_run_column(markdown: str) -> None:
    rf = table_under(markdown, "exp\\_rf")
    assert rf.row("a|b")["run"] == (
        "[01234567](http://127.0.0.1:5000/#/experiments/1/runs/0123456789abcdef)"
    )
    # No web page (a sqlite store): the id, short like a linked one.
    assert unescape(rf.row("html")["run"]) == "fedcba98"
    # Not an http(s) URL: shown as plain text, never as a link.
    assert unescape(rf.row("lines")["run"]) == "abc"
    assert "javascript" not in markdown
    # An experiment none of whose cases has a run (tracking off) has no run column.
    assert "run" not in table_under(markdown, "exp\\_lr").header


def test_run_url_cannot_break_the_table() -> None:
    result = case(run_id="r1", run_url="http://h/x|y) <z>`w`")
    table = parse_tables(render_markdown(make_session(), [result]))[0]
    cell = table.row("x")["run"]
    assert cell.startswith("[r1](http://h/x") and cell.endswith(")")
    assert cell.count(")") == 1 and " " not in cell and "<" not in cell


def test_leaderboard_order_and_content(markdown: str) -> None:
    board = table_under(markdown, "Leaderboard")
    # Ranked within its file: exp_lr's file has a single ranked case (C=100
    # errored), which makes no leaderboard.
    assert unescape(board.subheading) == "experiments/exp_rf.py"
    # Primary metric: first metric named in an expect (accuracy), higher first.
    assert board.header == ["rank", "experiment", "case", "accuracy", "outcome"]
    rows = [[unescape(c) for c in row] for row in board.rows]
    assert rows == [
        ["1", "exp_rf", "a|b", "0.85", "passed"],
        ["1", "exp_rf", "lines", "0.85", "new"],
        ["3", "exp_rf", "html", "0.80", "regressed"],
    ]


def test_global_leaderboard_ranks_across_files() -> None:
    text = render_markdown(make_session(leaderboard="global"), make_results())
    board = table_under(text, "Leaderboard")
    assert board.subheading == ""
    assert board.header == ["rank", "file", "experiment", "case", "accuracy", "outcome"]
    rows = [[unescape(c) for c in row] for row in board.rows]
    assert rows == [
        ["1", "experiments/exp_lr.py", "exp_lr", "C=1", "0.90", "passed"],
        ["2", "experiments/exp_rf.py", "exp_rf", "a|b", "0.85", "passed"],
        ["2", "experiments/exp_rf.py", "exp_rf", "lines", "0.85", "new"],
        ["4", "experiments/exp_rf.py", "exp_rf", "html", "0.80", "regressed"],
    ]


def test_leaderboard_lower_is_better_skips_non_finite() -> None:
    session = make_session(primary_metric="log_loss", leaderboard="global")
    board = table_under(render_markdown(session, make_results()), "Leaderboard")
    values = [unescape(c) for c in board.column("log_loss")]
    # NaN (case "lines") and the errored case without metrics are left out.
    assert values == ["0.25", "0.30", "0.40"]
    assert [unescape(c) for c in board.column("case")] == ["C=1", "html", "a|b"]
    # Per file, the same metric (it is configured), exp_rf's cases alone.
    session = make_session(primary_metric="log_loss")
    board = table_under(render_markdown(session, make_results()), "Leaderboard")
    assert [unescape(c) for c in board.column("case")] == ["html", "a|b"]


def test_unknown_leaderboard_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="'file' or 'global'"):
        render_markdown(make_session(leaderboard="per-file"), make_results())


def two_datasets() -> list[CaseResult]:
    """The issue's case: digits and breast-cancer accuracies in one session.

    Digits scores higher across the board, so one ranking across files would
    put every digits case above every cancer case.
    """
    cases = [
        ("experiments/exp_digits.py", "exp_svm", "C=1", {"accuracy": 0.981}),
        ("experiments/exp_cancer.py", "exp_svm", "C=1", {"accuracy": 0.951}),
        ("experiments/exp_digits.py", "exp_svm", "C=10", {"accuracy": 0.975}),
        ("experiments/exp_digits.py", "exp_knn", "k=5", {"accuracy": 0.988}),
        ("experiments/exp_cancer.py", "exp_svm", "C=10", {"accuracy": 0.963}),
        # A file of its own metric (lower is better), named in an expect.
        ("experiments/exp_housing.py", "exp_ridge", "a=1", {"r2": 0.6, "rmse": 0.71}),
        ("experiments/exp_housing.py", "exp_ridge", "a=2", {"r2": 0.7, "rmse": 0.52}),
        ("experiments/exp_housing.py", "exp_ridge", "a=3", {"r2": 0.5, "rmse": 0.64}),
    ]
    return [
        case(
            nodeid=f"{file}::{experiment}[{label}]",
            file=file,
            experiment=experiment,
            case_id=f"{experiment}[{label}]",
            metrics=metrics,
            directions={"rmse": "lower"},
            expect={"rmse": "< 1"} if "rmse" in metrics else {},
        )
        for file, experiment, label, metrics in cases
    ]


def leaderboards(markdown: str) -> dict[str, Table]:
    """The leaderboard tables by the file each ranks (its sub-heading)."""
    tables = [t for t in parse_tables(markdown) if t.heading == "Leaderboard"]
    boards = {unescape(t.subheading): t for t in tables}
    assert len(boards) == len(tables), [t.subheading for t in tables]
    return boards


def test_leaderboard_ranks_each_file_by_itself() -> None:
    results = two_datasets()
    text = render_markdown(make_session(), results)
    assert text.count("\n## Leaderboard\n") == 1
    boards = leaderboards(text)
    files = list(dict.fromkeys(r.file for r in results))
    assert list(boards) == files  # in the order the files first ran
    for file, board in boards.items():
        mine = [r for r in results if r.file == file]
        # Each file by its own primary metric: the one its cases expect, else
        # the first they return.
        metric = "rmse" if file.endswith("housing.py") else "accuracy"
        assert board.header == ["rank", "experiment", "case", metric, "outcome"]
        lower = metric == "rmse"
        ranked = sorted(mine, key=lambda r: r.metrics[metric] * (1 if lower else -1))
        assert [unescape(c) for c in board.column("case")] == [
            r.case_id.split("[")[1][:-1] for r in ranked
        ]
        assert [unescape(c) for c in board.column("experiment")] == [r.experiment for r in ranked]
        assert [float(unescape(c)) for c in board.column(metric)] == [
            r.metrics[metric] for r in ranked
        ]
        assert [unescape(c) for c in board.column("rank")] == [
            str(i) for i in range(1, len(mine) + 1)
        ]
        direction = "lower" if lower else "higher"
        section = text.split(f"### {escape_cell(file)}\n", 1)[1].split("\n|", 1)[0]
        assert f"By {escape_cell(metric)} ({direction} is better)." in section


def test_global_leaderboard_ranks_all_files_together() -> None:
    results = two_datasets()
    session = make_session(leaderboard="global", primary_metric="accuracy")
    board = table_under(render_markdown(session, results), "Leaderboard")
    ranked = sorted(
        (r for r in results if "accuracy" in r.metrics), key=lambda r: -r.metrics["accuracy"]
    )
    assert [
        (unescape(f), unescape(c))
        for f, c in zip(board.column("file"), board.column("case"), strict=True)
    ] == [(r.file, r.case_id.split("[")[1][:-1]) for r in ranked]


def many_cases(values: list[float], file: str = "e.py") -> list[CaseResult]:
    return [
        case(nodeid=f"{file}::exp[{i}]", file=file, case_id=f"exp[{i}]", metrics={"m": v})
        for i, v in enumerate(values)
    ]


@pytest.mark.parametrize("mode", ["file", "global"])
def test_leaderboard_shows_the_top_10(mode: str) -> None:
    values = [i / 100 for i in range(13)]
    text = render_markdown(make_session(leaderboard=mode), many_cases(values))
    board = table_under(text, "Leaderboard")
    best = sorted(values, reverse=True)[:10]
    assert [float(unescape(c)) for c in board.column("m")] == best
    assert "3 more cases" in text.split("## Leaderboard", 1)[1]


def test_leaderboard_keeps_cases_tied_with_the_10th() -> None:
    values = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.05, 0.01]
    text = render_markdown(make_session(), many_cases(values))
    board = table_under(text, "Leaderboard")
    assert [unescape(c) for c in board.column("rank")][-3:] == ["9", "10", "10"]
    assert "1 more case" in text.split("## Leaderboard", 1)[1]
    # Exactly ten: nothing left out, nothing said.
    text = render_markdown(make_session(), many_cases(values[:10]))
    assert len(table_under(text, "Leaderboard").rows) == 10
    assert "more case" not in text


@st.composite
def ranked_sessions(draw: st.DrawFn) -> list[CaseResult]:
    # Hostile file names too; the heading shows each as sanitized, so those differ.
    files = draw(
        st.lists(PLAIN_TEXT, min_size=1, max_size=3, unique_by=sanitized).filter(
            lambda names: "" not in map(sanitized, names)
        )
    )
    results = []
    for index in range(draw(st.integers(0, 25))):
        file = draw(st.sampled_from(files))
        metrics = draw(
            st.dictionaries(
                st.sampled_from(["acc", "loss", "f1"]),
                st.one_of(st.floats(), st.sampled_from([0.5, 0.25])),
            )
        )
        results.append(
            case(
                nodeid=f"{file}::exp[{index}]",
                file=file,
                experiment=draw(st.sampled_from(["exp_a", "exp_b"])),
                case_id=f"exp[{index}]",
                metrics=metrics,
                directions={"loss": "lower"},
                expect=draw(st.sampled_from([{}, {"loss": "< 1"}, {"f1": "> 0"}])),
            )
        )
    return results


@settings(max_examples=80, deadline=None)
@given(results=ranked_sessions(), mode=st.sampled_from(["file", "global"]))
def test_leaderboards_rank_only_their_own_cases(results: list[CaseResult], mode: str) -> None:
    text = render_markdown(make_session(leaderboard=mode), results)
    boards = leaderboards(text)
    if mode == "global":
        groups = {"": results} if boards else {}
        assert set(boards) <= {""}
    else:
        groups = {sanitized(r.file): [] for r in results}
        for result in results:
            groups[sanitized(result.file)].append(result)
        assert set(boards) <= set(groups)
        groups = {file: groups[file] for file in boards}
    for file, mine in groups.items():
        board = boards[file]
        metric = board.header[-2]
        assert metric == choose_primary_metric(mine, None)
        by_label = {r.case_id[4:-1]: r for r in mine}
        rows = [by_label[unescape(c)] for c in board.column("case")]  # only this file's
        lower = metric == "loss"
        values = [r.metrics[metric] for r in rows]
        assert all(math.isfinite(v) for v in values)
        assert values == sorted(values, reverse=not lower)
        ranks = [int(unescape(c)) for c in board.column("rank")]
        assert ranks == sorted(ranks) and ranks[:1] == [1] and ranks[-1] <= 10
        finite = [r for r in mine if math.isfinite(r.metrics.get(metric, math.nan))]
        # Everyone ranked above the last shown value is shown.
        worst = values[-1]
        assert len(rows) >= sum(
            1 for r in finite if (r.metrics[metric] < worst) == lower and r.metrics[metric] != worst
        )
        assert len(rows) >= min(10, len(finite))
    if mode == "file":
        # Every file with two or more ranked cases has its board.
        for file in dict.fromkeys(r.file for r in results):
            mine = [r for r in results if r.file == file]
            primary = choose_primary_metric(mine, None)
            ranked = sum(1 for r in mine if math.isfinite(r.metrics.get(str(primary), math.nan)))
            assert (sanitized(file) in boards) == (ranked >= 2), file


def test_no_leaderboard_without_metrics() -> None:
    results = [case(outcome="crashed", message="worker died")]
    text = render_markdown(make_session(), results)
    assert "## Leaderboard" not in text
    assert "## Failures" in text


def test_failures_section_keeps_message_intact(markdown: str) -> None:
    failures = markdown.split("\n## Failures\n", 1)[1]
    assert "### experiments/exp\\_rf.py::exp\\_rf\\[html\\]" in failures
    assert "### experiments/exp\\_lr.py::exp\\_lr\\[C=100\\]" in failures
    assert "exp\\_rf\\[a\\|b\\]" not in failures  # passed: not listed
    section = failures.split("### experiments/exp\\_lr.py::exp\\_lr\\[C=100\\]", 1)[1]
    lines = section.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("```"))
    fence = re.match(r"`+", lines[start])
    assert fence is not None
    # Longer than the 5-backtick run inside the message.
    assert len(fence.group()) > 5
    end = lines.index(fence.group(), start + 1)
    assert "\n".join(lines[start + 1 : end]) == FENCE_MESSAGE


def test_no_failures_section_when_all_pass() -> None:
    text = render_markdown(make_session(), [case(metrics={"m": 1.0})])
    assert "## Failures" not in text


def test_extra_sections_appended_verbatim(markdown: str) -> None:
    assert markdown.endswith("\n\n## Custom\n\nhello from a hook\n")
    assert markdown.index("## Failures") < markdown.index("## Custom")


def test_empty_results() -> None:
    text = render_markdown(make_session(), [])
    assert text.startswith("# Experiment report\n")
    assert parse_tables(text) == []


def test_doc_cannot_become_a_block() -> None:
    for doc in ("# Title", "- item", "1. first", "---", "<script>x</script>"):
        text = render_markdown(make_session(), [case(doc=doc, metrics={"m": 1.0})])
        para = text.split("\n\n")[text.split("\n\n").index("## exp (e.py)") + 1]
        assert not re.match(r"(#|-|\+|\d+[.)]|<)", para), para


# ------------------------------------------------------------------ hypothesis

# ANSI escape sequences are removed as a whole, which `sanitized` does not model.
PLAIN_TEXT = TEXT.filter(lambda t: "\x1b" not in t)
KEYS = st.text(min_size=1, max_size=12).filter(lambda s: "\x1b" not in s)
SCALARS = st.one_of(
    PLAIN_TEXT,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
)


@settings(max_examples=60, deadline=None)
@given(
    params=st.dictionaries(KEYS, SCALARS, max_size=4),
    metrics=st.dictionaries(KEYS, st.floats(), max_size=3),
    case_label=TEXT,
    experiment=TEXT,
    message=st.one_of(st.none(), TEXT),
)
def test_arbitrary_case_renders_well_formed_tables(
    params: dict[str, object],
    metrics: dict[str, float],
    case_label: str,
    experiment: str,
    message: str | None,
) -> None:
    result = case(
        experiment=experiment,
        case_id=f"exp[{case_label}]",
        params=params,
        metrics=metrics,
        outcome="failed",
        message=message,
    )
    text = render_markdown(make_session(), [result])
    tables = parse_tables(text)
    table = next(t for t in tables if t.heading != "Leaderboard")
    assert len(table.rows) == 1
    # case, params, metrics, outcome, duration (no run id: no run column).
    assert len(table.header) == 1 + len(params) + len(metrics) + 2
    assert len(table.rows[0]) == len(table.header)
    for column, (key, value) in enumerate(params.items(), start=1):
        assert table.header[column] == sanitized(key).strip()
        if isinstance(value, str):
            assert unescape(table.rows[0][column]) == sanitized(value).strip()
    assert "<" not in text.split("## Failures")[0]


# ------------------------------------------------------------------ JSON


def _reject_constant(name: str) -> float:
    raise AssertionError(f"invalid JSON constant {name}")


def test_render_json_round_trips_with_nan() -> None:
    results = make_results()
    results[0].metrics["weird"] = -math.inf
    session = make_session(partial=True)
    text = render_json(session, results)
    assert text.endswith("\n")
    data = json.loads(text, parse_constant=_reject_constant)
    assert set(data) == {"session", "counts", "results"}
    assert data["session"]["partial"] is True
    assert data["counts"] == {
        "passed": 2,
        "new": 1,
        "failed": 0,
        "regressed": 1,
        "error": 1,
        "crashed": 0,
    }
    assert [r["nodeid"] for r in data["results"]] == [r.nodeid for r in results]
    assert data["results"][2]["metrics"]["log_loss"] == "nan"
    assert data["results"][0]["metrics"]["weird"] == "-inf"
    assert data["results"][0]["metrics"]["accuracy"] == 0.85
    assert data["results"][0]["comparisons"]["accuracy"]["status"] == "better"
    # Finite values survive exactly and rebuild the same record.
    rebuilt = CaseResult.from_dict(data["results"][1])
    assert rebuilt == results[1]


def test_render_json_names_the_metrics_the_leaderboard_used() -> None:
    results = two_datasets()
    data = json.loads(render_json(make_session(), results))["session"]
    boards = leaderboards(render_markdown(make_session(), results))
    assert data["leaderboard"] == "file"
    # Per file, the metric its leaderboard ranked by.
    assert data["primary_metrics"] == {file: board.header[-2] for file, board in boards.items()}
    # The session-wide choice (housing's expect names rmse) is never null when
    # cases returned metrics.
    assert data["primary_metric"] == choose_primary_metric(results, None) == "rmse"

    session = make_session(leaderboard="global")
    data = json.loads(render_json(session, results))["session"]
    board = table_under(render_markdown(session, results), "Leaderboard")
    assert data["leaderboard"] == "global"
    assert data["primary_metric"] == board.header[-2]
    assert data["primary_metrics"] == dict.fromkeys(boards, board.header[-2])


def test_render_json_keeps_a_configured_primary_metric() -> None:
    results = make_results()
    data = json.loads(render_json(make_session(primary_metric="log_loss"), results))
    assert data["session"]["primary_metric"] == "log_loss"
    assert set(data["session"]["primary_metrics"].values()) == {"log_loss"}
    data = json.loads(render_json(make_session(), []))
    assert data["session"]["primary_metric"] is None
    assert data["session"]["primary_metrics"] == {}


@settings(max_examples=60, deadline=None)
@given(results=ranked_sessions(), mode=st.sampled_from(["file", "global"]))
def test_render_json_agrees_with_every_leaderboard(results: list[CaseResult], mode: str) -> None:
    session = make_session(leaderboard=mode)
    data = json.loads(render_json(session, results))["session"]
    assert data["leaderboard"] == mode
    assert set(data["primary_metrics"]) == {r.file for r in results}
    for file, board in leaderboards(render_markdown(session, results)).items():
        metric = board.header[-2]
        if mode == "global":
            assert data["primary_metric"] == metric
            assert set(data["primary_metrics"].values()) == {metric}
        else:
            assert {m for f, m in data["primary_metrics"].items() if sanitized(f) == file} == {
                metric
            }


@settings(max_examples=40, deadline=None)
@given(metrics=st.dictionaries(KEYS, st.floats(), max_size=4), text=TEXT)
def test_render_json_always_valid(metrics: dict[str, float], text: str) -> None:
    result = case(metrics=metrics, message=text, params={"p": text})
    data = json.loads(render_json(make_session(), [result]), parse_constant=_reject_constant)
    got = data["results"][0]
    assert got["message"] == text and got["params"]["p"] == text
    for key, value in metrics.items():
        expected = value if math.isfinite(value) else format_number(value)
        assert got["metrics"][key] == expected


# ------------------------------------------------------------------ readability


def test_params_shown_as_written() -> None:
    # A float param keeps its decimal point, as in the case id "C=1.0"; metrics
    # are the ones rounded for display.
    results = [
        case(case_id="exp[C=1.0]", params={"C": 1.0, "lr": 0.000123456789, "n": 7}),
        case(case_id="exp[C=None]", params={"C": None, "lr": True, "n": "x"}),
    ]
    table = parse_tables(render_markdown(make_session(), results))[0]
    assert [unescape(c) for c in table.column("C")] == ["1.0", "None"]
    assert [unescape(c) for c in table.column("lr")] == ["0.000123456789", "True"]
    assert [unescape(c) for c in table.column("n")] == ["7", "x"]


def test_values_that_show_the_same_are_all_best() -> None:
    # Differ only in the 16th digit: they read the same, so both are bold and
    # share a leaderboard rank.
    results = [
        case(case_id="exp[a]", metrics={"auc": 0.9426406926406925}),
        case(case_id="exp[b]", metrics={"auc": 0.9426406926406927}),
        case(case_id="exp[c]", metrics={"auc": 0.5}),
    ]
    text = render_markdown(make_session(), results)
    table = table_under(text, "exp (e.py)")
    assert [bold_value(c) for c in table.column("auc")] == [
        (True, "0.9426"),
        (True, "0.9426"),
        (False, "0.5000"),
    ]
    board = table_under(text, "Leaderboard")
    assert [unescape(c) for c in board.column("rank")] == ["1", "1", "3"]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.432, "0.43 s"),
        (59.99, "59.99 s"),
        (59.999, "1 min 00 s"),
        (125.4, "2 min 05 s"),
        (3725, "1 h 02 min"),
    ],
)
def test_long_durations_read_as_minutes(seconds: float, expected: str) -> None:
    table = parse_tables(render_markdown(make_session(), [case(duration=seconds)]))[0]
    assert unescape(table.column("duration")[0]) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # Same decimals down a column, so right-aligned numbers line up.
        ([0.8235, 0.8, 0.881], ["0.8235", "0.8000", "0.8810"]),
        ([12.5, 3.0, 100.0], ["12.5", "3.0", "100.0"]),
        # Non-finite values stay as they are; they do not set the decimals.
        ([0.5, math.nan, -math.inf], ["0.5", "nan", "-inf"]),
        # An exponent or very many decimals: each value keeps its own form.
        ([1e-07, 0.5], ["1e-07", "0.5"]),
        ([0.0001234, 0.5], ["0.0001234", "0.5"]),
        ([3.0, 4.0], ["3", "4"]),
    ],
)
def test_metric_columns_share_decimals(values: list[float], expected: list[str]) -> None:
    results = [case(case_id=f"exp[{i}]", metrics={"m": v}) for i, v in enumerate(values)]
    table = parse_tables(render_markdown(make_session(), results))[0]
    assert [bold_value(c)[1] for c in table.column("m")] == expected
    # The shown value is the value, to its shown precision.
    for text, value in zip(expected, values, strict=True):
        if math.isfinite(value):
            assert float(text) == pytest.approx(value, rel=1e-3)
    terminal = render_terminal(results)
    assert [line.split()[1] for line in terminal[3 : 3 + len(values)]] == expected


def test_deltas_unchanged_everywhere_are_one_sentence() -> None:
    # The heart study rerun on its own baseline: three delta columns of "= same"
    # become one line.
    text = render_markdown(make_session(), heart_like_results(moved=False))
    assert "\nAll 3 cases match the baseline on accuracy, f1 and roc\\_auc.\n" in text
    table = parse_tables(text)[0]
    assert table.header == [
        "case",
        "n_estimators",
        "accuracy",
        "f1",
        "roc_auc",
        "outcome",
        "duration",
    ]
    # One metric moved: only its column is shown, the others stay a sentence.
    text = render_markdown(make_session(), heart_like_results(moved=True))
    assert "\nAll 3 cases match the baseline on f1 and roc\\_auc.\n" in text
    table = parse_tables(text)[0]
    assert "Δ accuracy" in table.header and "Δ f1" not in table.header
    assert [unescape(c) for c in table.column("Δ accuracy")] == [
        "= same",
        "-0.0339 ▼ worse (regressed)",
        "= same",
    ]
    single = [heart_like_results(moved=False)[0]]
    text = render_markdown(make_session(), single)
    assert "\nThe case matches the baseline on accuracy, f1 and roc\\_auc.\n" in text


def test_new_case_keeps_delta_columns() -> None:
    # A case without a baseline next to unchanged ones: the column stays, with "new".
    results = heart_like_results(moved=False)
    results[1] = case(
        nodeid=results[1].nodeid,
        file=results[1].file,
        experiment=results[1].experiment,
        case_id=results[1].case_id,
        params=results[1].params,
        metrics=results[1].metrics,
        outcome="new",
    )
    text = render_markdown(make_session(), results)
    assert "match the baseline" not in text
    table = parse_tables(text)[0]
    assert [unescape(c) for c in table.column("Δ accuracy")] == ["= same", "new", "= same"]


# ------------------------------------------------------------------ spread and the gate


def spread_of(samples: list[float]) -> dict[str, object]:
    mean = statistics.fmean(samples)
    return {"mean": mean, "n": len(samples), "std": statistics.stdev(samples), "samples": samples}


def gated(metric: str, delta: float, status: Status, p_value: float | None) -> Comparison:
    return Comparison(
        metric=metric,
        baseline=0.9,
        current=0.9 + delta,
        delta=delta,
        direction="higher",
        tolerance="0.01",
        status=status,
        baseline_n=1 if p_value is None else 8,
        current_n=1 if p_value is None else 8,
        p_value=p_value,
    )


def test_metric_cells_show_the_95_percent_interval_when_repeated() -> None:
    samples = [0.84, 0.86, 0.83, 0.87, 0.85]
    repeated = case(
        case_id="exp[r]",
        metrics={"acc": statistics.fmean(samples)},
        spread={"acc": spread_of(samples)},
    )
    single = case(case_id="exp[s]", metrics={"acc": 0.8})
    table = parse_tables(render_markdown(make_session(), [repeated, single]))[0]
    bold, text = bold_value(table.row("r")["acc"])
    mean, _, half = text.partition(" ± ")
    assert bold and float(mean) == pytest.approx(statistics.fmean(samples), abs=5e-5)
    from scipy import stats as scipy_stats

    expected = scipy_stats.t.ppf(0.975, 4) * statistics.stdev(samples) / math.sqrt(5)
    assert float(half) == pytest.approx(expected, rel=0.05)  # two significant digits
    assert "±" not in table.row("s")["acc"]
    # The terminal shows the mean, whole.
    assert_numbers_uncut([repeated, single], render_terminal([repeated, single], width=80))


@pytest.mark.parametrize(("p_value", "shown"), [(0.0143, 0.014), (0.2, 0.2), (0.0004, None)])
def test_delta_cells_give_the_p_value_of_noise_and_regressions(
    p_value: float, shown: float | None
) -> None:
    results = [
        case(
            case_id="exp[a]",
            metrics={"acc": 0.87},
            comparisons={"acc": gated("acc", -0.03, "regressed", p_value)},
            outcome="regressed",
            has_baseline=True,
        ),
        case(
            case_id="exp[b]",
            metrics={"acc": 0.88},
            comparisons={"acc": gated("acc", -0.02, "noise", p_value)},
            has_baseline=True,
        ),
    ]
    table = parse_tables(render_markdown(make_session(), results))[0]
    for label, words in (("a", "regressed"), ("b", "within noise")):
        cell = unescape(table.row(label)["Δ acc"])
        match = re.fullmatch(rf"(-0\.0\d) ▼ worse \({words}, p=(<?)([0-9.e-]+)\)", cell)
        assert match is not None, cell
        if shown is None:
            assert match.group(2) == "<" and float(match.group(3)) == 0.001
        else:
            assert match.group(2) == "" and float(match.group(3)) == pytest.approx(shown)


def test_gate_notes_under_the_table() -> None:
    results = [
        case(
            case_id="exp[up]",
            metrics={"acc": 0.95},
            has_baseline=True,
            comparisons={"acc": gated("acc", 0.05, "better", 0.9)},
        ),
        case(
            case_id="exp[noisy]",
            metrics={"acc": 0.88},
            has_baseline=True,
            comparisons={"acc": gated("acc", -0.02, "noise", 0.2)},
        ),
        case(
            case_id="exp[blind]",
            metrics={"acc": 0.85},
            has_baseline=True,
            outcome="regressed",
            comparisons={"acc": gated("acc", -0.05, "regressed", None)},
        ),
    ]
    text = render_markdown(make_session(), results)
    after = text.split("| blind |", 1)[1].split("\n## ", 1)[0]
    assert "1 case improved on the baseline" in after
    assert "1 metric worse than the baseline by more than the tolerance" in after
    assert "No noise estimate for some comparisons" in after and "log_predictions" in after
    # Not gated: nothing said about noise or missing spread.
    quiet = [
        case(
            case_id=r.case_id,
            metrics=r.metrics,
            has_baseline=True,
            comparisons={m: dataclasses.replace(c, gated=False) for m, c in r.comparisons.items()},
        )
        for r in results[1:]
    ]
    text = render_markdown(make_session(), quiet)
    # The delta cells say the metric is not gated, with no alarming "worse".
    cells = [unescape(c) for c in parse_tables(text)[0].column("Δ acc")]
    assert cells == ["-0.02 (not gated)", "-0.05 (not gated)"]
    assert "by more than the tolerance" not in text and "No noise estimate" not in text


def decimals(text: str) -> int:
    assert "e" not in text, text
    return len(text.partition(".")[2])


def test_intervals_keep_two_significant_digits_the_column_shares_them_and_is_labelled() -> None:
    # Spread of about 3 (half-width 2.x): 55.8486 ± 2.6 would claim digits
    # that are noise; the column keeps the interval's one decimal throughout.
    samples = [50.0, 52.5, 55.0, 58.5, 60.0, 57.0, 59.0, 54.788]
    repeated = case(
        case_id="exp[r]",
        metrics={"mse": statistics.fmean(samples)},
        spread={"mse": spread_of(samples)},
    )
    single = case(case_id="exp[s]", metrics={"mse": 61.12345})
    text = render_markdown(make_session(), [repeated, single])
    table = parse_tables(text)[0]
    mean, _, half = bold_value(table.row("r")["mse"])[1].partition(" ± ")
    other = bold_value(table.row("s")["mse"])[1]
    assert decimals(mean) == decimals(half) == decimals(other) == 1, (mean, half, other)
    expected = scipy_stats_half(samples)
    assert 1 <= expected < 10  # one decimal gives it two significant digits
    assert float(half) == pytest.approx(expected, abs=0.05)
    assert float(mean) == pytest.approx(statistics.fmean(samples), abs=0.05)
    # Labelled once, under the table.
    assert text.count("95% confidence interval") == 1
    assert "95% confidence" not in render_markdown(make_session(), [single])


def scipy_stats_half(samples: list[float]) -> float:
    from scipy import stats as scipy_stats

    n = len(samples)
    return float(scipy_stats.t.ppf(0.975, n - 1) * statistics.stdev(samples) / math.sqrt(n))


def test_deltas_of_a_column_share_their_decimals() -> None:
    results = [
        case(
            case_id=f"exp[{label}]",
            metrics={"acc": 0.9 + delta},
            has_baseline=True,
            comparisons={"acc": gated("acc", delta, "better", None)},
        )
        for label, delta in (("big", 0.004), ("tiny", 6.688e-05))
    ]
    table = parse_tables(render_markdown(make_session(), results))[0]
    cells = [unescape(c).split(" ")[0] for c in table.column("Δ acc")]
    assert decimals(cells[0]) == decimals(cells[1]), cells
    assert float(cells[0]) == pytest.approx(0.004) and cells[1].startswith("+0.0000")
    terminal = [
        line.split()
        for line in render_terminal(results, width=80)
        if line.startswith(("big", "tiny"))
    ]
    assert decimals(terminal[0][2]) == decimals(terminal[1][2]) == decimals(cells[0])

    # Plain forms that need more decimals than a column pads to.
    mixed = [
        case(
            case_id=f"exp[{label}]",
            metrics={"r2": 0.4 + delta},
            has_baseline=True,
            comparisons={"r2": gated("r2", delta, "better", None)},
        )
        for label, delta in (("a", 0.0002324), ("b", 0.009342), ("c", 0.1126))
    ]
    table = parse_tables(render_markdown(make_session(), mixed))[0]
    cells = [unescape(c).split(" ")[0] for c in table.column("Δ r2")]
    assert len({decimals(c) for c in cells}) == 1, cells
    assert float(cells[2]) == pytest.approx(0.1126)

    # With intervals, a delta keeps the precision of the means it joins.
    samples = [3000.0, 3100.0, 2950.0, 3180.0]
    spread = case(
        case_id="exp[s]",
        metrics={"mse": statistics.fmean(samples)},
        spread={"mse": spread_of(samples)},
        has_baseline=True,
        comparisons={"mse": gated("mse", 53.6276, "better", None)},
    )
    row = parse_tables(render_markdown(make_session(), [spread]))[0].row("s")
    value = bold_value(row["mse"])[1].partition(" ± ")[0]
    assert decimals(unescape(row["Δ mse"]).split(" ")[0]) == decimals(value) == 0


def test_a_metric_that_is_not_gated_is_not_marked_worse() -> None:
    worse = dataclasses.replace(gated("r2", -0.03, "worse", None), gated=False)
    noise = gated("acc", -0.02, "noise", 0.2)
    result = case(
        metrics={"acc": 0.88, "r2": 0.87},
        has_baseline=True,
        comparisons={"acc": noise, "r2": worse},
    )
    row = parse_tables(render_markdown(make_session(), [result]))[0].row("x")
    assert unescape(row["Δ r2"]) == "-0.03 (not gated)"
    assert unescape(row["Δ acc"]).startswith("-0.02 ▼ worse (within noise")
    line = next(line for line in render_terminal([result], width=80) if line.startswith("x "))
    assert "-0.03 not gated" in line and "-0.02 noise" in line


def test_a_shared_module_docstring_is_shown_once_per_file() -> None:
    module_doc = "Digits: one model per experiment."
    results = [
        case(nodeid=f"e.py::{name}[x]", experiment=name, case_id=f"{name}[x]", doc=doc)
        for name, doc in (
            ("exp_a", module_doc),
            ("exp_b", module_doc),
            ("exp_c", "Its own description."),
        )
    ] + [case(nodeid="f.py::exp_d[x]", file="f.py", experiment="exp_d", doc=module_doc)]
    text = render_markdown(make_session(), results)
    assert text.count(module_doc) == 2  # once for e.py, once for f.py
    assert text.count("Its own description.") == 1
    assert text.index(module_doc) < text.index("## exp\\_b")


def test_the_leaderboard_shows_values_as_the_table_does() -> None:
    spreads = {"a": [50.0, 52.5, 55.0, 58.5], "b": [60.0, 61.0, 64.5, 66.0]}
    results = [
        case(
            nodeid=f"e.py::exp[{label}]",
            case_id=f"exp[{label}]",
            metrics={"mse": statistics.fmean(samples)},
            spread={"mse": spread_of(samples)},
            directions={"mse": "lower"},
        )
        for label, samples in spreads.items()
    ]
    text = render_markdown(make_session(), results)
    tables = parse_tables(text)
    shown = [bold_value(c)[1].partition(" ± ")[0] for c in tables[0].column("mse")]
    ranked = [unescape(c) for c in tables[-1].column("mse")]
    assert ranked == shown, (ranked, shown)


def test_the_gate_lines_show_the_bound_beside_the_tolerance_and_what_it_catches() -> None:
    paired = dataclasses.replace(
        gated("acc", -0.038, "noise", 0.30),
        test="paired t",
        noise="test examples and seeds",
        bound=0.09661,
        detectable=0.1195,
    )
    blind = dataclasses.replace(
        gated("acc", -0.05, "noise", 0.004), test="permutation", noise="seeds", p_floor=1 / 252
    )
    untested = gated("acc", 0.0, "same", None)
    results = [
        case(
            case_id="exp[a]", metrics={"acc": 0.86}, has_baseline=True, comparisons={"acc": paired}
        ),
        case(
            case_id="exp[b]", metrics={"acc": 0.85}, has_baseline=True, comparisons={"acc": blind}
        ),
        case(
            case_id="exp[c]",
            metrics={"acc": 0.85},
            has_baseline=True,
            comparisons={"acc": untested},
        ),
    ]
    text = render_markdown(make_session(), results)
    assert "the one-sided 95% upper bound on the worsening" in text
    (line,) = [unescape(x) for x in text.splitlines() if x.startswith("- acc")]
    assert line == (
        "- acc (tolerance 0.01; paired t over test examples and seeds; permutation over seeds): "
        "a ≤ 0.097 [catches 0.12], b cannot fail: p ≥ 0.004"
    )
    assert len(parse_tables(text)) == 2  # the experiment's table and the leaderboard
    # nothing tested: no gate lines
    quiet = render_markdown(make_session(), [results[2]])
    assert "upper bound on the worsening" not in quiet


def test_a_small_delta_beside_a_huge_one_is_not_shown_as_zero() -> None:
    """Found by hypothesis: sharing the decimals of +999940 wrote +0.5 as "0"
    beside "better", a number cut to nothing."""
    results = [
        case(
            case_id=f"exp[{label}]",
            metrics={"m": 1.0 + delta},
            has_baseline=True,
            comparisons={"m": gated("m", delta, "better", None)},
        )
        for label, delta in (("huge", 999940.0), ("small", 0.5), ("tiny", 0.00012345678))
    ]
    table = parse_tables(render_markdown(make_session(), results))[0]
    cells = [unescape(c).split(" ")[0] for c in table.column("Δ m")]
    assert cells == ["+999940.0000", "+0.5000", "+0.0001"]
    terminal = [line.split() for line in render_terminal(results, width=80)]
    assert ["small", "1.5000", "+0.5000", "better"] in [row[:4] for row in terminal]
