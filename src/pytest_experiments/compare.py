"""``--exp-compare A B``: B's results judged against A's, from the store.

A comparison is a merge (:mod:`.merge`, :mod:`.group_session`) of side B whose baseline is side A:
each side is a session group or a session id (``A`` may also be
``baseline``, the committed baseline files and their prediction sidecars).
It collects the declared cases, runs none of them, picks B's run of each
case as a merge does (and A's the same way), reads both runs' metrics with
their samples (and both runs' predictions, where a gated metric can be
recomputed from them), and judges B against A with :func:`verdict.evaluate`
under the gate's plan (:func:`verdict.plan_gate`); the session then applies
Holm's correction over every comparison (:func:`verdict.rejudge`), writes
the report, JSON and summary, and exits as the gate implies.

A declared case with no run on side B, or none on side A, is *missing* and
says which side lacks it. B's own outcome stands where it is not the gate's
to decide (failed, error, crashed, skipped...).

The deciding part (:func:`compare_results`) is pure: no pytest, no mlflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .codec import StoredRun, computed_by
from .group_session import declared_cases, read_group
from .merge import MISSING, DeclaredCase, Merged, merge_results, run_outcome
from .settings import COMPARE_BASELINE
from .stats import Summary
from .verdict import SEVERITY, Gate, Planned, evaluate, plan_gate

if TYPE_CHECKING:
    import pytest

    from .predictions import Predictions
    from .results import CaseResult, Outcome
    from .runner import CaseRunner
    from .settings import Settings
    from .verdict import DeclarationLike

OPTION = "--exp-compare"
#: B's outcomes that the gate decides (with its expectations checked again).
JUDGED = frozenset({"passed", "new", "regressed", "failed"})


@dataclass(frozen=True)
class Side:
    """What one side holds of a case: its metrics (with samples where the run
    had several) and its predictions (None when it logged none)."""

    metrics: Mapping[str, Summary]
    predictions: Predictions | None = None


@dataclass(frozen=True)
class Absent:
    """A side that holds nothing usable for a case, and why."""

    why: str


# -- the pure part ------------------------------------------------------------------


def plan(
    cases: Sequence[DeclaredCase],
    declarations: Mapping[str, DeclarationLike],
    a: Mapping[str, Side | Absent],
    b: Mapping[str, Side | Absent],
    alpha: float,
) -> tuple[Gate, list[str]]:
    """The gate over the comparisons both sides allow, as a session plans it
    (:func:`verdict.plan_gate`): Holm's m and first step, and the warnings
    for comparisons that cannot fail."""
    from .paired import metric_spec
    from .stats import common_seeds

    planned: list[Planned] = []
    for case in cases:
        base, current = a.get(case.nodeid), b.get(case.nodeid)
        if not isinstance(base, Side) or not isinstance(current, Side):
            continue
        decl = declarations[case.nodeid]
        gated = decl.gated(()) or {*base.metrics, *current.metrics}
        both = base.predictions is not None and current.predictions is not None
        for metric, summary in base.metrics.items():
            if metric not in gated or metric not in current.metrics:
                continue
            other = current.metrics[metric]
            planned.append(
                Planned(
                    case=case.nodeid,
                    metric=metric,
                    paired=both and metric_spec(metric, decl.metric_functions) is not None,
                    baseline_n=summary.n if summary.spread_known else 1,
                    current_n=other.n if other.spread_known else 1,
                    pairs=common_seeds(summary.seeds, other.seeds)
                    if summary.has_samples and other.has_samples and not summary.folds
                    else 0,
                    # fold scores on both sides: corrected t where they
                    # pair, else Welch's counting K a side (no floor)
                    folded=bool(summary.folds and other.folds)
                    and summary.has_samples
                    and other.has_samples,
                )
            )
    m, first_step, warnings = plan_gate(planned, alpha)
    return Gate(alpha=alpha, comparisons=m, first_step=first_step), warnings


def compare_results(
    cases: Sequence[DeclaredCase],
    declarations: Mapping[str, DeclarationLike],
    merged: Merged,
    a: Mapping[str, Side | Absent],
    b: Mapping[str, Side | Absent],
    gate: Gate,
) -> list[CaseResult]:
    """B's results (``merged``, one per declared case in order) judged
    against side A: comparisons, outcome and message from
    :func:`verdict.evaluate`, B's comparisons with its own baseline dropped.
    Holm's correction over all of them is the session's to apply."""
    results: list[CaseResult] = []
    for case, result in zip(cases, merged.results, strict=True):
        current, base = b.get(case.nodeid), a.get(case.nodeid)
        result = replace(result, comparisons={}, has_baseline=False, notes=list(result.notes))
        if result.outcome == MISSING:
            result.message = f"side B: {result.message}"
        elif result.outcome not in JUDGED:
            if isinstance(base, Absent):
                result.notes.append(f"side A: {base.why}")
        elif isinstance(base, Absent) or base is None:
            why = base.why if isinstance(base, Absent) else "no run"
            result.outcome = "missing"
            result.message = f"side A: {why}"
        elif isinstance(current, Side):
            metrics = dict(current.metrics)
            for name, value in result.metrics.items():
                if name not in metrics:  # not finite: the run could not log it
                    metrics[name] = Summary(value)
            verdict = evaluate(
                case.nodeid.split("::", 1)[1],
                metrics,
                declarations[case.nodeid],
                base.metrics,
                gate,
                (base.predictions, current.predictions),
            )
            outcome = cast("Outcome", verdict.outcome)
            if result.outcome == "failed" and SEVERITY[outcome] < SEVERITY["failed"]:
                outcome = "failed"  # B's own failure stands
            result.message = verdict.message or (result.message if outcome == "failed" else None)
            result.outcome = outcome
            result.comparisons = verdict.comparisons
            result.has_baseline = verdict.has_baseline
            result.notes.extend(verdict.notes)
            for name, summary in current.metrics.items():
                if summary.n > 1:
                    result.spread[name] = summary.to_dict()
        results.append(result)
    return results


# -- the store and the session --------------------------------------------------------


def _wants_predictions(decl: DeclarationLike, metrics: Mapping[str, Summary]) -> bool:
    """Whether a paired test could apply: a gated metric the plugin can
    recompute from predictions (else their download would be wasted)."""
    from .paired import metric_spec

    gated = decl.gated(()) or set(metrics)
    return any(metric_spec(m, decl.metric_functions) is not None for m in gated)


def run_side(
    backend: Any, run: StoredRun, decl: DeclarationLike, predictions: bool
) -> Side | Absent:
    """A case's run as one side of the comparison (samples read back from
    its history; predictions when ``predictions`` and it logged them)."""
    outcome, _ = run_outcome(run)
    if outcome in ("error", "crashed"):
        return Absent(f"its run {run.run_id} ended {outcome}")
    metrics = backend.run_samples(run.run_id, run.metrics, run.tags, run.params)
    if not metrics:
        return Absent(f"its run {run.run_id} holds no returned metric")
    wanted = predictions and _wants_predictions(decl, metrics)
    # A run that recorded a cached case (--exp-cache) has no artifacts: the
    # predictions are in the run that computed it.
    origin = computed_by(run.run_id, run.tags)
    return Side(metrics, backend.run_predictions(origin) if wanted else None)


def baseline_sides(rootdir: Path, cases: Sequence[DeclaredCase]) -> dict[str, Side | Absent]:
    """Side A from the committed baseline files and their prediction sidecars."""
    import pytest

    from . import baselines
    from .predictions import PredictionsError, load_sidecar, sidecar_path

    sides: dict[str, Side | Absent] = {}
    files: dict[str, tuple[Path, baselines.Baselines, dict[str, Predictions]]] = {}
    for case in cases:
        if case.file not in files:
            path = baselines.baseline_path(rootdir / case.file)
            try:
                files[case.file] = (
                    path,
                    baselines.load(path),
                    load_sidecar(sidecar_path(path)),
                )
            except (baselines.BaselineError, PredictionsError) as exc:
                raise pytest.UsageError(f"{OPTION} {COMPARE_BASELINE}: {exc}") from None
        path, entries, predictions = files[case.file]
        case_id = case.nodeid.split("::", 1)[1]
        entry = entries.get(case_id)
        if entry is None:
            shown = path.relative_to(rootdir).as_posix() if path.is_relative_to(rootdir) else path
            sides[case.nodeid] = Absent(f"no entry in the baseline file {shown}")
        else:
            sides[case.nodeid] = Side(entry, predictions.get(case_id))
    return sides


def compare_session(
    config: pytest.Config, settings: Settings, items: list[pytest.Item], runner: CaseRunner
) -> None:
    """``--exp-compare A B``: read both sides for the collected cases, judge B
    against A, and hand the results to the session (which writes report,
    JSON and summary, applies Holm's correction and sets the exit status).
    Runs when collection ends, on the controller."""
    from .group_session import store_backend
    from .redaction import redact_uri
    from .session import experiment_session

    assert settings.compare is not None
    a, b = settings.compare
    cases = declared_cases(
        items,
        runner,
        f"{OPTION} {a} {b}",
        "the sessions ran, e.g. pytest experiments/ --exp-compare A B",
    )
    declarations: dict[str, DeclarationLike] = {
        item.nodeid: runner.declaration(item)  # type: ignore[arg-type]
        for item in items
    }
    files = {case.file for case in cases}
    backend = store_backend(settings, OPTION, b)
    runs, matched = read_group(settings, files, b, OPTION, backend)
    merged = merge_results(cases, runs, b, matched)
    merged.uri = redact_uri(settings.tracking_uri)
    chosen_b = {run.nodeid: run for run in merged.chosen}
    b_sides = {
        nodeid: run_side(backend, run, declarations[nodeid], True)
        for nodeid, run in chosen_b.items()
        if nodeid is not None
    }
    if a == COMPARE_BASELINE:
        a_sides = baseline_sides(Path(settings.rootdir), cases)
        merged.against = {"group": a, "matched": "baseline files", "runs": 0}
    else:
        runs_a, matched_a = read_group(settings, files, a, OPTION, backend)
        merged_a = merge_results(cases, runs_a, a, matched_a)
        a_sides = {}
        for case, result in zip(cases, merged_a.results, strict=True):
            if result.outcome == MISSING:
                a_sides[case.nodeid] = Absent(result.message or f"no run in {matched_a} {a!r}")
        for run in merged_a.chosen:
            nodeid = run.nodeid
            assert nodeid is not None
            current = b_sides.get(nodeid)
            paired = isinstance(current, Side) and current.predictions is not None
            a_sides[nodeid] = run_side(backend, run, declarations[nodeid], paired)
        merged.against = {"group": a, "matched": matched_a, "runs": len(merged_a.chosen)}
    gate, warnings = plan(cases, declarations, a_sides, b_sides, settings.alpha)
    merged.results = compare_results(cases, declarations, merged, a_sides, b_sides, gate)
    merged.warnings = warnings
    experiment_session(config, settings).merged(merged)
