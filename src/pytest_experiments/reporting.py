"""Pure rendering of experiment results: the Markdown report and JSON.

Nothing here does I/O or imports pytest or mlflow; the plugin hands in
:class:`~pytest_experiments.results.CaseResult` records and writes the text
these functions return. The terminal summary is :mod:`.terminal`; numbers,
durations and outcome counts are written as :mod:`.formatting` writes them,
labels and directions as :mod:`.presentation` decides them.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from .formatting import (
    LINE_BREAKS,
    column_format,
    counts_text,
    delta_format,
    format_number,
    format_seconds,
    metric_format,
    outcome_counts,
    outcome_text,
    own_format,
    plain,
    plural,
    signed,
    strip_controls,
)
from .presentation import (
    by_experiment,
    case_label,
    delta_metrics,
    direction,
    finite,
    half_width,
    param_text,
    union,
)
from .results import BAD_OUTCOMES, CaseResult, Comparison, SessionInfo

__all__ = [
    "choose_primary_metric",
    "escape_cell",
    "file_primary_metric",
    "render_json",
    "render_markdown",
]

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

#: How a delta's status reads after its number.
_DELTA_MARKS = {
    "better": "▲ better",
    "same": "= same",
    "worse": "▼ worse",
    "noise": "▼ worse (within noise)",
    "regressed": "▼ worse (regressed)",
}


# --------------------------------------------------------------------------- text


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
    return plain(text).translate(_ESCAPE_TABLE)


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
    text = LINE_BREAKS.sub("\n", text.replace("\r\n", "\n"))
    text = strip_controls(text, keep="\n\t")
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


def _best(values: Sequence[object], way: str) -> float | None:
    kept = [v for v in (finite(value) for value in values) if v is not None]
    if not kept:
        return None
    return min(kept) if way == "lower" else max(kept)


def _is_best(value: object, best: float | None, show: Callable[[object], str]) -> bool:
    """Whether *value* shows as the best value (ties as displayed count as best)."""
    number = finite(value)
    return number is not None and best is not None and show(number) == show(best)


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


def _delta_cell(comparison: Comparison, show: Callable[[object], str] = own_format) -> str:
    c = comparison
    mark = _DELTA_MARKS.get(c.status, c.status)
    if c.status == "same":
        # Within float noise of the baseline: a number like 1e-16 would only distract.
        return escape_cell(mark)
    if not c.gated and c.status != "better":
        # Shown for information: it cannot fail the case, so no alarm.
        return escape_cell(f"{signed(c.delta, show)} (not gated)")
    if c.status in ("noise", "regressed") and c.p_value is not None:
        mark = mark[:-1] + f", p={_p_text(c.p_value)})"
    return escape_cell(f"{signed(c.delta, show)} {mark}")


def _p_text(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def _value_text(result: CaseResult, metric: str, show: Callable[[object], str]) -> str:
    """A metric's cell: the mean, with the half width of its 95% interval when n > 1."""
    text = show(result.metrics[metric])
    half = half_width(result, metric)
    if half is not None:
        text += f" ± {show(half)}"
    return text


def _run_cell(result: CaseResult) -> str:
    cell = _run_link(result.run_id, result.run_url)
    if result.cached_from:  # --exp-cache: the run that computed the metrics
        cell = f"{cell} cached from {_run_link(result.cached_from, result.cached_from_url)}"
    return cell.strip()


def _run_link(run_id: str | None, run_url: str | None) -> str:
    if run_id and run_url:
        url = _safe_url(run_url)
        if url is not None:
            return f"[{escape_cell(run_id[:8])}]({url})"
    if run_id:  # the JSON keeps the whole id
        return escape_cell(run_id[:8])
    return ""


def _experiment_section(
    group: Sequence[CaseResult],
    extra_columns: Mapping[str, Mapping[str, str]],
    plots: Sequence[tuple[str, str]] = (),
    shown_docs: set[tuple[str, str]] | None = None,
) -> list[str]:
    """One experiment's heading, description, table and notes. *shown_docs*
    holds the (file, description) pairs already shown: a description the
    experiment shares with an earlier one of its file (the module's
    docstring) is not repeated."""
    first = group[0]
    lines = [f"## {escape_cell(first.experiment)} ({escape_cell(first.file)})", ""]
    doc = next((_first_paragraph(r.doc) for r in group if _first_paragraph(r.doc)), "")
    seen = shown_docs if shown_docs is not None else set()
    if doc and (first.file, doc) not in seen:
        seen.add((first.file, doc))
        lines += [_escape_block(doc), ""]

    params = union([r.params for r in group])
    metrics = union([r.metrics for r in group])
    compared = delta_metrics(group, metrics)
    # A delta column that would read "= same" in every row is one sentence instead.
    unchanged = [
        m
        for m in compared
        if all(
            r.comparisons.get(m) is not None and r.comparisons[m].status == "same" for r in group
        )
    ]
    if unchanged:
        names = [escape_cell(m) for m in unchanged]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        every = "The case matches" if len(group) == 1 else f"All {len(group)} cases match"
        lines += [f"{every} the baseline on {listed}.", ""]
        compared = [m for m in compared if m not in unchanged]
    extras = union([extra_columns.get(r.nodeid, {}) for r in group])
    with_runs = any(r.run_id for r in group)
    # Each metric is followed by its delta, so a value and its change read together.
    value_columns: list[tuple[str, str]] = []
    for metric in metrics:
        value_columns.append(("value", metric))
        if metric in compared:
            value_columns.append(("delta", metric))
    value_columns += [("delta", m) for m in compared if m not in metrics]
    first_delta = next((m for kind, m in value_columns if kind == "delta"), None)

    header = ["case"]
    header += [escape_cell(p) for p in params]
    header += [escape_cell(m if kind == "value" else f"Δ {m}") for kind, m in value_columns]
    header += [escape_cell(e) for e in extras]
    header += ["outcome", "duration"] + (["run"] if with_runs else [])
    numeric = (
        [False] * (1 + len(params))
        + [True] * len(value_columns)
        + [False] * len(extras)
        + [False, True]
        + ([False] if with_runs else [])
    )

    best = {m: _best([r.metrics.get(m) for r in group], direction(group, m)) for m in metrics}
    shows = {m: metric_format(group, m) for m in metrics}
    delta_shows = {m: delta_format(group, m) for m in compared}
    rows: list[list[str]] = []
    for result in group:
        row = [escape_cell(case_label(result.case_id))]
        row += [
            escape_cell(param_text(result.params[p])) if p in result.params else "" for p in params
        ]
        for kind, metric in value_columns:
            if kind == "value":
                if metric not in result.metrics:
                    row.append("")
                    continue
                value = result.metrics[metric]
                cell = escape_cell(_value_text(result, metric, shows[metric]))
                row.append(f"**{cell}**" if _is_best(value, best[metric], shows[metric]) else cell)
                continue
            comparison = result.comparisons.get(metric)
            if comparison is not None:
                row.append(_delta_cell(comparison, delta_shows[metric]))
            elif metric == first_delta and not result.has_baseline and not result.comparisons:
                row.append("new")
            else:
                row.append("")
        mine = extra_columns.get(result.nodeid, {})
        row += [escape_cell(mine.get(extra)) for extra in extras]
        row += [escape_cell(outcome_text(result)), escape_cell(format_seconds(result.duration))]
        if with_runs:
            row.append(_run_cell(result))
        rows.append(row)
    lines += _md_table(header, numeric, rows)
    if any(half_width(r, m) is not None for r in group for m in metrics):
        lines += [
            "",
            "`mean ± h`: the mean of the case's repeats and the half-width h of its "
            "95% confidence interval.",
        ]
    return lines + _gate_notes(group) + _gate_lines(group) + _images(plots)


def _images(plots: Sequence[tuple[str, str]]) -> list[str]:
    """One Markdown image per ``(alt text, relative path)``, each its own paragraph.

    The path is percent-encoded (a report named ``my report.md`` has its
    plots in ``my%20report_files/``), so it cannot end the link early."""
    lines: list[str] = []
    for alt, path in plots:
        target = quote(path.replace("\\", "/"), safe="/")
        lines += ["", f"![{escape_cell(alt)}]({target})"]
    return lines


def _gate_notes(group: Sequence[CaseResult]) -> list[str]:
    """Sentences under a table on what its deltas mean for the gate."""
    notes: list[str] = []
    better = [r for r in group if any(c.status == "better" for c in r.comparisons.values())]
    if better and all(r.outcome in ("passed", "new") for r in better):
        notes.append(
            f"{plural(len(better), 'case')} improved on the baseline: "
            "`--exp-update-baseline` accepts the new numbers."
        )
    noise = sum(1 for r in group for c in r.comparisons.values() if c.status == "noise" and c.gated)
    if noise:
        notes.append(
            f"{plural(noise, 'metric')} worse than the baseline by more than the tolerance "
            "passed as within noise: not significant at the session's level (the p-value "
            "shown is one-sided, before the Holm correction)."
        )
    unknown = any(
        c.gated and c.p_value is None and c.status in ("worse", "regressed")
        for r in group
        for c in r.comparisons.values()
    )
    if unknown:
        notes.append(
            "No noise estimate for some comparisons (one value a side, constant "
            "samples, or the same difference at every paired seed or fold): the tolerance "
            "alone decides. Log predictions "
            "(`experiment_run.log_predictions`) or add repeats to tell a regression "
            "from noise."
        )
    return [line for note in notes for line in ("", note)]  # our own text: no user values


def _gate_cell(c: Comparison) -> str:
    """What the gate knew of one tested comparison: the one-sided 95% upper
    bound on the worsening and, in brackets, the worsening it catches with
    80% power (or why it cannot fail)."""
    bound = "" if c.bound is None else f"≤ {_two_digits(c.bound)}"
    if c.detectable is None:
        catches = f"cannot fail: p ≥ {_p_text(c.p_floor)}" if c.p_floor > 0 else "?"
    else:
        catches = f"catches {_two_digits(c.detectable)}"
    return f"{bound} [{catches}]" if bound else catches


def _two_digits(value: float) -> str:
    """A bound to two significant digits (``0.097``, ``0.12``, ``3100``)."""
    return format_number(float(f"{value:.2g}")) if math.isfinite(value) else str(value)


def _gate_lines(group: Sequence[CaseResult]) -> list[str]:
    """Per gated metric that was tested: each case's one-sided 95% upper
    bound on the worsening, beside the tolerance, and the smallest worsening
    the gate catches at its n (a list: the section keeps one table)."""
    tested: dict[str, list[tuple[CaseResult, Comparison]]] = {}
    for result in group:
        for metric, c in result.comparisons.items():
            if c.gated and c.p_value is not None:
                tested.setdefault(metric, []).append((result, c))
    if not tested:
        return []
    lines = [
        "",
        "Gate: per case, the one-sided 95% upper bound on the worsening, and in "
        "brackets the worsening the gate catches with 80% power at the session's level:",
        "",
    ]
    for metric, pairs in tested.items():
        tests = sorted({f"{c.test} over {c.noise}" for _, c in pairs})
        cells = ", ".join(f"{case_label(r.case_id)} {_gate_cell(c)}" for r, c in pairs)
        head = f"{metric} (tolerance {pairs[0][1].tolerance}; {'; '.join(tests)})"
        lines.append(f"- {escape_cell(head)}: {escape_cell(cells)}")
    return lines


#: Ways the leaderboard ranks cases (``SessionInfo.leaderboard``).
LEADERBOARDS = ("file", "global")
#: Ranks a leaderboard shows (cases tied with the last one shown are kept).
LEADERBOARD_TOP = 10


def _leaderboard_mode(session: SessionInfo) -> str:
    if session.leaderboard not in LEADERBOARDS:
        raise ValueError(f"leaderboard must be 'file' or 'global', got {session.leaderboard!r}")
    return session.leaderboard


def _by_file(results: Sequence[CaseResult]) -> dict[str, list[CaseResult]]:
    files: dict[str, list[CaseResult]] = {}
    for result in results:
        files.setdefault(result.file, []).append(result)
    return files


def _declared_primary(results: Sequence[CaseResult]) -> str | None:
    """The first ``@experiment(primary_metric=...)`` among *results*, else None."""
    return next((r.primary_metric for r in results if r.primary_metric), None)


def _file_primary(results: Sequence[CaseResult], configured: str | None) -> tuple[str | None, str]:
    """The metric one file's cases are ranked by, and why when it is not the
    configured one: the experiment's own ``primary_metric``, else
    *configured* when some case returned it, else the file's own choice
    (:func:`choose_primary_metric`) with a sentence saying so."""
    declared = _declared_primary(results)
    if declared:
        return declared, ""
    if not configured or any(configured in r.metrics for r in results):
        return choose_primary_metric(results, configured), ""
    own = choose_primary_metric(results, None)
    why = (
        f"No case returned {escape_cell(configured)} (ini experiments\\_primary\\_metric)"
        + (f"; ranked by {escape_cell(own)}, the file's first metric" if own else "")
        + ". `@experiment(primary_metric=...)` names the file's own."
    )
    return own, why


def file_primary_metric(results: Sequence[CaseResult], configured: str | None) -> str | None:
    """The metric one experiment file's *results* are ranked by (see the leaderboard)."""
    return _file_primary(results, configured)[0]


def _ranking_metrics(session: SessionInfo, results: Sequence[CaseResult]) -> dict[str, str | None]:
    """Experiment file -> the metric its cases are ranked by (None: it has none).

    Per file, its experiments' own ``primary_metric``, else the configured one
    when the file returned it, else :func:`choose_primary_metric` over that
    file's cases; with the ``"global"`` leaderboard, the one metric chosen
    over all cases, for every file.
    """
    if _leaderboard_mode(session) == "global":
        metric = choose_primary_metric(
            results, session.primary_metric or _declared_primary(results)
        )
        return dict.fromkeys(_by_file(results), metric)
    return {
        file: _file_primary(mine, session.primary_metric)[0]
        for file, mine in _by_file(results).items()
    }


def _ranked(
    results: Sequence[CaseResult], metric: str
) -> tuple[list[tuple[int, str, CaseResult]], int]:
    """The top of *results* by *metric*: (rank, shown value, result) rows, and how
    many ranked cases are left out. Cases without a finite value are not ranked."""
    way = direction(results, metric)
    scored = [(v, r) for r in results if (v := finite(r.metrics.get(metric))) is not None]
    # Stable sort: equal values keep result order.
    scored.sort(key=lambda item: item[0] if way == "lower" else -item[0])
    # Shown as in the experiment tables: with intervals, to their precision.
    show = column_format([v for v, _ in scored], [half_width(r, metric) for _, r in scored])
    rows: list[tuple[int, str, CaseResult]] = []
    rank = 0
    previous: str | None = None
    for position, (value, result) in enumerate(scored, start=1):
        # Values that show the same share a rank (0.94264069 and 0.94264070 alike).
        shown = show(value)
        if shown != previous:
            rank, previous = position, shown
        if rank > LEADERBOARD_TOP:
            break
        rows.append((rank, shown, result))
    return rows, len(scored) - len(rows)


def _leaderboard_table(
    results: Sequence[CaseResult], metric: str, with_file: bool
) -> list[str] | None:
    """ "By metric" and the ranking table (plus what it leaves out); None: nothing ranked."""
    rows, hidden = _ranked(results, metric)
    if not rows:
        return None
    header = ["rank", *(["file"] if with_file else []), "experiment", "case", escape_cell(metric)]
    cells = [
        [
            str(rank),
            *([escape_cell(result.file)] if with_file else []),
            escape_cell(result.experiment),
            escape_cell(case_label(result.case_id)),
            escape_cell(shown),
            escape_cell(result.outcome),
        ]
        for rank, shown, result in rows
    ]
    numeric = [True, *([False] if with_file else []), False, False, True, False]
    lines = [
        f"By {escape_cell(metric)} ({direction(results, metric)} is better).",
        "",
        *_md_table([*header, "outcome"], numeric, cells),
    ]
    if hidden:
        lines += ["", f"{plural(hidden, 'more case')} not shown."]
    return lines


def _leaderboard(session: SessionInfo, results: Sequence[CaseResult]) -> list[str]:
    """The leaderboard section, or nothing when there is nothing to rank.

    ``"file"``: one table per experiment file (in first-run order) under a
    ``###`` heading naming it, each by its own primary metric; a file with
    fewer than two ranked cases has none. ``"global"``: one table of every
    file's cases, with a file column. Both show the top ``LEADERBOARD_TOP``.
    """
    metrics = _ranking_metrics(session, results)
    if _leaderboard_mode(session) == "global":
        metric = next(iter(metrics.values()), None)
        if metric is None:
            return []
        table = _leaderboard_table(results, metric, with_file=True)
        return [
            "## Leaderboard",
            "",
            f"The cases of all experiment files ranked together, top {LEADERBOARD_TOP}.",
            "",
            *(table or [f"No case has a finite value for {escape_cell(metric)}."]),
        ]
    sections: list[str] = []
    for file, mine in _by_file(results).items():
        metric, why = _file_primary(mine, session.primary_metric)
        ranked = (
            0 if metric is None else sum(finite(r.metrics.get(metric)) is not None for r in mine)
        )
        table = _leaderboard_table(mine, metric, with_file=False) if metric else None
        if ranked < 2 or table is None:
            if not why:
                continue  # one case (or none with a value) has nothing to be ranked against
            table = [f"Not ranked: {plural(ranked, 'case')} with a value."]
        sections += ["", f"### {escape_cell(file)}", "", *([why, ""] if why else []), *table]
    if not sections:
        return []
    intro = f"Cases ranked within their experiment file, top {LEADERBOARD_TOP} of each."
    return ["## Leaderboard", "", intro, *sections]


def _failures(
    results: Sequence[CaseResult], collection_errors: Sequence[Mapping[str, str]] = ()
) -> list[str]:
    """Each collection error, then each bad case, with its message."""
    bad = [r for r in results if r.outcome in BAD_OUTCOMES]
    if not bad and not collection_errors:
        return []
    lines = ["## Failures"]
    for error in collection_errors:
        lines += ["", f"### {escape_cell(error['nodeid'])}", ""]
        lines += ["Outcome: collection error", ""]
        lines += _code_block(error.get("message") or "(no message)")
    for result in bad:
        lines += ["", f"### {escape_cell(result.nodeid)}", ""]
        lines += [f"Outcome: {escape_cell(result.outcome)}", ""]
        lines += _code_block(result.message if result.message else "(no message)")
    return lines


def _group_lines(session: SessionInfo) -> list[str]:
    """The header's line on the session group, or on the merge (``--exp-merge``),
    or on the comparison (``--exp-compare A B``: B against A)."""
    merged = session.merged
    if merged:
        sessions = int(merged.get("sessions", 0))
        against = merged.get("against")
        if isinstance(against, dict):
            a_runs = int(against.get("runs", 0))
            text = (
                f"- Compared: {escape_cell(merged.get('matched', 'session group'))} "
                f"{escape_cell(merged.get('group', ''))} (B, {int(merged.get('runs', 0))} runs "
                f"of {sessions} session{'s' if sessions != 1 else ''}) against "
                + (
                    "the committed baseline files (A)"
                    if against.get("matched") == "baseline files"
                    else f"{escape_cell(against.get('matched', 'session group'))} "
                    f"{escape_cell(against.get('group', ''))} (A, the baseline, {a_runs} runs)"
                )
            )
            missing = int(merged.get("missing", 0))
            return [text + (f", {missing} cases missing on one side" if missing else "")]
        text = (
            f"- Merged: {escape_cell(merged.get('matched', 'session group'))} "
            f"{escape_cell(merged.get('group', ''))}, {int(merged.get('runs', 0))} runs "
            f"of {sessions} session{'s' if sessions != 1 else ''}"
        )
        missing = int(merged.get("missing", 0))
        return [text + (f", {missing} cases missing" if missing else "")]
    if session.session_group:
        return [f"- Session group: {escape_cell(session.session_group)}"]
    return []


def render_markdown(
    session: SessionInfo,
    results: Sequence[CaseResult],
    *,
    extra_columns: Mapping[str, Mapping[str, str]] | None = None,
    extra_sections: Sequence[str] = (),
    plots: Mapping[tuple[str, str], Sequence[tuple[str, str]]] | None = None,
) -> str:
    """The whole Markdown report: header, one table per experiment, leaderboard, failures.

    An experiment's table has the columns case, one per param (as written), one
    per metric (a column shares its decimals; the best value, by the metric's
    direction, in bold) each followed by its delta vs the baseline, the extra
    columns, outcome, duration, and run (only when some case has a run). A
    delta that is "same" for every case is said in one sentence, not a column.

    The leaderboard follows ``session.leaderboard``: ``"file"`` ranks each
    experiment file's cases by that file's own primary metric, one table per
    file with two or more ranked cases; ``"global"`` ranks all cases together
    by one metric. Either shows the top ``LEADERBOARD_TOP`` ranks. Any other
    value raises ValueError.

    *extra_columns* maps a node id to ``{column: text}`` (added before the
    outcome column of that case's experiment table; missing cells are empty);
    *extra_sections* are appended verbatim, separated by blank lines.

    *plots* maps ``(file, experiment)`` to its images as ``(alt text, path)``,
    the path relative to the report (``report_files/x.png``): each is linked
    under that experiment's table, in order. Nothing is read or written here.
    """
    extra_columns = extra_columns or {}
    plots = plots or {}
    lines = ["# Experiment report", ""]
    broken = session.collection_errors
    if session.partial and broken and not results:
        lines += [
            (
                f"> **PARTIAL REPORT**: {plural(len(broken), 'collection error')} "
                f"({', '.join(escape_cell(e['nodeid']) for e in broken)}) stopped the session "
                "before any case ran; see Failures."
            ),
            "",
        ]
    elif session.partial:
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
        *_group_lines(session),
        f"- Cases: {counts_text(results, len(broken))}",
        f"- Wall time: {escape_cell(format_seconds(session.wall_time))}",
    ]
    shown_docs: set[tuple[str, str]] = set()
    for group in by_experiment(results):
        lines += [""]
        key = (group[0].file, group[0].experiment)
        lines += _experiment_section(group, extra_columns, plots.get(key, ()), shown_docs)
    leaderboard = _leaderboard(session, results)
    if leaderboard:
        lines += ["", *leaderboard]
    failures = _failures(results, broken)
    if failures:
        lines += [""]
        lines += failures
    text = "\n".join(lines) + "\n"
    for section in extra_sections:
        text += "\n" + section.rstrip("\n") + "\n"
    return text


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

    The session says how the leaderboard ranked, whatever the report shows:
    ``leaderboard`` (``"file"`` or ``"global"``); ``primary_metrics`` maps
    each experiment file to the metric its cases are ranked by (per file, or
    the one global metric for every file; null when nothing names a metric);
    ``primary_metric`` is the configured metric, else the one chosen over the
    whole session (what ``"global"`` ranks by), null only when nothing names one.
    """
    facts = session.to_dict()
    facts["primary_metric"] = choose_primary_metric(results, session.primary_metric)
    facts["primary_metrics"] = _ranking_metrics(session, results)
    document = {
        "session": facts,
        "counts": outcome_counts(results),
        "results": [
            {k: v for k, v in result.to_dict().items() if k != "predictions"} for result in results
        ],
    }
    return (
        json.dumps(_json_safe(document), indent=2, sort_keys=True, allow_nan=False, default=str)
        + "\n"
    )
