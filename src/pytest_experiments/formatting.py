"""How the Markdown report and the terminal write numbers, durations,
outcomes and user text.

Shared by :mod:`.reporting` (Markdown) and :mod:`.terminal`: a metric's value
(:func:`format_number`), the decimals a column of values or deltas shares
(:func:`metric_format`, :func:`delta_format`), a duration, the outcome
counts, and user text made one plain line (:func:`plain`). Pure: nothing here
imports pytest, mlflow or matplotlib.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Callable, Sequence

from .presentation import as_number, finite, half_width
from .results import OUTCOMES, CaseResult

__all__ = [
    "LINE_BREAKS",
    "LINE_BREAK_MARK",
    "column_decimals",
    "column_format",
    "counts_text",
    "delta_format",
    "fixed",
    "format_number",
    "format_seconds",
    "metric_format",
    "outcome_counts",
    "outcome_text",
    "own_format",
    "plain",
    "plural",
    "signed",
    "strip_controls",
]

#: What a line break inside a cell becomes (visible, and not HTML).
LINE_BREAK_MARK = " ⏎ "

#: Every sequence ``str.splitlines`` treats as a line boundary.
LINE_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# ANSI escape sequences (colours in assertion messages), removed before display.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Bidirectional overrides and isolates ("Trojan Source" reordering).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# --------------------------------------------------------------------------- text


def strip_controls(text: str, keep: str = "") -> str:
    """Remove control characters (except those in *keep*), bidi overrides, surrogates."""
    text = _ANSI.sub("", text)
    return "".join(
        ch
        for ch in text
        if ch in keep or not (unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS)
    )


def plain(text: str) -> str:
    """One line of display text: line breaks shown as a mark, controls removed."""
    text = LINE_BREAKS.sub(LINE_BREAK_MARK, text)
    return strip_controls(text, keep="\t").replace("\t", " ")


# ------------------------------------------------------------------------ numbers


def format_number(value: float) -> str:
    """Format a metric value compactly.

    Integers stay integers (``100``). Values of magnitude at least 1 keep up to
    four decimals without trailing zeros (``1234.5``, ``12.3457``); smaller
    values keep four significant digits (``0.8525``, ``0.01235``, ``1e-07``).
    Non-finite values are ``nan``, ``inf`` and ``-inf``.
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number == 0:
        return "0"
    if 1 <= abs(number) < 1e15:
        return f"{number:.4f}".rstrip("0").rstrip(".")
    return f"{number:.4g}"


#: Most decimals a column is padded to; beyond that each value keeps its own form.
_MAX_COLUMN_DECIMALS = 6


def column_decimals(values: Sequence[object], halves: Sequence[float | None] = ()) -> int:
    """The decimals one column's numbers are written with; -1: each its own form.

    Each value first gets :func:`format_number`; when all finite ones are plain
    decimals (no exponent), they are all written with the most decimals any of
    them needs (``0.8`` next to ``0.8235`` becomes ``0.8000``), so a right
    aligned column lines up. When some values have a confidence interval
    (*halves*: its half-widths), the column keeps the decimals that give the
    narrowest interval two significant digits instead (``55.8 ± 4.1``, not
    ``55.8486 ± 4``): digits beyond those are noise.
    """
    kept = [v for v in (finite(value) for value in values) if v is not None]
    texts = [format_number(v) for v in kept]
    decimals = max((len(t.partition(".")[2]) for t in texts), default=0)
    if any("e" in t for t in texts) or not 0 < decimals <= _MAX_COLUMN_DECIMALS:
        decimals = -1
    widths = [h for h in (finite(h) for h in halves) if h is not None and h > 0]
    if widths and not any("e" in t for t in texts):
        wanted = max(max(0, 1 - math.floor(math.log10(h))) for h in widths)
        if wanted <= _MAX_COLUMN_DECIMALS:
            decimals = wanted
    return decimals


def fixed(decimals: int) -> Callable[[object], str]:
    """Numbers with *decimals* decimals (-1: :func:`format_number`'s own form);
    non-finite values and non-numbers unchanged."""

    def show(value: object) -> str:
        number = finite(value)
        if number is not None and decimals >= 0:
            return f"{number:.{decimals}f}"
        if as_number(value) is not None:
            return format_number(value)  # type: ignore[arg-type]
        return "" if value is None else str(value)

    return show


def column_format(
    values: Sequence[object], halves: Sequence[float | None] = ()
) -> Callable[[object], str]:
    """How the numbers of one metric column are shown (see :func:`column_decimals`)."""
    return fixed(column_decimals(values, halves))


def metric_format(group: Sequence[CaseResult], metric: str) -> Callable[[object], str]:
    """:func:`column_format` for *metric*'s column in *group* (values and intervals)."""
    return column_format(
        [r.metrics.get(metric) for r in group], [half_width(r, metric) for r in group]
    )


def delta_format(group: Sequence[CaseResult], metric: str) -> Callable[[object], str]:
    """How the deltas of *metric* in *group* are shown: all with the same decimals.

    With intervals, those of the metric's values (a delta is no more precise
    than the means it joins); else those the deltas need (see
    :func:`column_decimals`), or, when that would mix forms (``+6.688e-05``
    beside ``+0.004``), enough for the largest to keep four significant digits.
    """
    halves = [half_width(r, metric) for r in group]
    if any(h is not None for h in halves):
        decimals = column_decimals([r.metrics.get(metric) for r in group], halves)
        if decimals >= 0:
            return fixed(decimals)
    deltas = [
        d
        for r in group
        if (c := r.comparisons.get(metric)) is not None and c.status != "same"
        if (d := finite(c.delta)) is not None and d != 0
    ]
    decimals = column_decimals(deltas)
    if decimals < 0 and any(not float(d).is_integer() for d in deltas):
        largest = max(abs(d) for d in deltas)
        if largest < 1e15:
            wanted = max(0, 3 - math.floor(math.log10(largest)))
            # ...and never so few that a smaller delta shows as 0 (+0.5 beside
            # +999940 is +0.5, not +0).
            smallest = min(abs(d) for d in deltas)
            wanted = max(wanted, -math.floor(math.log10(smallest)))
            decimals = wanted if wanted <= _MAX_COLUMN_DECIMALS else -1
    return fixed(decimals)


def own_format(value: object) -> str:
    """A number as :func:`format_number` writes it alone (no column to match)."""
    number = as_number(value)
    return format_number(number) if number is not None else str(value)


def signed(number: float, show: Callable[[object], str] = own_format) -> str:
    """*number* as *show* writes it, with a ``+`` when it is positive."""
    text = show(number)
    if (number > 0) and not text.startswith("+"):
        return "+" + text
    return text


def format_seconds(seconds: float) -> str:
    """``0.43 s`` under a minute, ``2 min 05 s`` under an hour, then ``1 h 02 min``."""
    number = as_number(seconds)
    if number is None or not math.isfinite(number):
        return f"{format_number(seconds)} s"
    if number < 59.995:
        return f"{number:.2f} s"
    whole = round(number)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


# ------------------------------------------------------------------------ outcomes


def counts_text(results: Sequence[CaseResult], collection_errors: int = 0) -> str:
    """``3 passed, 1 failed (1 cached: not run again); 1 collection error``."""
    counts = outcome_counts(results)
    parts = [f"{count} {outcome}" for outcome, count in counts.items() if count]
    cached = sum(1 for r in results if r.cached_from)
    more = f" ({cached} cached: not run again)" if cached else ""
    text = (", ".join(parts) + more) if parts else "no cases"
    if collection_errors:
        text += f"; {plural(collection_errors, 'collection error')}"
    return text


def outcome_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    """Number of results per outcome: every outcome of ``OUTCOMES`` in order, zeros included.

    An outcome not in ``OUTCOMES`` (a newer plugin, a hand-made result) is
    counted after them, in first-seen order, so the counts always add up.
    """
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def plural(n: int, word: str) -> str:
    """``1 case``, ``2 cases``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def outcome_text(result: CaseResult) -> str:
    """The outcome, marked when the case was not run again (--exp-cache)."""
    return f"{result.outcome} (cached)" if result.cached_from else result.outcome
