"""``--exp-merge NAME``: one report for the shards of a study, from the store.

Shards of one study (CI jobs, machines, any pytest selection) log their
cases to one tracking store, every run tagged with its session group
(``--exp-session-group``, default ``$GITHUB_RUN_ID``, else the session id).
A merge collects the declared cases as a session would, runs none of them,
reads the group's runs (one paged search over the experiment files' MLflow
experiments), rebuilds each case's result from its run and hands the results
to the session, which writes the report, JSON and job summary and exits as if
every case had run there.

Which run speaks for a case (:func:`pick_run`): among the runs of its node id
in the group, one not superseded by a later attempt of the same session
(pytest-rerunfailures), then one that ended (FINISHED, FAILED or KILLED) over
one still RUNNING, then the newest. A case with no run that ended is
*missing*, which fails the merge; so does a case whose run ended KILLED
(*crashed*), as it would have failed the session.

This module is pure (no pytest, no mlflow): :func:`merge_results` is a
function of the declared cases and the stored runs. What a run records is
written and read by :mod:`.codec`; the runs are read from the store by
``tracking.MlflowBackend.group_runs``, and :mod:`.group_session` joins the
two in a pytest session.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .codec import StoredRun, decode, provenance_of
from .results import OUTCOMES, PYTEST_OUTCOMES, CaseResult, SessionInfo
from .tags import TAG_OUTCOME, TAG_SESSION

#: The outcome of a declared case that has no run in the group.
MISSING = "missing"
_KNOWN = frozenset(OUTCOMES) | frozenset(PYTEST_OUTCOMES)


def _higher_is_better(metric: str) -> str:
    return "higher"


@dataclass(frozen=True)
class DeclaredCase:
    """A case the merge collected: what its result says besides its run."""

    nodeid: str
    #: Experiment file relative to the rootdir.
    file: str
    params: Mapping[str, Any] = field(default_factory=dict)
    expect: Mapping[str, str] = field(default_factory=dict)
    #: The metrics its experiment declares (see ``CaseResult.gated_metrics``).
    gated_metrics: Sequence[str] = ()
    primary_metric: str | None = None
    doc: str | None = None
    #: ``"higher"``/``"lower"``: which way is better for a metric.
    direction: Callable[[str], str] = _higher_is_better
    #: Why the case is skipped here by its marks (it had no run to make), else None.
    skipped: str | None = None
    #: ``"xfailed"`` for ``xfail(run=False)``, else None.
    not_run: str | None = None


def pick_run(runs: Sequence[StoredRun]) -> StoredRun:
    """The run that speaks for a case among its runs in the group: not
    superseded by a later attempt, ended rather than running, then newest
    (start time, then attempt, then run id, so the choice never depends on
    the order the store returned them in)."""
    if not runs:
        raise ValueError("no runs to pick from")
    return max(runs, key=lambda r: (not r.superseded, r.ended, r.start_time, r.attempt, r.run_id))


def run_outcome(run: StoredRun) -> tuple[str, str | None]:
    """(outcome, message when the run does not carry one) of an ended run."""
    tag = run.tags.get(TAG_OUTCOME)
    if run.status == "KILLED":
        if tag == "interrupted":
            return "error", "interrupted (KeyboardInterrupt or SystemExit) while it ran"
        return "crashed", (
            f"its run {run.run_id} ended KILLED: the process running the case died "
            "(or its session was stopped) before the case finished"
        )
    if tag == "interrupted":
        return "error", "interrupted while it ran"
    if tag in _KNOWN:
        return str(tag), None
    return "error", f"its run {run.run_id} ended {run.status} without an outcome"


def result_from_run(case: DeclaredCase, run: StoredRun, notes: Sequence[str] = ()) -> CaseResult:
    """The case's result as its run recorded it (see :func:`.codec.decode`)."""
    outcome, why = run_outcome(run)
    record = decode(run)
    return CaseResult.for_item(
        case.nodeid,
        case.file,
        params=dict(case.params),
        metrics=record.metrics,
        spread=record.spread,
        repeats=record.repeats,
        seeds=record.seeds,
        outcome=outcome,
        message=record.message or why,
        duration=record.duration,
        directions={m: case.direction(m) for m in {*record.metrics, *case.expect}},
        comparisons=record.comparisons,
        has_baseline=record.has_baseline,
        expect=dict(case.expect),
        gated_metrics=list(case.gated_metrics),
        primary_metric=case.primary_metric,
        run_id=run.run_id,
        run_url=run.url,
        doc=case.doc,
        notes=[*notes, *record.notes],
    )


def missing_result(case: DeclaredCase, group: str, running: Sequence[StoredRun]) -> CaseResult:
    """A declared case with no run that ended in the group: *missing* (or
    skipped / xfailed when its marks say it never runs here)."""
    if case.skipped is not None or case.not_run is not None:
        # As a session records a case its marks skip before it starts.
        outcome = "skipped" if case.skipped is not None else "xfailed"
        return CaseResult.for_item(
            case.nodeid, case.file, params=dict(case.params), outcome=outcome
        )
    message = f"no run in session group {group!r}"
    newest = max(running, key=lambda r: (r.start_time, r.run_id)) if running else None
    if newest is not None:
        message += (
            f"; its run {newest.run_id} is still RUNNING (its shard is still running, "
            "or died without ending it)"
        )
    return CaseResult.for_item(
        case.nodeid,
        case.file,
        params=dict(case.params),
        outcome=MISSING,
        message=message,
        expect=dict(case.expect),
        primary_metric=case.primary_metric,
        doc=case.doc,
        run_id=newest.run_id if newest else None,
        run_url=newest.url if newest else None,
    )


@dataclass
class Merged:
    """What a merge found: one result per declared case, in collection order."""

    group: str
    #: ``"session group"`` or ``"session id"``: what the name matched.
    matched: str
    results: list[CaseResult]
    #: Runs the search returned, and the runs that speak for a case.
    runs: int
    chosen: list[StoredRun]
    #: Runs of node ids that are not among the collected cases.
    undeclared: int = 0
    uri: str | None = None
    #: With ``--exp-compare A B`` (this is side B): side A's name, what it
    #: matched ("session group", "session id" or "baseline files") and runs.
    against: dict[str, Any] | None = None
    #: Gated comparisons that cannot fail (``--exp-compare``'s gate plan).
    warnings: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [r.nodeid for r in self.results if r.outcome == MISSING]

    @property
    def sessions(self) -> list[str]:
        return sorted({r.tags[TAG_SESSION] for r in self.chosen if TAG_SESSION in r.tags})

    def facts(self) -> dict[str, Any]:
        """For the report header and the JSON's ``session.merged``."""
        facts: dict[str, Any] = {
            "group": self.group,
            "matched": self.matched,
            "runs": len(self.chosen),
            "sessions": len(self.sessions),
            "missing": len(self.missing),
        }
        if self.against is not None:
            facts["against"] = dict(self.against)
        return facts

    def session_info(self, info: SessionInfo) -> SessionInfo:
        """``info`` (the merging process's) told as the group's: start of its
        first run, wall time to the end of its last, and the commit, branch,
        dirty flag and data fingerprint its runs recorded (several commits or
        branches joined by ", "; several fingerprints as "N different")."""
        chosen = self.chosen
        if not chosen:
            return replace(info, merged=self.facts(), wall_time=0.0)
        start = min(r.start_time for r in chosen)
        end = max(r.end_time or r.start_time for r in chosen)
        started = datetime.datetime.fromtimestamp(start / 1000).astimezone()

        commits, branches, dirty, fingerprints = provenance_of(chosen)
        fingerprint = fingerprints[0] if len(fingerprints) == 1 else None
        if len(fingerprints) > 1:
            fingerprint = f"{len(fingerprints)} different"
        return replace(
            info,
            started=started.isoformat(timespec="seconds"),
            wall_time=(end - start) / 1000,
            commit=", ".join(commits) or None,
            branch=", ".join(branches) or None,
            dirty=dirty,
            data_fingerprint=fingerprint,
            session_group=self.group if self.matched == "session group" else None,
            merged=self.facts(),
        )

    def summary_lines(self) -> list[tuple[str, bool]]:
        """Terminal lines (text, whether it is bad news)."""
        sessions = len(self.sessions)
        verb = "merged" if self.against is None else "compared"
        lines = [
            (
                f"{verb} {self.matched} {self.group!r}: {len(self.results)} cases from "
                f"{len(self.chosen)} runs of {sessions} session{'s' if sessions != 1 else ''}"
                + (f" in {self.uri}" if self.uri else ""),
                False,
            )
        ]
        if self.against is not None:
            a = self.against
            side = (
                "the committed baseline files"
                if a["matched"] == "baseline files"
                else f"{a['matched']} {a['group']!r}"
            )
            lines.append((f"against {side} as the baseline", False))
        lines += [(warning, False) for warning in self.warnings]
        if self.undeclared:
            lines.append(
                (f"{self.undeclared} runs of cases not collected now were left out", False)
            )
        missing = self.missing
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            where = f"{self.matched} {self.group!r}" if self.against is None else "one of the sides"
            lines.append((f"{len(missing)} cases have no run in {where}: {shown}", True))
        return lines


def merge_results(
    cases: Sequence[DeclaredCase],
    runs: Iterable[StoredRun],
    group: str,
    matched: str = "session group",
) -> Merged:
    """One result per declared case (in the order given) from the group's runs."""
    runs = list(runs)
    by_node: dict[str, list[StoredRun]] = {}
    for run in runs:
        if run.nodeid is not None:
            by_node.setdefault(run.nodeid, []).append(run)
    declared = {case.nodeid for case in cases}
    results: list[CaseResult] = []
    chosen: list[StoredRun] = []
    for case in cases:
        mine = by_node.get(case.nodeid, [])
        ended = [r for r in mine if r.ended]
        if not ended:
            results.append(missing_result(case, group, mine))
            continue
        run = pick_run(ended)
        chosen.append(run)
        notes = []
        others = [r for r in ended if r is not run and not r.superseded]
        if others:
            notes.append(
                f"ran {len(others) + 1} times in {matched} {group!r} (a re-run); "
                f"the latest, run {run.run_id}, is shown"
            )
        results.append(result_from_run(case, run, notes))
    undeclared = sum(len(v) for k, v in by_node.items() if k not in declared)
    return Merged(group, matched, results, len(runs), chosen, undeclared)
