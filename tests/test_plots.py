"""Tests of the report's plots (``pytest_experiments.plots``).

Pictures are checked by what they plot, read back from the matplotlib figure
(line data, error bar segments, bar heights, axis scale), never by pixels.
Expected points are computed here from the numbers the cases were given
(means, and 95% intervals from SciPy's t quantile), not by the plugin's code.
PNG files are checked by their signature and IHDR header, and the report's
Markdown image links by reading them back. Two end-to-end runs go through
pytester in-process with tracking off.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Imported before any in-process pytester run, which would otherwise drop
# modules it loaded (numpy cannot be imported twice per process).
import matplotlib.figure  # noqa: F401
import numpy  # noqa: F401
import pytest
from _forked import runpytest_forked
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.lines import Line2D
from scipy import stats as scipy_stats

from pytest_experiments import plots
from pytest_experiments.experiment_run import CURVE_POINTS, ExperimentRun
from pytest_experiments.reporting import render_markdown
from pytest_experiments.results import CaseResult, Comparison, SessionInfo
from pytest_experiments.stats import Summary

FILE = "experiments/exp_001_sweep.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_LINK = re.compile(r"!\[((?:\\.|[^\]\\])*)\]\(([^)\s]+)\)")


# ------------------------------------------------------------------ helpers


def case(
    params: dict[str, Any],
    metrics: dict[str, float | list[float]] | None = None,
    *,
    experiment: str = "exp_sweep",
    file: str = FILE,
    baseline: dict[str, float] | None = None,
    gated: Sequence[str] | None = None,
    expect: dict[str, str] | None = None,
    curves: dict[str, list[list[float]]] | None = None,
    outcome: str = "passed",
) -> CaseResult:
    """A result as the runner makes it: a list of samples gives mean and spread."""
    label = "-".join(f"{k}={v}" for k, v in params.items())
    means: dict[str, float] = {}
    spread: dict[str, dict[str, Any]] = {}
    for metric, value in (metrics or {}).items():
        if isinstance(value, list):
            summary = Summary.of(value)
            means[metric] = summary.mean
            spread[metric] = summary.to_dict()
        else:
            means[metric] = value
    comparisons = {
        metric: Comparison(
            metric=metric,
            baseline=base,
            current=means[metric],
            delta=means[metric] - base,
            direction="higher",
            tolerance="0",
            status="same",
            gated=gated is None or metric in gated,
        )
        for metric, base in (baseline or {}).items()
    }
    return CaseResult.for_item(
        f"{file}::{experiment}[{label}]",
        file,
        params=params,
        metrics=means,
        spread=spread,
        comparisons=comparisons,
        has_baseline=bool(comparisons),
        expect=expect or {},
        curves=curves or {},
        outcome=outcome,
    )


def half_width(samples: Sequence[float]) -> float:
    """95% CI half width of the mean, straight from SciPy's t distribution."""
    n = len(samples)
    return float(scipy_stats.t.ppf(0.975, n - 1)) * statistics.stdev(samples) / math.sqrt(n)


def only(specs: list[plots.PlotSpec], metric: str, kind: str = "sweep") -> plots.PlotSpec:
    found = [s for s in specs if s.metric == metric and s.kind == kind]
    assert len(found) == 1, [(s.metric, s.kind) for s in specs]
    return found[0]


def axes_of(spec: plots.PlotSpec) -> Axes:
    figure = plots.render(spec)
    assert len(figure.axes) == 1
    return figure.axes[0]


def data_lines(ax: Axes) -> list[Line2D]:
    """The data line of each errorbar series, labelled as its container is."""
    lines: list[Line2D] = []
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            line = container.lines[0]
            line.set_label(container.get_label())
            lines.append(line)
    return lines


def baseline_lines(ax: Axes) -> list[Line2D]:
    return [line for line in ax.get_lines() if str(line.get_label()).startswith("baseline")]


def xy(line: Line2D) -> tuple[Any, Any]:
    """The line's points as lists (typed Any: tests compare them with pytest.approx)."""
    x: Any = line.get_xdata()
    y: Any = line.get_ydata()
    return [float(v) for v in x], [float(v) for v in y]


def error_segments(container: ErrorbarContainer) -> list[float]:
    """x, low, high of each error bar drawn, in x order, one flat list."""
    _, _, bar_collections = container.lines
    found: list[tuple[float, float, float]] = []
    for collection in bar_collections:
        for segment in collection.get_segments():
            (x0, y0), (x1, y1) = segment
            assert x0 == x1
            found.append((float(x0), float(min(y0, y1)), float(max(y0, y1))))
    return [value for bar in sorted(found) for value in bar]


def bars_of(points: Sequence[tuple[float, Sequence[float]]]) -> list[float]:
    """The error bars expected for (x, samples): x, mean - half width, mean + half width."""
    flat: list[float] = []
    for x, samples in points:
        mean, half = statistics.fmean(samples), half_width(samples)
        flat += [x, mean - half, mean + half]
    return flat


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which must come first)."""
    head = path.read_bytes()[:33]
    assert head[:8] == PNG_SIGNATURE, path
    length, kind = struct.unpack(">I4s", head[8:16])
    assert kind == b"IHDR" and length == 13, (kind, length)
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def image_links(markdown: str) -> list[tuple[str, str]]:
    return [(alt, target) for alt, target in IMAGE_LINK.findall(markdown)]


# -------------------------------------------------------------- sweep plots

C_GRID = [0.01, 0.1, 1.0, 10.0, 100.0]
SAMPLES = {c: [0.70 + 0.01 * i + 0.002 * k for k in range(4)] for i, c in enumerate(C_GRID)}


def test_a_log_spaced_sweep_plots_means_intervals_and_baseline() -> None:
    results = [
        case({"C": c}, {"accuracy": SAMPLES[c]}, baseline={"accuracy": 0.7 + 0.01 * i})
        for i, c in enumerate(reversed(C_GRID))  # out of order: the line is sorted by x
    ]
    spec = only(plots.experiment_plots(results), "accuracy")
    assert (spec.x_label, spec.title, spec.log_x) == ("C", "accuracy vs C", True)
    ax = axes_of(spec)
    assert ax.get_xscale() == "log"

    [line] = data_lines(ax)
    xs, ys = xy(line)
    assert xs == C_GRID
    assert ys == pytest.approx([statistics.fmean(SAMPLES[c]) for c in C_GRID])
    [container] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    expected = bars_of([(c, SAMPLES[c]) for c in C_GRID])
    assert error_segments(container) == pytest.approx(expected)

    [base] = baseline_lines(ax)
    assert base.get_linestyle() == "--"
    bx, by = xy(base)
    assert bx == C_GRID
    assert by == pytest.approx([0.7 + 0.01 * i for i in reversed(range(5))])
    assert "95% CI" in ax.get_ylabel()


def test_an_even_grid_keeps_a_linear_axis_and_no_error_bars_without_repeats() -> None:
    grid = [50, 100, 200, 300, 500]
    results = [case({"n_estimators": n}, {"accuracy": n / 1000}) for n in grid]
    spec = only(plots.experiment_plots(results), "accuracy")
    ax = axes_of(spec)
    assert ax.get_xscale() == "linear"
    [line] = data_lines(ax)
    assert xy(line) == (grid, pytest.approx([n / 1000 for n in grid]))
    [container] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert error_segments(container) == []
    assert baseline_lines(ax) == []  # no case has a baseline
    assert "CI" not in ax.get_ylabel()


def test_two_swept_params_give_one_line_per_value_of_the_second() -> None:
    results = [
        case({"depth": d, "lr": lr}, {"loss_like": d * lr}) for lr in (0.1, 0.5) for d in (2, 4, 8)
    ]
    spec = only(plots.experiment_plots(results), "loss_like")
    assert spec.x_label == "depth" and spec.series_params == ("lr",)
    ax = axes_of(spec)
    lines = {str(line.get_label()): xy(line) for line in data_lines(ax)}
    assert set(lines) == {"0.1", "0.5"}
    for lr in (0.1, 0.5):
        assert lines[str(lr)] == ([2, 4, 8], pytest.approx([d * lr for d in (2, 4, 8)]))
    legend = ax.get_legend()
    assert legend is not None and legend.get_title().get_text() == "lr"


def test_a_categorical_param_gives_bars_with_baseline_marks() -> None:
    scores = {"tree": [0.70, 0.72, 0.71], "forest": [0.80, 0.83, 0.81], "boost": [0.85, 0.84, 0.86]}
    results = [
        case({"model": m}, {"accuracy": s}, baseline={"accuracy": 0.5 + i / 10})
        for i, (m, s) in enumerate(scores.items())
    ]
    spec = only(plots.experiment_plots(results), "accuracy")
    assert spec.categories == ("tree", "forest", "boost") and not spec.log_x
    ax = axes_of(spec)
    [bars] = [c for c in ax.containers if isinstance(c, BarContainer)]
    heights = [patch.get_height() for patch in bars.patches]
    assert heights == pytest.approx([statistics.fmean(s) for s in scores.values()])
    centres = [patch.get_x() + patch.get_width() / 2 for patch in bars.patches]
    assert centres == pytest.approx([0, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["tree", "forest", "boost"]
    assert bars.errorbar is not None
    assert error_segments(bars.errorbar) == pytest.approx(bars_of(list(enumerate(scores.values()))))
    [base] = baseline_lines(ax)
    assert xy(base) == (pytest.approx([0, 1, 2]), pytest.approx([0.5, 0.6, 0.7]))


def test_categorical_bars_with_a_second_param_stand_side_by_side() -> None:
    results = [
        case({"model": m, "scaled": s}, {"f1": i + (0.5 if s else 0)})
        for s in (False, True)
        for i, m in enumerate(("a", "b"))
    ]
    ax = axes_of(only(plots.experiment_plots(results), "f1"))
    containers = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in containers] == ["False", "True"]
    left, right = ([p.get_height() for p in c.patches] for c in containers)
    assert left == [0, 1] and right == [0.5, 1.5]
    left_x = [p.get_x() for p in containers[0].patches]
    right_x = [p.get_x() for p in containers[1].patches]
    assert all(r > lx for lx, r in zip(left_x, right_x, strict=True))


def test_only_finite_values_of_cases_that_returned_metrics_are_plotted() -> None:
    results = [
        case({"k": 1}, {"score": 0.1}),
        case({"k": 2}, {"score": math.nan}, outcome="failed"),
        case({"k": 3}, outcome="error"),
        case({"k": 4}, {"score": 0.4}),
        case({"k": 5}, {"score": math.inf}, outcome="failed"),
    ]
    [line] = data_lines(axes_of(only(plots.experiment_plots(results), "score")))
    assert xy(line) == ([1, 4], [0.1, 0.4])


def test_no_sweep_plot_without_a_swept_param() -> None:
    one_value = [case({"k": 1, "tag": t}, {"score": s}) for t, s in (("x", math.nan), ("y", 1.0))]
    # "tag" takes two values, but only one case has a finite score.
    assert plots.experiment_plots(one_value) == []
    assert plots.experiment_plots([case({"k": 1}, {"score": 1.0})]) == []
    assert plots.experiment_plots([case({}, {"score": 1.0}), case({}, {"score": 2.0})]) == []


def test_gated_metrics_are_plotted_and_others_not() -> None:
    compared = [
        case(
            {"k": k},
            {"acc": 0.5, "f1": 0.4, "auc": 0.6},
            baseline={"acc": 0.5, "auc": 0.6},
            gated=["acc"],
        )
        for k in (1, 2)
    ]
    assert [s.metric for s in plots.experiment_plots(compared)] == ["acc"]
    declared = [case({"k": k}, {"acc": 0.5, "f1": 0.4}, expect={"f1": ">= 0.3"}) for k in (1, 2)]
    assert [s.metric for s in plots.experiment_plots(declared)] == ["f1"]
    undeclared = [case({"k": k}, {"acc": 0.5, "f1": 0.4}) for k in (1, 2)]
    assert [s.metric for s in plots.experiment_plots(undeclared)] == ["acc", "f1"]


def test_each_experiment_of_each_file_gets_its_own_plots() -> None:
    results = [
        case({"k": k}, {"acc": k}, experiment=name, file=file)
        for file in ("a/exp_same.py", "b/exp_same.py")
        for name in ("exp_one", "exp_two")
        for k in (1, 2)
    ]
    specs = plots.experiment_plots(results)
    assert [(s.file, s.experiment) for s in specs] == [
        ("a/exp_same.py", "exp_one"),
        ("a/exp_same.py", "exp_two"),
        ("b/exp_same.py", "exp_one"),
        ("b/exp_same.py", "exp_two"),
    ]
    assert len({s.name for s in specs}) == 4


# --------------------------------------------------------------- learning curves


def test_a_learning_curve_draws_one_line_per_case() -> None:
    curves = {k: [[float(step), 1 / (step + k)] for step in range(6)] for k in (1, 2, 3)}
    curves[3][2][1] = math.nan  # left out, the rest of the curve stays
    results = [case({"k": k}, {"acc": 0.5}, curves={"loss": curves[k]}) for k in (1, 2, 3)]
    spec = only(plots.experiment_plots(results), "loss", kind="curve")
    assert (spec.title, spec.x_label, spec.direction) == ("loss by step", "step", "lower")
    ax = axes_of(spec)
    lines = {str(line.get_label()): xy(line) for line in ax.get_lines()}
    assert set(lines) == {"k=1", "k=2", "k=3"}
    assert lines["k=1"] == ([0, 1, 2, 3, 4, 5], pytest.approx([1 / (s + 1) for s in range(6)]))
    assert lines["k=3"][0] == [0, 1, 3, 4, 5]


def test_curves_show_at_most_max_series_cases_and_say_so() -> None:
    count = plots.MAX_SERIES + 2
    results = [case({"k": k}, {}, curves={"loss": [[0, 1.0], [1, 0.5]]}) for k in range(count)]
    spec = only(plots.experiment_plots(results), "loss", kind="curve")
    assert len(spec.series) == plots.MAX_SERIES and spec.omitted == 2
    ax = axes_of(spec)
    assert len(ax.get_lines()) == plots.MAX_SERIES
    assert f"first {plots.MAX_SERIES} of {count}" in ax.get_title()


def test_a_single_point_is_no_curve() -> None:
    results = [case({"k": k}, {}, curves={"loss": [[0, 1.0]]}) for k in (1, 2)]
    assert plots.experiment_plots(results) == []


def test_log_metric_records_the_first_repeat_without_tracking() -> None:
    run = ExperimentRun(tracking=False)
    run.log_metric("loss", 0.9)
    run.log_metric("loss", 0.5)
    run.log_metric("val", 0.3, step=10)
    run.enter_repeat(1)
    run.log_metric("loss", 99.0)  # a later repeat: not in the report's curve
    assert run.curves == {"loss": [[0.0, 0.9], [1.0, 0.5]], "val": [[10.0, 0.3]]}
    assert run.metrics == []  # nothing tracked


def test_long_curves_are_thinned_for_the_report() -> None:
    run = ExperimentRun(tracking=False)
    total = 3 * CURVE_POINTS + 7
    for step in range(total):
        run.log_metric("loss", float(step))
    [(name, points)] = run.report_curves().items()
    assert name == "loss" and CURVE_POINTS // 2 <= len(points) <= CURVE_POINTS + 1
    steps = [p[0] for p in points]
    assert steps[0] == 0 and steps[-1] == total - 1 and steps == sorted(steps)
    assert all(p[0] == p[1] for p in points)


def test_curves_survive_the_trip_between_processes() -> None:
    result = case({"k": 1}, {"acc": 0.5}, curves={"loss": [[0.0, 1.0], [1.0, 0.5]]})
    again = CaseResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.curves == result.curves and again == result
    assert CaseResult.from_dict({**result.to_dict(), "curves": {}}).curves == {}


# ------------------------------------------------------------- files and links


def sweep_results() -> list[CaseResult]:
    return [
        *(
            case(
                {"C": c},
                {"accuracy": SAMPLES[c], "f1": 0.5},
                baseline={"accuracy": 0.7},
                expect={"accuracy": ">= 0.5"},
                curves={"loss": [[0, 1.0], [1, 0.4]]},
            )
            for c in C_GRID
        ),
        *(
            case({"model": m}, {"acc": i}, experiment="exp_models", file="other/exp_001_sweep.py")
            for i, m in enumerate(("a|b", "[x]", "$y$"))
        ),
    ]


def test_every_png_is_valid_linked_from_the_report_and_every_link_exists(
    tmp_path: Path,
) -> None:
    results = sweep_results()
    folder = tmp_path / "report_files"
    written = plots.write_all(results, folder)
    assert written.problems == []
    paths = written.paths()
    assert set(paths) == {(FILE, "exp_sweep"), ("other/exp_001_sweep.py", "exp_models")}
    files = sorted(folder.iterdir())
    assert sorted(p for ps in paths.values() for p in ps) == files
    assert len(files) == 3  # accuracy (gated) and the loss curve; acc of exp_models
    for path in files:
        assert path.suffix == ".png" and re.fullmatch(r"[a-z0-9_-]+\.png", path.name)
        width, height = png_size(path)
        assert width > 200 and height > 200

    links = {
        key: [(p.spec.title, f"{folder.name}/{p.path.name}") for p in found]
        for key, found in written.by_experiment.items()
    }
    session = SessionInfo(started="2026-01-01T00:00:00+00:00")
    markdown = render_markdown(session, results, plots=links)
    linked = image_links(markdown)
    targets = [target for _, target in linked]
    assert sorted(tmp_path / t for t in targets) == files  # each linked once, each exists
    assert ("accuracy vs C", f"report_files/{paths[(FILE, 'exp_sweep')][0].name}") in linked
    # Each image sits in its own experiment's section.
    sections = markdown.split("\n## ")
    for (file, _), found in paths.items():
        heading = f"({file})".replace("_", "\\_")
        [section] = [s for s in sections if s.split("\n", 1)[0].endswith(heading)]
        assert all(f"report_files/{p.name}" in section for p in found)
    # Without plots the report has no images at all.
    assert image_links(render_markdown(session, results)) == []


def test_a_users_matplotlib_settings_do_not_reach_the_plots(tmp_path: Path) -> None:
    import matplotlib

    spec = plots.experiment_plots(sweep_results())[0]
    # LaTeX is not installed here: text.usetex would fail the drawing if it leaked in.
    with matplotlib.rc_context(
        {"text.usetex": True, "savefig.dpi": 300, "figure.figsize": (2, 2), "axes.grid": False}
    ):
        path = plots.write_png(spec, tmp_path / "plot.png")
        assert matplotlib.rcParams["text.usetex"] is True  # and the user's settings stay
    assert png_size(path) == (640, 400)


def test_image_links_are_escaped_and_percent_encoded() -> None:
    results = [case({"k": k}, {"a]b": k}) for k in (1, 2)]
    session = SessionInfo(started="now")
    markdown = render_markdown(
        session, results, plots={(FILE, "exp_sweep"): [("a]b vs k", "my report_files/x (1).png")]}
    )
    assert image_links(markdown) == [("a\\]b vs k", "my%20report_files/x%20%281%29.png")]


def test_stale_plots_are_removed_and_other_files_kept(tmp_path: Path) -> None:
    folder = tmp_path / "report_files"
    first = plots.write_all(sweep_results(), folder)
    old = [p for ps in first.paths().values() for p in ps]
    stale = folder / "exp_gone-exp_gone-acc.png"
    old[0].rename(stale)
    theirs = folder / "diagram.png"
    theirs.write_bytes(PNG_SIGNATURE + b"\x00" * 40)  # a PNG the plugin did not write
    notes = folder / "notes.txt"
    notes.write_text("mine")

    second = plots.write_all(sweep_results()[:2], folder)
    kept = sorted(p.name for p in folder.iterdir())
    now = sorted(p.name for ps in second.paths().values() for p in ps)
    assert kept == sorted([*now, "diagram.png", "notes.txt"])
    assert not stale.exists()

    # No plots at all: the plugin's files go, and an emptied folder with them.
    theirs.unlink()
    notes.unlink()
    assert plots.write_all([], folder).by_experiment == {}
    assert not folder.exists()


def test_a_plot_that_cannot_be_written_is_a_problem_not_an_error(tmp_path: Path) -> None:
    blocked = tmp_path / "report_files"
    blocked.write_text("a file where the folder should be")
    written = plots.write_all(sweep_results(), blocked)
    assert written.by_experiment == {}
    assert len(written.problems) == 1 and "report_files" in written.problems[0]


# ------------------------------------------------------------ names and spacing

names_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=60
)
keys = st.tuples(
    names_text.map(lambda t: f"{t}.py"),
    names_text,
    names_text,
    st.sampled_from(["sweep", "curve"]),
)


@given(names_text)
@settings(max_examples=100, deadline=None)
def test_slugify_gives_a_short_safe_lower_case_name(text: str) -> None:
    slug = plots.slugify(text)
    assert re.fullmatch(r"[a-z0-9_]+(-[a-z0-9_]+)*", slug), slug
    assert len(slug) <= plots.SLUG_LIMIT
    assert plots.slugify(slug) == slug


@given(st.lists(keys, unique=True, max_size=12), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_plot_names_are_unique_safe_and_independent_of_order(
    found: list[tuple[str, str, str, str]], rnd: Any
) -> None:
    names = plots.plot_names(found)
    assert len(set(names)) == len(found)
    for name in names:
        assert re.fullmatch(r"[a-z0-9_-]+", name) and not name.startswith("-")
        assert len(name) <= 140
    shuffled = list(found)
    rnd.shuffle(shuffled)
    again = dict(zip(shuffled, plots.plot_names(shuffled), strict=True))
    assert again == dict(zip(found, names, strict=True))


@given(names_text, names_text, st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=2))
@settings(max_examples=100, deadline=None)
def test_same_named_experiment_files_in_two_folders_get_two_names(
    stem: str, experiment: str, folders: list[str]
) -> None:
    found = [(f"{folder}/{stem}.py", experiment, "acc", "sweep") for folder in set(folders)]
    assert len(set(plots.plot_names(found))) == len(found)


def test_names_are_readable_when_they_do_not_collide() -> None:
    assert plots.plot_names(
        [
            ("experiments/exp_002_random_forest.py", "exp_rf", "accuracy", "sweep"),
            ("experiments/exp_002_random_forest.py", "exp_rf", "Loss", "curve"),
        ]
    ) == ["exp_002_random_forest-exp_rf-accuracy", "exp_002_random_forest-exp_rf-loss-curve"]


def test_only_colliding_names_get_a_hash() -> None:
    names = plots.plot_names(
        [
            ("a/exp_same.py", "exp_x", "acc", "sweep"),
            ("b/exp_same.py", "exp_x", "acc", "sweep"),
            ("b/exp_same.py", "exp_x", "f1", "sweep"),
        ]
    )
    assert names[2] == "exp_same-exp_x-f1"
    for name in names[:2]:
        assert re.fullmatch(r"exp_same-exp_x-acc-[0-9a-f]{10}", name)
    assert names[0] != names[1]


positive = st.floats(min_value=1e-6, max_value=1e6)


@given(positive, st.floats(min_value=2.0, max_value=100.0), st.integers(3, 8))
@settings(max_examples=100, deadline=None)
def test_geometric_grids_are_log_spaced(start: float, ratio: float, count: int) -> None:
    assert plots.is_log_spaced([start * ratio**k for k in range(count)])


@given(
    st.floats(min_value=0.0, max_value=1e6),
    st.floats(min_value=1e-3, max_value=1e6),
    st.integers(3, 8),
)
@settings(max_examples=100, deadline=None)
def test_even_linear_grids_are_not_log_spaced(start: float, step: float, count: int) -> None:
    assert not plots.is_log_spaced([start + step * k for k in range(count)])


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8))
@settings(max_examples=100, deadline=None)
def test_grids_with_a_value_at_or_below_zero_are_never_log_spaced(values: list[float]) -> None:
    assert not plots.is_log_spaced([*values, -abs(values[0])])
    assert not plots.is_log_spaced([*values, 0.0])


@given(
    st.lists(positive, min_size=1, max_size=8),
    st.integers(-20, 20),
    st.randoms(use_true_random=False),
)
@settings(max_examples=100, deadline=None)
def test_log_spacing_ignores_order_repeats_and_scale(
    values: list[float], power: int, rnd: Any
) -> None:
    answer = plots.is_log_spaced(values)
    shuffled = [*values, values[0]]
    rnd.shuffle(shuffled)
    assert plots.is_log_spaced(shuffled) == answer
    assert plots.is_log_spaced([v * 2.0**power for v in values]) == answer  # exact scaling


def test_log_spacing_of_the_heart_study_grids() -> None:
    assert plots.is_log_spaced([0.01, 0.1, 1, 10, 100])  # logistic regression's C
    assert plots.is_log_spaced([1, 2, 5, 10, 20, 50, 100])
    assert not plots.is_log_spaced([50, 100, 200, 300, 500])  # forests' n_estimators
    assert not plots.is_log_spaced([1, 10])  # two points tell no spacing


# ------------------------------------------------------------ end to end

EXPERIMENTS = """
import random

from pytest_experiments import experiment


@experiment(params={"C": [0.01, 0.1, 1.0, 10.0, 100.0]}, expect={"accuracy": ">= 0"}, repeats=3)
def exp_sweep(C, experiment_run):
    for step in range(4):
        experiment_run.log_metric("loss", 1.0 / (step + 1) + C / 1000, step=step)
    return {"accuracy": 0.5 + C / 1000 + random.random() / 100, "other": 1.0}


@experiment(params={"model": ["tree", "forest"]})
def exp_models(model):
    return {"acc": {"tree": 0.7, "forest": 0.8}[model]}


@experiment(params={"model": ["tree", "forest"]})
def exp_broken(model):
    raise RuntimeError("no metrics")
"""


def test_a_session_writes_linked_plots_beside_the_report(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(exp_001_sweep=EXPERIMENTS)
    folder = project.path / "out" / "report_files"
    folder.mkdir(parents=True)
    stale = plots.write_png(
        plots.experiment_plots([case({"k": k}, {"acc": k}) for k in (1, 2)])[0],
        folder / "exp_000_gone-exp_gone-acc.png",
    )
    theirs = folder / "logo.png"
    theirs.write_bytes(PNG_SIGNATURE)
    summary = project.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    result = project.runpytest(
        "--exp-no-tracking", "--exp-report", "out/report.md", "--exp-json", "r.json"
    )
    result.assert_outcomes(passed=7, failed=2)
    markdown = (project.path / "out" / "report.md").read_text()
    targets = [target for _, target in image_links(markdown)]
    written = sorted(p for p in folder.iterdir() if p != theirs)
    assert sorted(project.path / "out" / t for t in targets) == written
    assert [p.name for p in written] == [
        "exp_001_sweep-exp_models-acc.png",
        "exp_001_sweep-exp_sweep-accuracy.png",
        "exp_001_sweep-exp_sweep-loss-curve.png",
    ]
    for path in written:
        assert min(png_size(path)) > 200
    assert not stale.exists() and theirs.exists()
    assert "pytest-experiments:" not in result.stdout.str()  # no plotting problem

    # The curves reach the JSON; the job summary gets the report without images.
    document = json.loads((project.path / "r.json").read_text())
    curves = {r["case_id"]: r["curves"] for r in document["results"]}
    assert curves["exp_sweep[C=0.01]"]["loss"] == [
        [float(s), pytest.approx(1.0 / (s + 1) + 0.00001)] for s in range(4)
    ]
    text = summary.read_text()
    assert "## exp\\_sweep" in text and image_links(text) == []


def test_a_failing_plot_is_a_warning_and_the_report_is_still_written(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(exp_001_sweep=EXPERIMENTS)
    (project.path / "report_files").write_text("in the way")
    result = project.runpytest("--exp-no-tracking", "--exp-report", "report.md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # exp_broken, not the plots
    assert (project.path / "report.md").exists()
    assert image_links((project.path / "report.md").read_text()) == []
    problems = [line for line in result.outlines if line.startswith("pytest-experiments:")]
    assert len(problems) == 1 and "plot folder" in problems[0], problems


LOWER_IS_BETTER = """
from pytest_experiments import experiment


@experiment(params={"alpha": [0.1, 1.0, 10.0]}, lower_is_better=["mse"])
def exp_ridge(alpha):
    return {"mse": 3.0 + alpha, "r2": 0.5 - alpha / 100}
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["no-xdist", "n2"])
def test_a_declared_lower_is_better_metric_is_plotted_before_any_baseline(
    project: pytest.Pytester, xdist: bool
) -> None:
    # mse is declared (lower_is_better), so it gates and gets its sweep on
    # the first run, without a baseline; r2 is not declared, so it has none.
    project.makepyfile(exp_001_ridge=LOWER_IS_BETTER)
    args = ("--exp-no-tracking", "--exp-report", "report.md")
    result = runpytest_forked(project, "-n", "2", *args) if xdist else project.runpytest(*args)
    assert result.ret == 0, result.stdout.str()
    markdown = (project.path / "report.md").read_text()
    assert image_links(markdown) == [
        ("mse vs alpha", "report_files/exp_001_ridge-exp_ridge-mse.png")
    ]
