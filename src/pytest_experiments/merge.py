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

The deciding part is pure (:func:`merge_results` and below: no pytest, no
mlflow); :func:`result_tags` writes, when a case's run ends, what it reads back.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .results import OUTCOMES, PYTEST_OUTCOMES, CaseResult, Comparison, SessionInfo
from .tags import (
    TAG_ATTEMPT,
    TAG_COMPARISONS,
    TAG_DURATION,
    TAG_MESSAGE,
    TAG_METRICS,
    TAG_NODEID,
    TAG_OUTCOME,
    TAG_REPEATS,
    TAG_SEEDS,
    TAG_SESSION,
    TAG_SESSION_GROUP,
    TAG_STATS,
    TAG_SUPERSEDED_BY,
)

if TYPE_CHECKING:
    import pytest

    from .runner import CaseRunner
    from .settings import Settings

#: The outcome of a declared case that has no run in the group.
MISSING = "missing"
#: Runs read per page of the search.
PAGE = 1000
#: MLflow keeps tag values up to this many characters.
MAX_TAG = 8000
#: Run statuses of runs that ended.
ENDED = frozenset({"FINISHED", "FAILED", "KILLED"})
_KNOWN = frozenset(OUTCOMES) | frozenset(PYTEST_OUTCOMES)


# -- what a case's run records for the merge ---------------------------------------


def result_tags(result: CaseResult) -> dict[str, str]:
    """The tags a case's run ends with so that a merge can rebuild its result:
    duration, message (when there is one) and, when the case had a baseline
    entry, its comparisons as JSON (``null`` when too long for a tag)."""
    tags = {TAG_DURATION: repr(float(result.duration))}
    if result.message:
        message = result.message
        tags[TAG_MESSAGE] = message if len(message) <= MAX_TAG else message[: MAX_TAG - 3] + "..."
    if result.has_baseline:
        text = json.dumps(
            {m: c.to_dict() for m, c in result.comparisons.items()}, separators=(",", ":")
        )
        tags[TAG_COMPARISONS] = text if len(text) <= MAX_TAG else "null"
    return tags


# -- the pure part ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    """One run of the group, as the tracking store gave it."""

    run_id: str
    #: RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.
    status: str
    #: Milliseconds since the epoch (end: None while running).
    start_time: int
    end_time: int | None
    #: Latest value of each metric (the mean, for metrics with samples).
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The run's page in the MLflow UI (HTTP stores only).
    url: str | None = None

    @property
    def nodeid(self) -> str | None:
        return self.tags.get(TAG_NODEID)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def superseded(self) -> bool:
        return TAG_SUPERSEDED_BY in self.tags

    @property
    def attempt(self) -> int:
        text = self.tags.get(TAG_ATTEMPT, "")
        return int(text) if text.isdigit() else 0


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


def _json(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def result_from_run(case: DeclaredCase, run: StoredRun, notes: Sequence[str] = ()) -> CaseResult:
    """The case's result as its run recorded it (see :func:`result_tags` and
    the runner's metric and repeat tags). Metrics are the ones the experiment
    returned (tag ``experiments.metrics``; metrics logged on the side are
    left out), each the run's value, which is the mean of its samples; a
    returned metric the run does not hold was not finite (NaN here). Spread:
    n, mean and std from tag ``experiments.stats`` (the samples themselves
    stay in the metric's history)."""
    outcome, why = run_outcome(run)
    tags = run.tags
    names = _json(tags.get(TAG_METRICS), [])
    names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
    metrics = {n: float(run.metrics[n]) if n in run.metrics else math.nan for n in names}
    stats = _json(tags.get(TAG_STATS), {})
    spread: dict[str, dict[str, Any]] = {}
    for name in names:
        entry = stats.get(name) if isinstance(stats, dict) else None
        if isinstance(entry, dict) and {"mean", "n", "std"} <= set(entry):
            spread[name] = {
                "mean": float(entry["mean"]),
                "n": int(entry["n"]),
                "std": None if entry["std"] is None else float(entry["std"]),
                "samples": [],
            }
    repeats_text = tags.get(TAG_REPEATS, "1")
    repeats = int(repeats_text) if repeats_text.isdigit() and int(repeats_text) > 0 else 1
    seeds = _json(tags.get(TAG_SEEDS), None)
    if not (isinstance(seeds, list) and all(isinstance(s, int) for s in seeds)):
        seed = run.params.get("seed", "")
        seeds = [int(seed)] if seed.lstrip("-").isdigit() else []
    comparisons: dict[str, Comparison] = {}
    notes = list(notes)
    raw = _json(tags.get(TAG_COMPARISONS), None)
    if isinstance(raw, dict):
        try:
            comparisons = {str(m): Comparison.from_dict(c) for m, c in raw.items()}
        except TypeError:
            notes.append("its run's baseline comparisons could not be read")
    elif TAG_COMPARISONS in tags:
        notes.append("its run did not record its baseline comparisons (too many metrics)")
    try:
        duration = float(tags[TAG_DURATION])
    except (KeyError, ValueError):
        duration = max(0.0, ((run.end_time or run.start_time) - run.start_time) / 1000)
    return CaseResult.for_item(
        case.nodeid,
        case.file,
        params=dict(case.params),
        metrics=metrics,
        spread=spread,
        repeats=repeats,
        seeds=list(seeds),
        outcome=outcome,
        message=tags.get(TAG_MESSAGE) or why,
        duration=duration,
        directions={m: case.direction(m) for m in {*metrics, *case.expect}},
        comparisons=comparisons,
        has_baseline=TAG_COMPARISONS in tags,
        expect=dict(case.expect),
        gated_metrics=list(case.gated_metrics),
        primary_metric=case.primary_metric,
        run_id=run.run_id,
        run_url=run.url,
        doc=case.doc,
        notes=notes,
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

        def joined(tag: str) -> str | None:
            values = sorted({r.tags[tag] for r in chosen if r.tags.get(tag)})
            return ", ".join(values) if values else None

        fingerprints = sorted(
            {r.tags["data.fingerprint"] for r in chosen if r.tags.get("data.fingerprint")}
        )
        fingerprint = fingerprints[0] if len(fingerprints) == 1 else None
        if len(fingerprints) > 1:
            fingerprint = f"{len(fingerprints)} different"
        return replace(
            info,
            started=started.isoformat(timespec="seconds"),
            wall_time=(end - start) / 1000,
            commit=joined("git.commit"),
            branch=joined("git.branch"),
            dirty=any(r.tags.get("git.dirty") == "true" for r in chosen),
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


# -- the store and the session --------------------------------------------------------


def declared_case(item: pytest.Item, runner: CaseRunner) -> DeclaredCase:
    """What the merge knows of a collected case without running it."""
    import pytest

    from .discovery import relative_file

    assert isinstance(item, pytest.Function)
    decl = runner.declaration(item)
    from .pytest_internals import skipped_by_marks

    skipped, not_run = skipped_by_marks(item)
    return DeclaredCase(
        nodeid=item.nodeid,
        file=relative_file(item),
        params=runner.case_params(item),
        expect={k: c.text for k, c in decl.expect.items()},
        gated_metrics=decl.declared_metrics(),
        primary_metric=decl.primary_metric,
        doc=decl.doc,
        direction=decl.direction,
        skipped=skipped,
        not_run=not_run,
    )


def store_backend(settings: Settings, option: str, group: str) -> Any:
    """The tracking store ready to read (an ``MlflowBackend``), checked
    first: ``pytest.UsageError`` naming ``option`` when it does not exist or
    cannot be used."""
    import pytest

    from .provenance import Provenance
    from .redaction import redact_uri
    from .stores import check_store, sqlite_path
    from .tracking import MlflowBackend

    uri = settings.tracking_uri
    assert uri is not None
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise pytest.UsageError(
            f"{option}: no runs in group {group!r} in {redact_uri(uri)}: the store does not exist"
        )
    problem = check_store(uri)
    if problem is not None:
        raise pytest.UsageError(f"{option}: {problem}")
    return MlflowBackend(settings, Provenance())


def read_group(
    settings: Settings,
    files: Iterable[str],
    group: str,
    option: str = "--exp-merge",
    backend: Any = None,
) -> tuple[list[StoredRun], str]:
    """The runs of session group ``group`` (else, when it has none, of the
    session with that id) in the MLflow experiments of ``files``, and which
    of the two the name matched. One paged search over those experiments,
    filtered on the tag: never one per case. ``pytest.UsageError`` with a
    one-line reason (credentials removed), naming ``option``, when the store
    cannot say. ``backend``: an ``MlflowBackend`` from :func:`store_backend`
    (else one is made)."""
    import pytest

    from .redaction import redact_uri, scrub_credentials

    where = redact_uri(settings.tracking_uri)
    if backend is None:
        backend = store_backend(settings, option, group)
    names: list[str] = []
    try:
        backend.prepare()  # mlflow imported as a session imports it (its warnings quiet)
        client = backend.client
        names = sorted({backend.experiment_name(f) for f in files})
        ids: list[str] = []
        for name in names:
            found = client.get_experiment_by_name(name)
            if found is not None and found.lifecycle_stage != "deleted":
                ids.append(str(found.experiment_id))
        if ids:
            for tag, matched in ((TAG_SESSION_GROUP, "session group"), (TAG_SESSION, "session id")):
                runs = _search(backend, ids, f"tags.`{tag}` = '{group}'")
                if runs:
                    return runs, matched
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise pytest.UsageError(
            scrub_credentials(
                f"{option}: could not read group {group!r} from {where}: "
                f"{type(exc).__name__}: {message}".splitlines()[0]
            )
        ) from None
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise pytest.UsageError(
        f"{option}: no runs in group {group!r} in {where} "
        f"(MLflow experiments searched: {shown}; the name is a session group, "
        f"--exp-session-group, or a session id)"
    )


def _search(backend: Any, ids: list[str], filter_string: str) -> list[StoredRun]:
    """Every run matching the filter, page by page."""
    client = backend.client
    runs: list[StoredRun] = []
    token: str | None = None
    while True:
        page = client.search_runs(ids, filter_string, max_results=PAGE, page_token=token)
        for run in page:
            info, data = run.info, run.data
            runs.append(
                StoredRun(
                    run_id=info.run_id,
                    status=info.status,
                    start_time=int(info.start_time or 0),
                    end_time=None if info.end_time is None else int(info.end_time),
                    metrics=dict(data.metrics),
                    params=dict(data.params),
                    tags=dict(data.tags),
                    url=backend.run_url(info.experiment_id, info.run_id),
                )
            )
        token = page.token
        if not token:
            return runs


def merge_session(
    config: pytest.Config, settings: Settings, items: list[pytest.Item], runner: CaseRunner
) -> None:
    """``--exp-merge``: read the group's runs for the collected cases and hand
    the results to the session (which writes report, JSON and summary, and
    sets the exit status). Runs when collection ends, on the controller."""
    import pytest

    from .redaction import redact_uri
    from .session import experiment_session

    group = settings.merge
    assert group is not None
    if not items:
        raise pytest.UsageError(
            f"--exp-merge {group}: no experiment case was collected; give the paths and "
            "selection the group ran, e.g. pytest experiments/ --exp-merge NAME"
        )
    from .pytest_internals import PytestChanged

    try:
        cases = [declared_case(item, runner) for item in items]
    except PytestChanged as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.INTERNAL_ERROR)
    runs, matched = read_group(settings, {case.file for case in cases}, group)
    merged = merge_results(cases, runs, group, matched)
    merged.uri = redact_uri(settings.tracking_uri)
    experiment_session(config, settings).merged(merged)
