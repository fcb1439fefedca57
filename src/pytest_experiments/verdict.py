"""The rule at the heart of the plugin: what outcome a case gets from its
metrics, its declaration and its baseline.

:func:`evaluate` is pure (no pytest, no mlflow, no files), so every rule is
tested directly; the runner only gathers its inputs and records its answer.
:func:`holm_upgrades` is the session-wide half of the statistical gate: the
controller applies it once every case has reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .conditions import Condition, Tolerance, compare, regression_message
from .results import Comparison, Direction, Outcome
from .stats import Summary, holm

if TYPE_CHECKING:
    from .paired import PairedTest
    from .predictions import Predictions
    from .results import CaseResult

#: Outcome severity: the worst one found wins.
SEVERITY: dict[Outcome, int] = {
    "passed": 0,
    "new": 1,
    "regressed": 2,
    "failed": 3,
    "error": 4,
    "crashed": 5,
}


class DeclarationLike(Protocol):
    """What :func:`evaluate` reads of a validated declaration."""

    @property
    def expect(self) -> Mapping[str, Condition]: ...
    @property
    def tolerances(self) -> Mapping[str, Tolerance]: ...
    @property
    def lower_is_better(self) -> tuple[str, ...]: ...
    @property
    def higher_is_better(self) -> tuple[str, ...]: ...
    def direction(self, metric: str) -> Direction: ...
    def tolerance(self, metric: str) -> Tolerance: ...
    def gated(self, metrics: Iterable[str]) -> set[str]: ...
    @property
    def metric_functions(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Gate:
    """Session-wide settings of the gate."""

    #: Family-wise level of the regression test over the session.
    alpha: float = 0.05
    #: Gated comparisons with a known spread expected in the session. A case
    #: decides alone only what Holm's procedure must decide whatever the other
    #: p-values are (p <= alpha / m); the rest is settled at the session's end.
    comparisons: int = 1
    update_baseline: bool = False
    strict_baseline: bool = False
    #: Holm's first step over every testable comparison: a test whose smallest
    #: possible p-value is above it can never reject (see :func:`plan_gate`).
    first_step: float = 1.0

    @property
    def threshold(self) -> float:
        return self.alpha / max(1, self.comparisons)


@dataclass
class Verdict:
    """What :func:`evaluate` decided for one case."""

    outcome: str
    #: (outcome, message) for every problem found, in the order found.
    problems: list[tuple[Outcome, str]] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    has_baseline: bool = False
    #: What the user should know that did not fail the case.
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str | None:
        return "\n".join(m for _, m in self.problems) or None


def _returned(metrics: Iterable[str]) -> str:
    return ", ".join(sorted(metrics)) or "nothing"


def evaluate(
    case_id: str,
    metrics: Mapping[str, Summary],
    declaration: DeclarationLike,
    baseline: Mapping[str, Summary] | None,
    gate: Gate,
    predictions: tuple[Predictions | None, Predictions | None] = (None, None),
) -> Verdict:
    """The outcome of one case that returned valid ``metrics``.

    - *failed*: a non-finite metric, a missed expectation (on the mean), an
      expected metric that was not returned, or a tolerance/direction naming
      a metric that was not returned (a typo must not silently do nothing);
    - *regressed*: a gated metric worse than its baseline by more than the
      tolerance and, when both sides have n >= 2, significantly so at
      ``gate.threshold`` (a gated baseline metric no longer returned too);
    - *new*: no baseline entry (*failed* with ``strict_baseline``);
    - *passed* otherwise. With ``update_baseline`` regressions do not count.

    ``predictions`` (baseline's, current's): with both, each gated metric the
    plugin can recompute is tested example by example (:mod:`.paired`); a
    test set that changed between them is *error*.
    """
    problems: list[tuple[Outcome, str]] = []
    for metric, summary in metrics.items():
        if not math.isfinite(summary.mean):
            problems.append(("failed", f"metric {metric!r} is {summary.mean} (not finite)"))
    for metric, condition in declaration.expect.items():
        if metric not in metrics:
            problems.append(
                (
                    "failed",
                    f"expected metric {metric!r} was not returned (returned: {_returned(metrics)})",
                )
            )
        elif math.isfinite(metrics[metric].mean):
            message = condition.check(metric, metrics[metric].mean)
            if message:
                problems.append(("failed", message))
    for kind, names in (
        ("tolerance", tuple(declaration.tolerances)),
        ("lower_is_better", declaration.lower_is_better),
        ("higher_is_better", declaration.higher_is_better),
    ):
        for metric in names:
            if metric not in metrics and metric not in declaration.expect:
                problems.append(
                    (
                        "failed",
                        f"{kind} names metric {metric!r}, which was not returned "
                        f"(returned: {_returned(metrics)})",
                    )
                )
    verdict = Verdict(outcome="passed", problems=problems)
    if baseline is None:
        if gate.strict_baseline and not gate.update_baseline:
            problems.append(
                (
                    "failed",
                    f"no baseline for {case_id} (--exp-strict-baseline); "
                    "accept one with --exp-update-baseline",
                )
            )
    else:
        verdict.has_baseline = True
        aligned: tuple[Predictions, Predictions] | None = None
        base_predictions, current_predictions = predictions
        if base_predictions is not None and current_predictions is not None:
            from .predictions import PredictionsError

            try:
                aligned = (
                    base_predictions,
                    current_predictions.aligned_to(base_predictions, "the baseline"),
                )
            except PredictionsError as exc:
                problems.append(("error", str(exc)))
        # Only declared metrics gate; with none declared, every metric does
        # (one no longer returned included).
        gated = declaration.gated(()) or {*metrics, *baseline}
        for metric, old in baseline.items():
            if metric not in metrics:
                if metric in gated and not gate.update_baseline:
                    problems.append(("regressed", f"baseline metric {metric!r} was not returned"))
                continue
            paired = None
            if aligned is not None and metric in gated:
                paired, note = _paired(metric, old, metrics[metric], declaration, aligned)
                if note:
                    verdict.notes.append(note)
            comparison = compare(
                metric,
                old,
                metrics[metric],
                declaration.direction(metric),
                declaration.tolerance(metric),
                threshold=gate.threshold,
                gated=metric in gated,
                paired=paired,
                floor_limit=gate.first_step,
            )
            verdict.comparisons[metric] = comparison
            if comparison.gated and comparison.status == "regressed" and not gate.update_baseline:
                problems.append(("regressed", regression_message(comparison)))
    worst = max((o for o, _ in problems), key=SEVERITY.__getitem__, default=None)
    verdict.outcome = worst or ("passed" if verdict.has_baseline else "new")
    return verdict


@dataclass(frozen=True)
class Planned:
    """A gated comparison as collection sees it, before the case runs."""

    case: str
    metric: str
    #: The baseline has predictions the plugin can recompute the metric from.
    paired: bool
    baseline_n: int
    #: Samples the current side will have (its repeats), None when unknown.
    current_n: int | None
    #: Seeds both sides run (the baseline's recorded ones and the current
    #: repeats'), when the samples will be tested pair by pair; 0 otherwise.
    pairs: int = 0
    #: Whether the samples are fold scores on both sides (both declared
    #: ``folds=K``): tested fold by fold with the corrected resampled t-test
    #: where they pair (the same K, a common seed), else with Welch's t-test
    #: counting K scores a side; neither has a floor.
    folded: bool = False


def plan_gate(planned: Iterable[Planned], alpha: float) -> tuple[int, float, list[str]]:
    """(Holm's m, Holm's first step, warnings) for the comparisons a session
    will test.

    A comparison whose test cannot produce a p-value as small as Holm's first
    step needs over every testable comparison (alpha / m) can never fail: it
    is left out of m, and a warning names case, metric and what would let it
    fire. Paired tests over test examples have no such floor, nor have the
    tests of fold scores (corrected resampled t where they pair, Welch's t
    counting K a side where not); the paired test over seeds has
    the floor of :data:`stats.SEED_PAIR_TEST`."""
    from .stats import SEED_PAIR_TESTS, seed_pair_floor, smallest_p

    items = [p for p in planned if p.paired or (p.baseline_n >= 2 and p.current_n != 1)]
    first_step = alpha / max(1, len(items))
    warnings: list[str] = []
    m = 0
    for p in items:
        if p.paired or p.folded or p.current_n is None:
            m += 1
            continue
        if p.pairs:
            floor = seed_pair_floor(p.pairs)
            if floor <= first_step:
                m += 1
                continue
            from .stats import SEED_PAIR_TEST

            warnings.append(
                f"{p.case}: the gate cannot fail {p.metric}: over {p.pairs} paired seeds the "
                f"smallest p-value of its {SEED_PAIR_TESTS[SEED_PAIR_TEST]} test is "
                f"{floor:.2g}, above the {first_step:.2g} Holm's first step needs over "
                f"{len(items)} comparisons (alpha {alpha:g}); log predictions with "
                "experiment_run.log_predictions(...) for a paired test, or add repeats"
            )
            continue
        floor = smallest_p(p.baseline_n, p.current_n)
        if floor <= first_step:
            m += 1
            continue
        needed = next(
            (n for n in range(p.current_n + 1, 1000) if smallest_p(p.baseline_n, n) <= first_step),
            None,
        )
        more = (
            f"raise repeats to {needed}"
            if needed is not None
            else "accept the baseline with more repeats"
        )
        warnings.append(
            f"{p.case}: the gate cannot fail {p.metric}: with {p.baseline_n} baseline and "
            f"{p.current_n} current samples the smallest p-value of its permutation test "
            f"is {floor:.2g}, above the {first_step:.2g} Holm's first step needs over "
            f"{len(items)} comparisons (alpha {alpha:g}); log predictions with "
            f"experiment_run.log_predictions(...) for a paired test, or {more}"
        )
    return max(1, m), first_step, warnings


def _paired(
    metric: str,
    baseline: Summary,
    current: Summary,
    declaration: DeclarationLike,
    aligned: tuple[Predictions, Predictions],
) -> tuple[PairedTest | None, str | None]:
    """The paired test of one metric, or (None, why not) when the plugin
    cannot recompute the metric or the predictions disagree with it."""
    from .paired import consistency_problem, metric_spec, paired_test
    from .predictions import PredictionsError

    spec = metric_spec(metric, declaration.metric_functions)
    if spec is None:
        return None, None  # not a metric the plugin knows: the samples decide
    base_predictions, current_predictions = aligned
    for side, summary, what in (
        (base_predictions, baseline, "baseline"),
        (current_predictions, current, "current"),
    ):
        problem = consistency_problem(metric, summary.mean, spec, side)
        if problem:
            return None, f"{what} {problem}"
    try:
        test = paired_test(
            spec,
            base_predictions,
            current_predictions,
            declaration.direction(metric),
            declaration.tolerance(metric).allowed(baseline.mean),
        )
    except PredictionsError as exc:
        return None, f"{metric}: {exc}"
    return test, None


def tested_comparisons(results: Iterable[CaseResult], alpha: float) -> dict[str, float]:
    """``"<node id>::<metric>" -> p-value`` of every gated comparison that was
    tested: the family Holm's procedure corrects over.

    A comparison whose test cannot give a p-value as small as Holm's first
    step needs over all tested ones (a permutation test over few repeats) can
    never be rejected: it is left out, so that it does not make every other
    comparison's threshold stricter (the plugin warns about it at collection)."""
    tested = {
        f"{result.nodeid}::{metric}": comparison
        for result in results
        if result.outcome not in ("error", "crashed")
        for metric, comparison in result.comparisons.items()
        if comparison.gated and comparison.p_value is not None
    }
    first_step = alpha / max(1, len(tested))
    return {
        key: c.p_value
        for key, c in tested.items()
        if c.p_value is not None and c.p_floor <= first_step
    }


def holm_upgrades(results: Iterable[CaseResult], alpha: float) -> list[CaseResult]:
    """Apply Holm's correction over the session's tested comparisons: a metric
    that is worse beyond its tolerance ("noise" when its case decided alone)
    and that Holm rejects is *regressed*. Updates those results in place
    (comparison status, message, outcome) and returns the ones whose outcome
    became *regressed* (a case that had already failed keeps its outcome)."""
    results = list(results)
    rejected = holm(tested_comparisons(results, alpha), alpha)
    upgraded: list[CaseResult] = []
    for result in results:
        changed = False
        for metric, comparison in list(result.comparisons.items()):
            key = f"{result.nodeid}::{metric}"
            if comparison.status == "noise" and key in rejected:
                comparison = result.comparisons[metric] = comparison.with_status("regressed")
                note = regression_message(comparison) + " [Holm-corrected over the session]"
                result.message = "\n".join(filter(None, [result.message, note]))
                changed = True
        if changed and SEVERITY.get(result.outcome, 0) < SEVERITY["regressed"]:
            result.outcome = "regressed"
            upgraded.append(result)
    return upgraded


def rejudge(results: Iterable[CaseResult], alpha: float) -> list[CaseResult]:
    """Holm's correction applied afresh over a whole group of results, as
    ``--exp-merge`` sees the shards of one study: each shard decided with the
    comparisons it ran, so a shard could call a regression that the whole
    study's m would not, and miss one it would.

    Every gated comparison in Holm's family gets its status from the group's
    verdict (regressed, or within noise / worse); each case's message and
    outcome follow. Returns the results whose outcome changed."""
    from .conditions import FLOAT_NOISE

    results = list(results)
    family = tested_comparisons(results, alpha)
    rejected = holm(family, alpha)
    changed: list[CaseResult] = []
    for result in results:
        if result.outcome not in ("passed", "regressed"):
            continue  # failed, error, crashed... stand as they are
        lines = result.message.split("\n") if result.message else []
        for metric, comparison in list(result.comparisons.items()):
            key = f"{result.nodeid}::{metric}"
            if key not in family:
                continue
            if (key in rejected) == (comparison.status == "regressed"):
                continue  # the shard's verdict stands
            lines = [line for line in lines if not line.startswith(f"{metric} regressed:")]
            if key in rejected:
                comparison = comparison.with_status("regressed")
                lines.append(regression_message(comparison) + " [Holm-corrected over the group]")
            else:
                gain = comparison.delta if comparison.direction == "higher" else -comparison.delta
                beyond = -gain > comparison.allowed + FLOAT_NOISE
                comparison = comparison.with_status("noise" if beyond else "worse")
            result.comparisons[metric] = comparison
        outcome: Outcome = "regressed" if lines else "passed"
        result.message = "\n".join(lines) or None
        if outcome != result.outcome:
            result.outcome = outcome
            changed.append(result)
    return changed
