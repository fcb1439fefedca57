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
from typing import TYPE_CHECKING, Protocol

from .conditions import Condition, Tolerance, compare, regression_message
from .results import Comparison, Direction, Outcome
from .stats import Summary, holm

if TYPE_CHECKING:
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
        # Only declared metrics gate; with none declared, every metric does
        # (one no longer returned included).
        gated = declaration.gated(()) or {*metrics, *baseline}
        for metric, old in baseline.items():
            if metric not in metrics:
                if metric in gated and not gate.update_baseline:
                    problems.append(("regressed", f"baseline metric {metric!r} was not returned"))
                continue
            comparison = compare(
                metric,
                old,
                metrics[metric],
                declaration.direction(metric),
                declaration.tolerance(metric),
                threshold=gate.threshold,
                gated=metric in gated,
            )
            verdict.comparisons[metric] = comparison
            if comparison.gated and comparison.status == "regressed" and not gate.update_baseline:
                problems.append(("regressed", regression_message(comparison)))
    worst = max((o for o, _ in problems), key=SEVERITY.__getitem__, default=None)
    verdict.outcome = worst or ("passed" if verdict.has_baseline else "new")
    return verdict


def tested_comparisons(results: Iterable[CaseResult]) -> dict[str, float]:
    """``"<node id>::<metric>" -> p-value`` of every gated comparison that was
    tested (both sides had n >= 2): the family Holm's procedure corrects over."""
    return {
        f"{result.nodeid}::{metric}": comparison.p_value
        for result in results
        if result.outcome not in ("error", "crashed")
        for metric, comparison in result.comparisons.items()
        if comparison.gated and comparison.p_value is not None
    }


def holm_upgrades(results: Iterable[CaseResult], alpha: float) -> list[CaseResult]:
    """Apply Holm's correction over the session's tested comparisons: a metric
    that is worse beyond its tolerance ("noise" when its case decided alone)
    and that Holm rejects is *regressed*. Updates those results in place
    (comparison status, message, outcome) and returns the ones whose outcome
    became *regressed* (a case that had already failed keeps its outcome)."""
    results = list(results)
    rejected = holm(tested_comparisons(results), alpha)
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
