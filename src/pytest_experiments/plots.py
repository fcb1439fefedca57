"""The report's plots: what to draw (pure), and drawing it with matplotlib.

:func:`experiment_plots` decides which plots a session's results call for and
computes every point, without matplotlib; :func:`render` draws one
:class:`PlotSpec` on a fresh :class:`matplotlib.figure.Figure` (never pyplot,
so no global figure state is created or leaked); :func:`write_png` saves it;
:func:`write_all` writes every plot of a session into one folder.

What is plotted, per experiment (file + function):

- a **sweep** for each gated metric when some param is swept (takes more than
  one value among the cases with a finite value of that metric): the metric's
  mean against that param, a line when every value of the param is a number
  (log x axis when the values are log-spaced, see :func:`is_log_spaced`), bars
  otherwise; error bars are the 95% confidence interval of the mean when the
  case has repeats (or returned samples); the baseline mean of each case is
  drawn dashed (lines) or as a marker (bars). With more swept params, the
  first numeric one (else the first) is the x axis and each combination of
  the others is its own line or bar colour, at most :data:`MAX_SERIES`.
- a **learning curve** for each series logged with
  ``experiment_run.log_metric(name, value, step)`` that has two or more
  points in some case: one line per case (at most :data:`MAX_SERIES`), from
  each case's first repeat.

Gated metrics are those a case's baseline comparisons mark gated; for cases
without a baseline, the metrics its declaration names (``expect``,
``tolerance``, ``lower_is_better``, ``higher_is_better``); when an experiment
names none, every metric it returns. Non-finite values are left out; cases
that returned no metrics (errors, skips) have no points.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .presentation import (
    by_experiment,
    case_label,
    direction,
    finite,
    half_width,
    param_text,
    union,
)
from .results import CaseResult

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MAX_SERIES",
    "PlotFile",
    "PlotFiles",
    "PlotSpec",
    "Series",
    "experiment_plots",
    "is_log_spaced",
    "plot_names",
    "render",
    "slugify",
    "write_all",
    "write_png",
]

#: Most lines (or bar colours) in one plot; the rest are left out, and the
#: title says how many.
MAX_SERIES = 10
#: Figure size in inches and resolution: 640 x 400 pixels.
FIGURE_SIZE = (6.4, 4.0)
DPI = 100
#: The PNG ``Software`` text of every file :func:`write_png` writes; only such
#: files are removed as stale by :func:`write_all`.
SOFTWARE = "pytest-experiments"
#: A case whose param lacks a value (explicit case lists with other keys).
UNSET = "(unset)"
#: Longest slug of one part of a file name (file stem, experiment, metric).
SLUG_LIMIT = 40

#: matplotlib settings while drawing, over its defaults (a user's
#: matplotlibrc or style, LaTeX text or a tight bounding box, does not change
#: the report's plots): a light grid, set where ticks are made (cheaper than
#: ``Axes.grid``, which touches every tick again).
_RC = {"axes.grid": True, "grid.alpha": 0.3}

#: Two neighbouring gaps (or ratios) are "the same spacing" within this factor.
_SPACING_FACTOR = 1.5


# ---------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Series:
    """One line (or one colour of bars) of a plot."""

    #: Legend text (``None`` when the plot has one series and needs no legend).
    label: str | None
    #: x of each point: the param's value, a category's index in
    #: :attr:`PlotSpec.categories`, or a step.
    x: tuple[float, ...]
    y: tuple[float, ...]
    #: Half width of each point's 95% confidence interval (None: n == 1).
    err: tuple[float | None, ...] = ()
    #: Each point's baseline mean (None: no baseline for that case).
    baseline: tuple[float | None, ...] = ()

    @property
    def has_err(self) -> bool:
        return any(e is not None for e in self.err)

    @property
    def has_baseline(self) -> bool:
        return any(b is not None for b in self.baseline)


@dataclass(frozen=True)
class PlotSpec:
    """Everything one plot shows, computed from results (no matplotlib)."""

    #: ``"sweep"`` (a metric against a param) or ``"curve"`` (a learning curve).
    kind: str
    file: str
    experiment: str
    metric: str
    #: The x axis: the swept param, or ``"step"``.
    x_label: str
    series: tuple[Series, ...]
    #: Names of the params the series stand for (sweeps with several swept params).
    series_params: tuple[str, ...] = ()
    #: Category names in x order, for bars; empty for a numeric x axis.
    categories: tuple[str, ...] = ()
    log_x: bool = False
    #: ``"higher"`` or ``"lower"``: which way the metric is better.
    direction: str = "higher"
    #: Series (cases, for curves) left out beyond :data:`MAX_SERIES`.
    omitted: int = 0
    #: File name without ``.png``, unique among the session's plots (see :func:`plot_names`).
    name: str = ""

    @property
    def title(self) -> str:
        """``accuracy vs n_estimators`` or ``loss by step``: the image's alt text."""
        if self.kind == "curve":
            return f"{self.metric} by step"
        return f"{self.metric} vs {self.x_label}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.file, self.experiment, self.metric, self.kind)


# --------------------------------------------------------------- pure helpers


def _value_key(value: object) -> tuple[str, object]:
    """Equal for equal param values (``1`` and ``1.0`` alike), hashable for any."""
    number = finite(value)
    if number is not None:
        return ("n", number)
    return ("t", param_text(value))


def is_log_spaced(values: Iterable[float]) -> bool:
    """Whether a numeric grid reads best on a log axis (``0.01, 0.1, 1, 10, 100``).

    True when there are at least three distinct values, all positive, the
    ratios of neighbours (sorted) are roughly constant (within a factor
    1.5 of each other in log terms) and their differences are not (an even
    linear grid such as ``100, 101, 102`` has near-constant ratios too, and
    stays linear). Order and repeated values do not matter, and neither does
    scaling every value by the same positive factor.
    """
    distinct = sorted({float(v) for v in values})
    if len(distinct) < 3 or distinct[0] <= 0 or not all(map(math.isfinite, distinct)):
        return False
    logs = [math.log(v) for v in distinct]
    log_gaps = [b - a for a, b in itertools.pairwise(logs)]
    gaps = [b - a for a, b in itertools.pairwise(distinct)]
    return _even(log_gaps) and not _even(gaps)


def _even(gaps: Sequence[float]) -> bool:
    """Whether positive *gaps* are all within :data:`_SPACING_FACTOR` of each other."""
    smallest = min(gaps)
    return smallest > 0 and max(gaps) <= _SPACING_FACTOR * smallest


def slugify(text: str, limit: int = SLUG_LIMIT) -> str:
    """*text* as a safe, lower-case piece of a file name: ``[a-z0-9_]`` runs
    joined by ``-``, at most *limit* characters, never empty (``x``).

    Accents are dropped (``é`` is ``e``); everything else that is not a letter,
    digit or ``_`` becomes ``-``. Lower case only, so two names never differ
    by case alone (case-insensitive file systems).
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:limit].strip("-")
    return slug or "x"


def _readable_name(key: tuple[str, str, str, str]) -> str:
    file, experiment, metric, kind = key
    stem = file.replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem[:-3] if stem.endswith(".py") else stem
    parts = [slugify(stem), slugify(experiment), slugify(metric)]
    if kind != "sweep":
        parts.append(slugify(kind))
    return "-".join(parts)


def _hashed(key: tuple[str, ...], name: str) -> str:
    digest = hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:10]
    return f"{name}-{digest}"


def plot_names(keys: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """A file name stem per plot key ``(file, experiment, metric, kind)``.

    Readable when it can be: ``exp_002_random_forest-exp_rf-accuracy`` (file
    stem, experiment and metric slugified; ``-curve`` for a learning curve).
    Keys whose readable names coincide (same-named experiment files in two
    folders, names that differ only in case or punctuation) each get a short
    hash of the full key appended, so names are unique among distinct keys,
    whatever their order. Only ``[a-z0-9_-]``, at most 140 characters.
    """
    readable = [_readable_name(key) for key in keys]
    owners: dict[str, set[tuple[str, str, str, str]]] = {}
    for key, name in zip(keys, readable, strict=True):
        owners.setdefault(name, set()).add(key)
    names = [
        _hashed(key, name) if len(owners[name]) > 1 else name
        for key, name in zip(keys, readable, strict=True)
    ]
    if len({(n, k) for n, k in zip(names, keys, strict=True)}) != len(set(names)):
        # A readable name equal to another's hashed one: hash them all.
        names = [_hashed(key, name) for key, name in zip(keys, readable, strict=True)]
    return names


def gated_metrics(group: Sequence[CaseResult]) -> list[str]:
    """The metrics of one experiment that its sweep plots show.

    Those its baseline comparisons mark gated; else those its declaration
    names (``expect``, ``tolerance``, ``lower_is_better``...), with or without
    a baseline; else every metric it returned. Returned metrics first, in order.
    """
    returned = union(r.metrics for r in group)
    chosen = (
        union([m for m, c in r.comparisons.items() if c.gated] for r in group)
        or union(r.gated_metrics for r in group)
        or union(r.expect for r in group)
    )
    if not chosen:
        return returned
    return [m for m in returned if m in chosen] + [m for m in chosen if m not in returned]


def _baseline(result: CaseResult, metric: str) -> float | None:
    comparison = result.comparisons.get(metric)
    return None if comparison is None else finite(comparison.baseline)


def _swept(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """Params that take more than one value (a missing one counts as a value)."""
    names = union(params)
    return [
        name
        for name in names
        if len({_value_key(p[name]) if name in p else ("u", UNSET) for p in params}) > 1
    ]


def _series_label(params: Mapping[str, Any], names: Sequence[str]) -> str:
    """The values of *names* in *params* (the legend's title names the params)."""
    return ", ".join(param_text(params[n]) if n in params else UNSET for n in names)


def _sweep(group: Sequence[CaseResult], metric: str) -> PlotSpec | None:
    points = [(r, v) for r in group if (v := finite(r.metrics.get(metric))) is not None]
    swept = _swept([r.params for r, _ in points])
    if not swept:
        return None
    numeric = [
        name
        for name in swept
        if all(name in r.params and finite(r.params[name]) is not None for r, _ in points)
    ]
    x_param = numeric[0] if numeric else swept[0]
    others = [name for name in swept if name != x_param]

    categories: list[str] = []
    if not numeric:
        for result, _ in points:
            text = param_text(result.params[x_param]) if x_param in result.params else UNSET
            if text not in categories:
                categories.append(text)

    def x_of(result: CaseResult) -> float:
        if numeric:
            value = finite(result.params[x_param])
            assert value is not None
            return value
        text = param_text(result.params[x_param]) if x_param in result.params else UNSET
        return float(categories.index(text))

    by_series: dict[tuple[Any, ...], list[tuple[float, CaseResult, float]]] = {}
    labels: dict[tuple[Any, ...], str] = {}
    for result, value in points:
        key = tuple(
            _value_key(result.params[n]) if n in result.params else ("u", UNSET) for n in others
        )
        by_series.setdefault(key, []).append((x_of(result), result, value))
        labels.setdefault(key, _series_label(result.params, others))
    series: list[Series] = []
    for key, members in list(by_series.items())[:MAX_SERIES]:
        members.sort(key=lambda item: item[0])
        series.append(
            Series(
                label=labels[key] if others else None,
                x=tuple(x for x, _, _ in members),
                y=tuple(v for _, _, v in members),
                err=tuple(half_width(r, metric) for _, r, _ in members),
                baseline=tuple(_baseline(r, metric) for _, r, _ in members),
            )
        )
    first = group[0]
    return PlotSpec(
        kind="sweep",
        file=first.file,
        experiment=first.experiment,
        metric=metric,
        x_label=x_param,
        series=tuple(series),
        series_params=tuple(others),
        categories=tuple(categories),
        log_x=bool(numeric) and is_log_spaced(x for s in series for x in s.x),
        direction=direction(group, metric),
        omitted=max(0, len(by_series) - MAX_SERIES),
    )


def _curve(group: Sequence[CaseResult], metric: str) -> PlotSpec | None:
    lines: list[Series] = []
    for result in group:
        points = [
            (step, value)
            for step, value in (
                (finite(p[0]), finite(p[1])) for p in result.curves.get(metric, []) if len(p) == 2
            )
            if step is not None and value is not None
        ]
        if points:
            points.sort(key=lambda point: point[0])
            lines.append(
                Series(
                    label=case_label(result.case_id),
                    x=tuple(s for s, _ in points),
                    y=tuple(v for _, v in points),
                )
            )
    if not any(len(line.x) >= 2 for line in lines):
        return None
    first = group[0]
    return PlotSpec(
        kind="curve",
        file=first.file,
        experiment=first.experiment,
        metric=metric,
        x_label="step",
        series=tuple(lines[:MAX_SERIES]),
        direction=direction(group, metric),
        omitted=max(0, len(lines) - MAX_SERIES),
    )


def experiment_plots(results: Sequence[CaseResult]) -> list[PlotSpec]:
    """Every plot the report shows for *results*, in report order, each named.

    Per experiment (in first-seen order): a sweep per gated metric (see
    :func:`gated_metrics`) that has a swept param, then a learning curve per
    logged series. Pure: no matplotlib, no files.
    """
    specs: list[PlotSpec] = []
    for group in by_experiment(results):
        for metric in gated_metrics(group):
            sweep = _sweep(group, metric)
            if sweep is not None:
                specs.append(sweep)
        for metric in union(r.curves for r in group):
            curve = _curve(group, metric)
            if curve is not None:
                specs.append(curve)
    names = plot_names([spec.key for spec in specs])
    return [_named(spec, name) for spec, name in zip(specs, names, strict=True)]


def _named(spec: PlotSpec, name: str) -> PlotSpec:
    return dataclasses.replace(spec, name=name)


# ------------------------------------------------------------------- drawing


def _text(text: str, limit: int = 60) -> str:
    """User text for matplotlib: ``$`` escaped (no mathtext), at most *limit*
    characters (cut in the middle: an estimator's class and its last settings stay)."""
    if len(text) > limit:
        head = (limit - 1) // 2
        text = text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return text.replace("$", r"\$")


def preload() -> None:
    """Import what drawing a plot needs (matplotlib's figure, style, tick and
    font modules and its PNG backend) ahead of time; raises ImportError
    without matplotlib."""
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.font_manager  # loads the font list once
    import matplotlib.style
    import matplotlib.ticker  # noqa: F401


def _style() -> AbstractContextManager[None]:
    """matplotlib's default style with :data:`_RC`, for the time of a ``with``."""
    import matplotlib.style

    return matplotlib.style.context(["default", _RC])


def render(spec: PlotSpec) -> Figure:
    """*spec* drawn on a new :class:`~matplotlib.figure.Figure` (no pyplot).

    Sweeps with a numeric x: one :meth:`~matplotlib.axes.Axes.errorbar` line
    per series (markers; bars only where a CI is known), and the baseline as
    a dashed line with ``x`` markers labelled ``baseline``. Categorical x:
    :meth:`~matplotlib.axes.Axes.bar` per series, side by side, the baseline
    as black ``_`` markers. Curves: one line per case.
    """
    from matplotlib.figure import Figure

    with _style():
        # Fixed margins: a layout engine measures every text first, which
        # costs a third of the drawing time.
        figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
        figure.subplots_adjust(left=0.13, right=0.97, bottom=0.13, top=0.91)
        axes = figure.add_subplot()
        if spec.kind == "curve":
            _draw_curves(axes, spec)
        elif spec.categories:
            _draw_bars(axes, spec)
        else:
            _draw_lines(axes, spec)
        title = f"{spec.experiment}: {spec.title}"
        if spec.omitted:
            shown = len(spec.series)
            title += f" (first {shown} of {shown + spec.omitted})"
        axes.set_title(_text(title, 80), fontsize="medium")
        axes.set_xlabel(_text(spec.x_label))
        ylabel = f"{spec.metric} ({spec.direction} is better)"
        if any(s.has_err for s in spec.series):
            ylabel += ", mean ± 95% CI"
        axes.set_ylabel(_text(ylabel, 70))
        if len(axes.get_legend_handles_labels()[0]) > 1:
            legend = axes.legend(fontsize="small", title=_legend_title(spec))
            legend.get_title().set_fontsize("small")
    return figure


def _legend_title(spec: PlotSpec) -> str | None:
    if spec.series_params:
        return _text(", ".join(spec.series_params))
    return None


def _errors(series: Series) -> list[float] | None:
    if not series.has_err:
        return None
    return [math.nan if e is None else e for e in series.err]


def _draw_lines(axes: Axes, spec: PlotSpec) -> None:
    for series in spec.series:
        container = axes.errorbar(
            series.x,
            series.y,
            yerr=_errors(series),
            marker="o",
            capsize=3,
            label=_text(series.label) if series.label is not None else spec.metric,
        )
        # One series: its baseline in black, to tell the two apart; several:
        # each baseline in its series' colour.
        color = container.lines[0].get_color() if len(spec.series) > 1 else "black"
        if series.has_baseline:
            known = [
                (x, b) for x, b in zip(series.x, series.baseline, strict=True) if b is not None
            ]
            label = "baseline" + (f" ({series.label})" if series.label is not None else "")
            axes.plot(
                [x for x, _ in known],
                [b for _, b in known],
                linestyle="--",
                marker="x",
                color=color,
                alpha=0.6,
                zorder=1.5,  # under the data line (2) where both coincide
                label=_text(label),
            )
    if spec.log_x:
        from matplotlib.ticker import NullLocator

        axes.set_xscale("log")
        axes.xaxis.set_minor_locator(NullLocator())  # fewer ticks to draw


def _draw_bars(axes: Axes, spec: PlotSpec) -> None:
    count = len(spec.series)
    width = 0.8 / count
    for index, series in enumerate(spec.series):
        offset = (index - (count - 1) / 2) * width
        positions = [x + offset for x in series.x]
        axes.bar(
            positions,
            series.y,
            width=width,
            yerr=_errors(series),
            capsize=3,
            label=_text(series.label) if series.label is not None else spec.metric,
        )
        if series.has_baseline:
            known = [
                (x, b) for x, b in zip(positions, series.baseline, strict=True) if b is not None
            ]
            axes.plot(
                [x for x, _ in known],
                [b for _, b in known],
                linestyle="none",
                marker="_",
                markersize=max(6.0, 40.0 * width),
                markeredgewidth=2,
                color="black",
                label="baseline" if index == 0 else "_nolegend_",
            )
    labels = [_text(c, 30) for c in spec.categories]
    axes.set_xticks(range(len(labels)), labels)
    if sum(map(len, labels)) > 60:
        axes.tick_params(axis="x", labelrotation=30)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
        axes.figure.subplots_adjust(bottom=0.3)


def _draw_curves(axes: Axes, spec: PlotSpec) -> None:
    for series in spec.series:
        axes.plot(
            series.x,
            series.y,
            marker="." if len(series.x) <= 50 else None,
            label=_text(series.label or spec.metric),
        )


def write_png(spec: PlotSpec, path: str | Path) -> Path:
    """Render *spec* and save it as a PNG at *path* (marked as this plugin's)."""
    target = Path(path)
    with _style():
        figure = render(spec)
        figure.savefig(target, format="png", dpi=DPI, metadata={"Software": SOFTWARE})
    return target


# ------------------------------------------------------------------- writing


@dataclass(frozen=True)
class PlotFile:
    """A plot written to disk."""

    spec: PlotSpec
    path: Path


@dataclass
class PlotFiles:
    """What :func:`write_all` wrote, per experiment, and what went wrong."""

    #: ``(file, experiment)`` -> its plots, in report order.
    by_experiment: dict[tuple[str, str], list[PlotFile]] = field(default_factory=dict)
    #: One line per plot that could not be drawn or written (never raised).
    problems: list[str] = field(default_factory=list)

    def paths(self) -> dict[tuple[str, str], list[Path]]:
        """``(file, experiment)`` -> the PNG files, e.g. to log them to MLflow."""
        return {key: [p.path for p in plots] for key, plots in self.by_experiment.items()}


def _is_ours(path: Path) -> bool:
    """Whether *path* is a PNG this module wrote (its ``Software`` text says so)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return head.startswith(b"\x89PNG\r\n\x1a\n") and b"Software\x00" + SOFTWARE.encode() in head


def remove_stale(folder: Path) -> None:
    """Remove the PNGs a previous report left in *folder* (only files this
    module wrote: ``*.png`` directly inside, marked with :data:`SOFTWARE`)."""
    if not folder.is_dir():
        return
    for path in folder.glob("*.png"):
        if path.is_file() and not path.is_symlink() and _is_ours(path):
            path.unlink()


def write_all(results: Sequence[CaseResult], folder: str | Path) -> PlotFiles:
    """Write every plot of *results* into *folder* as ``<name>.png``.

    The plugin's PNGs from an earlier report in *folder* are removed first;
    other files stay. The folder is created only when there is a plot to
    write, and removed again when it ends up empty. Never raises for a plot:
    a plot that cannot be drawn or written is a line in ``problems`` (and so
    is a missing matplotlib, once).
    """
    out = PlotFiles()
    target = Path(folder)
    try:
        specs = experiment_plots(results)
    except Exception as exc:  # a bug here must not cost the user the report
        out.problems.append(f"could not work out the report's plots: {_describe(exc)}")
        return out
    try:
        remove_stale(target)
        if specs:
            import matplotlib  # noqa: F401  (a clear message when it is missing)

            target.mkdir(parents=True, exist_ok=True)
    except ImportError:
        out.problems.append("plots left out of the report: matplotlib is not installed")
        return out
    except OSError as exc:
        out.problems.append(f"could not prepare the plot folder {target}: {_describe(exc)}")
        return out
    for spec in specs:
        path = target / f"{spec.name}.png"
        try:
            write_png(spec, path)
        except Exception as exc:
            out.problems.append(
                f"could not draw {spec.title} of {spec.experiment} ({spec.file}): {_describe(exc)}"
            )
            continue
        out.by_experiment.setdefault((spec.file, spec.experiment), []).append(PlotFile(spec, path))
    try:
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
    except OSError:
        pass
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}"
    return f"{type(exc).__name__}: {exc}"
