"""The end of a session's parent runs: one per experiment file, each holding
that file's table (``table.md``), its plots (``plots/*.png``), the best case
by the primary metric (its metrics, run id and case id) and the outcome counts.

The parent runs themselves are created by the first process that starts a
case of the file (tracking.MlflowBackend.parent_run_id); the controller ends
them here, once every result is known (Holm's correction included).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .presentation import direction
from .results import BAD_OUTCOMES, CaseResult, SessionInfo
from .tags import TAG_BEST_CASE, TAG_BEST_RUN, TAG_FAILED, TAG_OUTCOMES, TAG_PRIMARY_METRIC

if TYPE_CHECKING:
    from .tracking import MlflowBackend

#: Outcomes whose metrics may name the best case.
_RANKED = frozenset({"passed", "new", "failed", "regressed"})


def best_case(results: Sequence[CaseResult], metric: str | None) -> CaseResult | None:
    """The case with the best finite value of ``metric`` (by its direction,
    as the report ranks it) among cases that produced metrics; the first of equals."""
    if metric is None:
        return None
    lower = direction(results, metric) == "lower"
    best: CaseResult | None = None
    for result in results:
        value = result.metrics.get(metric)
        if result.outcome not in _RANKED or value is None or not math.isfinite(value):
            continue
        if best is None:
            best = result
            continue
        current = best.metrics[metric]
        if (value < current) if lower else (value > current):
            best = result
    return best


def parent_tags(results: Sequence[CaseResult], metric: str | None) -> dict[str, str]:
    """Tags of a parent run: the outcome counts, the primary metric and the best case."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    tags = {
        TAG_OUTCOMES: ", ".join(f"{n} {o}" for o, n in sorted(counts.items())),
        TAG_FAILED: str(any(r.outcome in BAD_OUTCOMES for r in results)).lower(),
    }
    best = best_case(results, metric)
    if metric is not None:
        tags[TAG_PRIMARY_METRIC] = metric
    if best is not None:
        tags[TAG_BEST_CASE] = best.case_id
        if best.run_id:
            tags[TAG_BEST_RUN] = best.run_id
    return tags


def finish_parents(
    backend: MlflowBackend,
    info: SessionInfo,
    results: Sequence[CaseResult],
    plots: Mapping[tuple[str, str], Sequence[Path]],
) -> list[str]:
    """End this session's parent runs; returns problems (never raises)."""
    from . import reporting

    problems: list[str] = []
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.file, []).append(result)
    try:
        parents = backend.session_parents(by_file)
    except Exception as exc:
        from .redaction import scrub_credentials

        return [scrub_credentials(f"could not find this session's parent runs: {exc}")]
    with tempfile.TemporaryDirectory(prefix="pytest-experiments-plots-") as scratch:
        for index, (file, group) in enumerate(by_file.items()):
            run_id = parents.get(file)
            if run_id is None:
                continue
            try:
                pngs = [p for key, paths in plots.items() if key[0] == file for p in paths]
                if not plots:  # no report was written: draw the plots here
                    from . import plots as plotting

                    drawn = plotting.write_all(group, Path(scratch) / str(index))
                    problems.extend(drawn.problems)
                    pngs = [p for paths in drawn.paths().values() for p in paths]
                metric = reporting.file_primary_metric(group, info.primary_metric)
                best = best_case(group, metric)
                backend.finish_parent(
                    run_id,
                    table=reporting.render_markdown(info, group),
                    plots=pngs,
                    metrics={
                        k: v for k, v in (best.metrics if best else {}).items() if math.isfinite(v)
                    },
                    tags=parent_tags(group, metric),
                )
            except Exception as exc:
                from .redaction import scrub_credentials

                problems.append(
                    scrub_credentials(f"could not complete the parent run of {file}: {exc}")
                )
    return problems
