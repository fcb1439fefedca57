"""The terminal summary: plain text of experiment results that fits a width.

:func:`render_terminal` turns :class:`~pytest_experiments.results.CaseResult`
records into lines for pytest's terminal summary: one table per experiment
when it fits, else one block per case. Pure: nothing here does I/O or imports
pytest or mlflow; the plugin writes the lines. Numbers are written as in the
Markdown report (:mod:`.formatting`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from .formatting import (
    counts_text,
    delta_format,
    format_seconds,
    metric_format,
    outcome_text,
    own_format,
    plain,
    signed,
)
from .presentation import by_experiment, case_label, delta_metrics, union
from .results import CaseResult, Comparison

__all__ = ["render_terminal"]

#: How a delta's status reads after its number (ASCII, one word).
_DELTA_MARKS = {
    "better": "better",
    "same": "=",
    "worse": "worse",
    "noise": "noise",
    "regressed": "REGRESSED",
}
#: Narrowest a shortened table header gets (``acc...``), when its values are narrower.
_MIN_HEADER = 6


def _fit(widths: list[int], minimums: list[int], width: int) -> list[int]:
    """Shrink the widest shrinkable columns until the row fits in *width*."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > width:
        candidates = [i for i, w in enumerate(widths) if w > minimums[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _clip(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    return text[: width - 3] + "..."


# Where a long label may break: after a space, or after the ``-`` pytest puts
# between parameter ids (``a=1-b=2``; not the sign in ``a=-1``).
_BREAK_AFTER = re.compile(r"(?<= )|(?<=-)(?=[A-Za-z_])")


def _wrap(text: str, width: int, indent: str = "", more: str = "  ") -> list[str]:
    """*text* on lines of at most *width* characters, nothing dropped but spaces.

    The first line starts with *indent*, the next ones with *indent* + *more*.
    Lines break after a space or between parameter ids where they can, inside
    a word where they must.
    """
    lines: list[str] = []
    line = indent
    for piece in _BREAK_AFTER.split(text):
        if len(line) + len(piece.rstrip()) > width and line.strip():
            lines.append(line.rstrip())
            line = indent + more
            piece = piece.lstrip()
        while len(line) + len(piece.rstrip()) > width and len(line) < width:
            room = width - len(line)
            lines.append(line + piece[:room])
            line, piece = indent + more, piece[room:].lstrip()
        line += piece
    lines.append(line.rstrip())
    return lines


def _terminal_line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [
        _clip(cell, w).rjust(w) if r else _clip(cell, w).ljust(w)
        for cell, w, r in zip(cells, widths, right, strict=True)
    ]
    return "  ".join(parts).rstrip()


def _terminal_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool], width: int
) -> list[str] | None:
    """The rows as a table of at most *width* columns, or None when it cannot fit.

    Only headers are shortened (to their column's widest value, and not under
    ``_MIN_HEADER`` characters); a cell is never cut, and shortened headers
    must stay told apart.
    """
    natural = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    values = [max((len(row[i]) for row in rows), default=0) for i in range(len(header))]
    minimums = [max(v, min(len(h), _MIN_HEADER)) for h, v in zip(header, values, strict=True)]
    widths = _fit(natural, minimums, width)
    if sum(widths) + 2 * (len(widths) - 1) > width:
        return None
    shown = [_clip(h, w) for h, w in zip(header, widths, strict=True)]
    if len(set(shown)) < len(set(header)):
        return None
    return [
        _terminal_line(header, widths, right),
        "  ".join("-" * w for w in widths),
        *(_terminal_line(row, widths, right) for row in rows),
    ]


def _terminal_blocks(
    labels: Sequence[str],
    tails: Sequence[str],
    names: Sequence[str],
    cells: Sequence[Sequence[tuple[str, str]]],
    width: int,
) -> list[str]:
    """One block per case: its label line, then ``metric  value  delta`` lines.

    *cells* holds, per case and per name, the (value, delta) texts; a metric
    with neither is left out of that case's block. Values are right-aligned in
    one column, deltas follow. A label or metric name too long for a line is
    wrapped; numbers are never split or cut.
    """
    value_w = max((len(v) for row in cells for v, _ in row), default=0)
    delta_w = max((len(d) for row in cells for _, d in row), default=0)
    numbers_w = value_w + (2 + delta_w if delta_w else 0)
    indent = 4
    fitting = [len(n) for n in names if indent + len(n) + 2 + numbers_w <= width]
    name_w = max(fitting, default=0)
    lines: list[str] = []
    for label, tail, row in zip(labels, tails, cells, strict=True):
        head = _wrap(label, width)
        if len(head[-1]) + 2 + len(tail) <= width:
            head[-1] += "  " + tail
        else:
            head += _wrap(tail, width, "  ")
        lines += head
        for name, (value, delta) in zip(names, row, strict=True):
            if not value and not delta:
                continue
            numbers = (value.rjust(value_w) + ("  " + delta if delta else "")).rstrip()
            if len(name) <= name_w:
                lines.append((" " * indent + name.ljust(name_w) + "  " + numbers).rstrip())
                continue
            lines += _wrap(name, width, " " * indent)
            column = indent + name_w + 2 if name_w else indent + 2
            if column + len(numbers) > width:
                column = indent + 2
            lines.append(" " * column + numbers)
    return lines


def _terminal_value(
    metrics: Mapping[str, object], metric: str, show: Callable[[object], str]
) -> str:
    if metric not in metrics:
        return ""
    return plain(show(metrics[metric]))


def _terminal_delta(
    comparison: Comparison | None,
    show: Callable[[object], str] = own_format,
) -> str:
    if comparison is None:
        return ""
    if comparison.status == "same":
        return _DELTA_MARKS["same"]
    mark = _DELTA_MARKS.get(comparison.status, comparison.status)
    if not comparison.gated and comparison.status != "better":
        mark = "not gated"
    return plain(f"{signed(comparison.delta, show)} {mark}")


def _terminal_group(group: Sequence[CaseResult], width: int) -> list[str]:
    first = group[0]
    lines = _wrap(plain(f"{first.experiment} ({first.file})"), width)
    metrics = union([r.metrics for r in group])
    moved = {
        m for r in group for m, comparison in r.comparisons.items() if comparison.status != "same"
    }
    delta_only = [m for m in delta_metrics(group, metrics) if m not in metrics and m in moved]
    shows = {m: metric_format(group, m) for m in metrics}
    delta_shows = {m: delta_format(group, m) for m in moved}
    names = [*metrics, *delta_only]
    labels = [plain(case_label(r.case_id)) for r in group]
    tails = [f"{plain(outcome_text(r))}  {format_seconds(r.duration)}" for r in group]
    cells = [
        [
            (
                _terminal_value(r.metrics, m, shows[m]) if m in shows else "",
                _terminal_delta(r.comparisons.get(m), delta_shows[m]) if m in moved else "",
            )
            for m in names
        ]
        for r in group
    ]

    # Each metric is followed by its delta when some case moved on it.
    columns: list[tuple[str, int]] = []
    for index, metric in enumerate(names):
        if metric in shows:
            columns.append(("value", index))
        if metric in moved:
            columns.append(("delta", index))
    header = [
        "case",
        *(plain(names[i] if kind == "value" else f"d {names[i]}") for kind, i in columns),
        "outcome",
        "time",
    ]
    right = [False, *([True] * len(columns)), False, True]
    rows = [
        [
            label,
            *(row[i][0 if kind == "value" else 1] for kind, i in columns),
            plain(outcome_text(result)),
            format_seconds(result.duration),
        ]
        for label, row, result in zip(labels, cells, group, strict=True)
    ]
    table = _terminal_table(header, rows, right, width)
    if table is not None:
        return lines + table
    return lines + _terminal_blocks(labels, tails, [plain(n) for n in names], cells, width)


def render_terminal(
    results: Sequence[CaseResult], width: int = 100, collection_errors: int = 0
) -> list[str]:
    """Plain text that fits *width* columns, one part per experiment, then the counts.

    An experiment is a table when it fits: columns case, one per metric (each
    followed by its delta when some case of the experiment moved away from its
    baseline on that metric; ``=`` marks an unchanged value), outcome and
    duration; parameters are already in the case label. Only headers are
    shortened to fit (``acc...``). When the table would still be too wide, each
    case is a block instead: a line with its label, outcome and duration, then
    one ``metric  value  delta`` line per metric, long labels and names wrapped.

    No number is ever cut: a metric value or delta is shown whole, or the other
    layout is used. (Only a single number wider than *width*, which needs a
    width under about 30, makes a line longer than *width*.) Text is not
    Markdown escaped, only made single-line. Output is ASCII apart from the
    user's own text. *collection_errors* (files that failed to collect) are
    counted on the last line.
    """
    lines: list[str] = []
    for group in by_experiment(results):
        if lines:
            lines.append("")
        lines += _terminal_group(group, width)
    if lines:
        lines.append("")
    lines += _wrap(f"experiments: {counts_text(results, collection_errors)}", width)
    return lines
