"""Pure rendering of experiment results: Markdown, terminal text and JSON.

Nothing here does I/O or imports pytest or mlflow; the plugin hands in
:class:`~pytest_experiments.results.CaseResult` records and writes the text
these functions return.

Markdown safety: every table cell, heading and header value goes through
:func:`escape_cell`, so parameter values such as ``a|b``, ``<b>x</b>``,
backticks or newlines can neither break a GitHub-flavoured table nor inject
markup. Failure messages go into fenced code blocks whose fence is longer than
any backtick run inside them.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from .results import BAD_OUTCOMES, OUTCOMES, CaseResult, Comparison, SessionInfo

__all__ = [
    "choose_primary_metric",
    "escape_cell",
    "format_number",
    "outcome_counts",
    "render_json",
    "render_markdown",
    "render_terminal",
]

#: What a line break inside a cell becomes (visible, and not HTML).
LINE_BREAK_MARK = " ⏎ "

# Every sequence ``str.splitlines`` treats as a line boundary.
_LINE_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# ANSI escape sequences (colours in assertion messages), removed before display.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Bidirectional overrides and isolates ("Trojan Source" reordering).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# Markdown/HTML-significant characters and their escaped form. ``\`` first in
# meaning only: ``str.translate`` maps each character once, so no double escape.
_MARKDOWN_ESCAPES = {
    "\\": "\\\\",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "~": "\\~",
    "#": "\\#",
    "$": "\\$",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
}
_ESCAPE_TABLE: dict[int, str | None] = {ord(k): v for k, v in _MARKDOWN_ESCAPES.items()}
_ESCAPE_TABLE[ord("\t")] = " "

_DELTA_MARKS = {
    "better": "▲ better",
    "same": "= same",
    "worse": "▼ worse",
    "regressed": "▼ worse (regressed)",
}
_TERMINAL_DELTA_MARKS = {
    "better": "better",
    "same": "same",
    "worse": "worse",
    "regressed": "REGRESSED",
}


# --------------------------------------------------------------------------- text


def _strip_controls(text: str, keep: str = "") -> str:
    """Remove control characters (except those in *keep*), bidi overrides, surrogates."""
    text = _ANSI.sub("", text)
    return "".join(
        ch
        for ch in text
        if ch in keep or not (unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS)
    )


def _plain(text: str) -> str:
    """One line of display text: line breaks shown as a mark, controls removed."""
    text = _LINE_BREAKS.sub(LINE_BREAK_MARK, text)
    return _strip_controls(text, keep="\t").replace("\t", " ")


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


def escape_cell(value: object) -> str:
    """Text for one Markdown table cell (or inline text) that cannot break out.

    - ``None`` is the empty string; numbers go through :func:`format_number`.
    - ``\\ | ` * _ [ ] ~ # $`` are backslash-escaped; ``< > &`` become HTML
      entities, so no HTML tag or entity in the value is ever interpreted.
    - Line breaks (``\\n``, ``\\r\\n``, ``\\r`` and the other Unicode line
      boundaries) become ``" ⏎ "``; tabs become a space; other control
      characters, bidi overrides and ANSI colour codes are removed.
    """
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        text = format_number(value)  # type: ignore[arg-type]
    else:
        text = str(value)
    return _plain(text).translate(_ESCAPE_TABLE)


def _escape_block(value: object) -> str:
    """Like :func:`escape_cell`, for text that starts a Markdown block (a paragraph)."""
    text = escape_cell(value).strip()
    if text[:1] in ("-", "+", "="):
        return "\\" + text
    match = re.match(r"(\d{1,9})([.)])", text)
    if match:
        return match.group(1) + "\\" + text[match.end(1) :]
    return text


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    paragraphs = re.split(r"\n[ \t]*\n", doc.strip())
    return " ".join(paragraphs[0].split())


def _code_block(text: str) -> list[str]:
    """A fenced code block that *text* cannot close early."""
    text = _LINE_BREAKS.sub("\n", text.replace("\r\n", "\n"))
    text = _strip_controls(text, keep="\n\t")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *text.split("\n"), fence]


def _safe_url(url: str) -> str | None:
    """*url* made safe as a Markdown link destination inside a table, or None."""
    if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        return None
    quoted = quote(url.strip(), safe="/:?#=&@!$+,;%~-._")
    # Entities are decoded in link destinations, so ``&amp;`` stays a plain ``&``.
    return quoted.replace("&", "&amp;")


# ------------------------------------------------------------------ result helpers


def _as_number(value: object) -> float | None:
    """*value* as a float when it is a real number (bool excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):
        return None


def _finite(value: object) -> float | None:
    number = _as_number(value)
    if number is None or not math.isfinite(number):
        return None
    return number


def _case_label(case_id: str) -> str:
    """The part of *case_id* inside its brackets (``n=100``), else the whole id."""
    start = case_id.find("[")
    if start != -1 and case_id.endswith("]"):
        return case_id[start + 1 : -1]
    return case_id


def _group(results: Sequence[CaseResult]) -> list[list[CaseResult]]:
    """Results grouped by (file, experiment), groups and members in first-seen order."""
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for result in results:
        groups.setdefault((result.file, result.experiment), []).append(result)
    return list(groups.values())


def _union(keys: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for mapping in keys:
        for key in mapping:
            seen.setdefault(key, None)
    return list(seen)


def _direction(results: Sequence[CaseResult], metric: str) -> str:
    """Direction of *metric* from the first result that states one (default higher)."""
    for result in results:
        if metric in result.directions:
            return "lower" if result.directions[metric] == "lower" else "higher"
    return "higher"


def _best(values: Sequence[object], direction: str) -> float | None:
    finite = [v for v in (_finite(value) for value in values) if v is not None]
    if not finite:
        return None
    return min(finite) if direction == "lower" else max(finite)


def _signed(number: float) -> str:
    text = format_number(number)
    if (number > 0) and not text.startswith("+"):
        return "+" + text
    return text


def _format_seconds(seconds: float) -> str:
    number = _as_number(seconds)
    if number is None or not math.isfinite(number):
        return f"{format_number(seconds)} s"
    return f"{number:.2f} s"


def _counts_text(results: Sequence[CaseResult]) -> str:
    counts = outcome_counts(results)
    parts = [f"{count} {outcome}" for outcome, count in counts.items() if count]
    return ", ".join(parts) if parts else "no cases"


def outcome_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    """Number of results per outcome: every outcome of ``OUTCOMES`` in order, zeros included.

    An outcome not in ``OUTCOMES`` (a newer plugin, a hand-made result) is
    counted after them, in first-seen order, so the counts always add up.
    """
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def choose_primary_metric(results: Sequence[CaseResult], configured: str | None) -> str | None:
    """The metric the leaderboard ranks by.

    *configured* when given (an empty string counts as not given); else the
    first metric named in any case's ``expect`` (result order, then dict order);
    else the first metric of the first result that returned any; else None.
    """
    if configured:
        return configured
    for result in results:
        for metric in result.expect:
            return metric
    for result in results:
        for metric in result.metrics:
            return metric
    return None


# ------------------------------------------------------------------------ Markdown


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_table(
    header: Sequence[str], numeric: Sequence[bool], rows: Sequence[Sequence[str]]
) -> list[str]:
    """A GitHub table; all cells must already be escaped."""
    for row in rows:
        if len(row) != len(header):  # pragma: no cover - internal invariant
            raise RuntimeError(f"table row has {len(row)} cells, header {len(header)}")
    separator = ["---:" if right else "---" for right in numeric]
    return [_md_row(header), _md_row(separator), *(_md_row(row) for row in rows)]


def _delta_cell(comparison: Comparison) -> str:
    mark = _DELTA_MARKS.get(comparison.status, comparison.status)
    return escape_cell(f"{_signed(comparison.delta)} {mark}")


def _run_cell(result: CaseResult) -> str:
    if result.run_id and result.run_url:
        url = _safe_url(result.run_url)
        if url is not None:
            return f"[{escape_cell(result.run_id[:8])}]({url})"
    if result.run_id:
        return escape_cell(result.run_id)
    return ""


def _experiment_section(
    group: Sequence[CaseResult],
    extra_columns: Mapping[str, Mapping[str, str]],
) -> list[str]:
    first = group[0]
    lines = [f"## {escape_cell(first.experiment)} ({escape_cell(first.file)})", ""]
    doc = next((_first_paragraph(r.doc) for r in group if _first_paragraph(r.doc)), "")
    if doc:
        lines += [_escape_block(doc), ""]

    params = _union([r.params for r in group])
    metrics = _union([r.metrics for r in group])
    compared = _union([r.comparisons for r in group])
    delta_metrics = [m for m in metrics if m in compared]
    delta_metrics += [m for m in compared if m not in delta_metrics]
    extras = _union([extra_columns.get(r.nodeid, {}) for r in group])

    header = ["case"]
    header += [escape_cell(p) for p in params]
    header += [escape_cell(m) for m in metrics]
    header += [escape_cell(f"Δ {m}") for m in delta_metrics]
    header += [escape_cell(e) for e in extras]
    header += ["outcome", "duration", "run"]
    numeric = (
        [False] * (1 + len(params))
        + [True] * (len(metrics) + len(delta_metrics))
        + [False] * len(extras)
        + [False, True, False]
    )

    best = {m: _best([r.metrics.get(m) for r in group], _direction(group, m)) for m in metrics}
    rows: list[list[str]] = []
    for result in group:
        row = [escape_cell(_case_label(result.case_id))]
        for param in params:
            if param not in result.params:
                row.append("")
            else:
                value = result.params[param]
                row.append(escape_cell("None" if value is None else value))
        for metric in metrics:
            if metric not in result.metrics:
                row.append("")
                continue
            value = result.metrics[metric]
            cell = escape_cell(value)
            number = _finite(value)
            if number is not None and number == best[metric]:
                cell = f"**{cell}**"
            row.append(cell)
        for index, metric in enumerate(delta_metrics):
            comparison = result.comparisons.get(metric)
            if comparison is not None:
                row.append(_delta_cell(comparison))
            elif index == 0 and not result.has_baseline and not result.comparisons:
                row.append("new")
            else:
                row.append("")
        mine = extra_columns.get(result.nodeid, {})
        row += [escape_cell(mine.get(extra)) for extra in extras]
        row += [
            escape_cell(result.outcome),
            escape_cell(_format_seconds(result.duration)),
            _run_cell(result),
        ]
        rows.append(row)
    return lines + _md_table(header, numeric, rows)


def _leaderboard(results: Sequence[CaseResult], metric: str) -> list[str]:
    direction = _direction(results, metric)
    scored = [(v, r) for r in results if (v := _finite(r.metrics.get(metric))) is not None]
    lines = [
        "## Leaderboard",
        "",
        f"By {escape_cell(metric)} ({direction} is better).",
        "",
    ]
    if not scored:
        return [*lines, f"No case has a finite value for {escape_cell(metric)}."]
    # Stable sort: equal values keep result order.
    scored.sort(key=lambda item: item[0] if direction == "lower" else -item[0])
    rows: list[list[str]] = []
    rank = 0
    previous: float | None = None
    for position, (value, result) in enumerate(scored, start=1):
        if value != previous:
            rank, previous = position, value
        rows.append(
            [
                str(rank),
                escape_cell(result.experiment),
                escape_cell(_case_label(result.case_id)),
                escape_cell(result.metrics[metric]),
                escape_cell(result.outcome),
            ]
        )
    header = ["rank", "experiment", "case", escape_cell(metric), "outcome"]
    return lines + _md_table(header, [True, False, False, True, False], rows)


def _failures(results: Sequence[CaseResult]) -> list[str]:
    bad = [r for r in results if r.outcome in BAD_OUTCOMES]
    if not bad:
        return []
    lines = ["## Failures"]
    for result in bad:
        lines += ["", f"### {escape_cell(result.nodeid)}", ""]
        lines += [f"Outcome: {escape_cell(result.outcome)}", ""]
        lines += _code_block(result.message if result.message else "(no message)")
    return lines


def render_markdown(
    session: SessionInfo,
    results: Sequence[CaseResult],
    *,
    extra_columns: Mapping[str, Mapping[str, str]] | None = None,
    extra_sections: Sequence[str] = (),
) -> str:
    """The whole Markdown report: header, one table per experiment, leaderboard, failures.

    *extra_columns* maps a node id to ``{column: text}`` (added before the
    outcome column of that case's experiment table; missing cells are empty);
    *extra_sections* are appended verbatim, separated by blank lines.
    """
    extra_columns = extra_columns or {}
    lines = ["# Experiment report", ""]
    if session.partial:
        lines += [
            (
                "> **PARTIAL REPORT**: the session was interrupted or stopped early; "
                "some cases did not run."
            ),
            "",
        ]
    commit = escape_cell(session.commit) if session.commit else "unknown"
    if session.dirty:
        commit += " (dirty)"
    fingerprint = escape_cell(session.data_fingerprint[:12]) if session.data_fingerprint else "none"
    lines += [
        f"- Date: {escape_cell(session.started)}",
        f"- Commit: {commit}",
        f"- Branch: {escape_cell(session.branch) if session.branch else 'unknown'}",
        f"- Data fingerprint: {fingerprint}",
        f"- Tracking: {escape_cell(session.tracking_uri) if session.tracking_uri else 'off'}",
        f"- Cases: {_counts_text(results)}",
        f"- Wall time: {escape_cell(_format_seconds(session.wall_time))}",
    ]
    for group in _group(results):
        lines += [""]
        lines += _experiment_section(group, extra_columns)
    primary = choose_primary_metric(results, session.primary_metric)
    if primary is not None:
        lines += [""]
        lines += _leaderboard(results, primary)
    failures = _failures(results)
    if failures:
        lines += [""]
        lines += failures
    text = "\n".join(lines) + "\n"
    for section in extra_sections:
        text += "\n" + section.rstrip("\n") + "\n"
    return text


# ------------------------------------------------------------------------ terminal


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


def _terminal_line(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [
        _clip(cell, w).rjust(w) if r else _clip(cell, w).ljust(w)
        for cell, w, r in zip(cells, widths, right, strict=True)
    ]
    return "  ".join(parts).rstrip()


def _terminal_value(metrics: Mapping[str, object], metric: str) -> str:
    if metric not in metrics:
        return ""
    value = metrics[metric]
    if _as_number(value) is not None:
        return format_number(value)  # type: ignore[arg-type]
    return _plain(str(value))


def render_terminal(results: Sequence[CaseResult], width: int = 100) -> list[str]:
    """Compact plain-text tables, one per experiment, then a line of counts.

    Columns: case, one per metric, one delta per compared metric, outcome and
    duration (parameters are already in the case label). Text is not Markdown
    escaped, only made single-line; columns shrink (``...``) to fit *width*
    where they can. Output is ASCII apart from the user's own text.
    """
    lines: list[str] = []
    for group in _group(results):
        first = group[0]
        metrics = _union([r.metrics for r in group])
        compared = _union([r.comparisons for r in group])
        delta_metrics = [m for m in metrics if m in compared]
        delta_metrics += [m for m in compared if m not in delta_metrics]
        header = [
            "case",
            *metrics,
            *(f"d {m}" for m in delta_metrics),
            "outcome",
            "time",
        ]
        header = [_plain(h) for h in header]
        right = [False] + [True] * (len(metrics) + len(delta_metrics)) + [False, True]
        rows: list[list[str]] = []
        for result in group:
            row = [_plain(_case_label(result.case_id))]
            row += [_terminal_value(result.metrics, m) for m in metrics]
            for metric in delta_metrics:
                comparison = result.comparisons.get(metric)
                if comparison is None:
                    row.append("")
                else:
                    mark = _TERMINAL_DELTA_MARKS.get(comparison.status, comparison.status)
                    row.append(_plain(f"{_signed(comparison.delta)} {mark}"))
            row += [_plain(result.outcome), _format_seconds(result.duration)]
            rows.append(row)
        natural = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        minimums = [min(n, 12 if i == 0 else 6) for i, n in enumerate(natural)]
        widths = _fit(natural, minimums, width)

        if lines:
            lines.append("")
        lines.append(_clip(_plain(f"{first.experiment} ({first.file})"), width))
        lines.append(_terminal_line(header, widths, right))
        lines.append("  ".join("-" * w for w in widths))
        lines += [_terminal_line(row, widths, right) for row in rows]
    if lines:
        lines.append("")
    lines.append(f"experiments: {_counts_text(results)}")
    return lines


# ---------------------------------------------------------------------------- JSON


def _json_safe(value: Any) -> Any:
    """*value* with non-finite floats replaced by ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return format_number(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def render_json(session: SessionInfo, results: Sequence[CaseResult]) -> str:
    """The session and results as JSON text (ends with a newline).

    Shape: ``{"session": {...}, "counts": {outcome: n, ...}, "results": [...]}``
    with keys sorted. JSON has no NaN or infinity, so non-finite floats anywhere
    are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``; every other
    number stays a number. Values JSON cannot hold are written as their ``str``.
    """
    document = {
        "session": session.to_dict(),
        "counts": outcome_counts(results),
        "results": [result.to_dict() for result in results],
    }
    return (
        json.dumps(_json_safe(document), indent=2, sort_keys=True, allow_nan=False, default=str)
        + "\n"
    )
