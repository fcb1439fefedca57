"""Expectations, metric direction, tolerances and baseline comparison, and
the errors a malformed declaration raises.

Small pure objects: nothing here imports pytest or mlflow, so every rule can be
tested (and property-tested) on its own.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .results import Comparison, Direction, Status
from .stats import (
    FOLD_UNPAIRED_TEST,
    FoldPairs,
    SeedPairs,
    Summary,
    fold_pairing_problem,
    pairing,
    unpaired_fold_noise,
    worse_test,
)

if TYPE_CHECKING:
    from .paired import PairedTest

#: Absolute slack under which two metric values count as equal (float noise).
FLOAT_NOISE = 1e-9

#: ``_``-separated words that make a metric lower-is-better.
LOWER_IS_BETTER_WORDS = frozenset(
    {"loss", "error", "mse", "mae", "rmse", "time", "seconds", "latency"}
)


class DeclarationError(ValueError):
    """An experiment declaration (condition, tolerance, params) is malformed.

    The message names the offending text; the collector adds file and experiment.
    """


class DeclarationProblems(DeclarationError):
    """Every problem found in one declaration: ``problems``, one per line of
    the message."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def problems_of(error: DeclarationError) -> list[str]:
    """The problems a DeclarationError reports, one line each."""
    if isinstance(error, DeclarationProblems):
        return list(error.problems)
    return [str(error)]


_OPS = (">=", "<=", ">", "<")
_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """A metric expectation such as ``">= 0.8"``."""

    op: str
    threshold: float
    text: str

    @classmethod
    def parse(cls, text: object) -> Condition:
        """Parse ``">= 0.8"``-style text; raise DeclarationError on anything else."""
        if not isinstance(text, str):
            raise DeclarationError(f"condition {text!r} must be a string such as '>= 0.8'")
        match = _CONDITION.match(text)
        if match is None:
            raise DeclarationError(
                f"malformed condition {text!r}: expected an operator "
                f"({', '.join(_OPS)}) and a number, e.g. '>= 0.8'"
            )
        threshold = float(match.group(2))
        if not math.isfinite(threshold):
            raise DeclarationError(f"condition {text!r}: the threshold must be a finite number")
        return cls(op=match.group(1), threshold=threshold, text=text.strip())

    @property
    def direction(self) -> Direction:
        """``"higher"`` for ``>``/``>=``, ``"lower"`` for ``<``/``<=``."""
        return "higher" if self.op.startswith(">") else "lower"

    def holds(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.threshold
        if self.op == ">":
            return value > self.threshold
        if self.op == "<=":
            return value <= self.threshold
        return value < self.threshold

    def check(self, metric: str, value: float) -> str | None:
        """None when ``value`` meets the condition, else a message for the user."""
        if self.holds(value):
            return None
        return f"expected {metric} {self.text}, got {_shown(value)}"


def _shown(value: float) -> str:
    """``value`` briefly, unless rounding would hide why a condition failed."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


@dataclass(frozen=True)
class Tolerance:
    """Allowed regression: absolute (``0.01``) or relative (``"2%"``)."""

    amount: float
    relative: bool

    @classmethod
    def parse(cls, value: object) -> Tolerance:
        if isinstance(value, bool):
            raise DeclarationError(f"tolerance {value!r} must be a number or 'N%'")
        if isinstance(value, numbers.Real):  # numpy scalars too
            amount = float(value)
            relative = False
            shown: object = value
        elif isinstance(value, str):
            text = value.strip()
            relative = text.endswith("%")
            number = text[:-1].strip() if relative else text
            try:
                amount = float(number)
            except ValueError:
                raise DeclarationError(
                    f"malformed tolerance {value!r}: expected a number "
                    "(absolute, e.g. 0.01) or a percentage (relative, e.g. '2%')"
                ) from None
            if relative:
                amount /= 100.0
            shown = value
        else:
            raise DeclarationError(
                f"tolerance {value!r} must be a number (absolute) or a string like '2%' (relative)"
            )
        if not math.isfinite(amount) or amount < 0:
            raise DeclarationError(f"tolerance {shown!r} must be a finite, non-negative amount")
        return cls(amount=amount, relative=relative)

    def allowed(self, baseline: float) -> float:
        """The absolute drop allowed from ``baseline``."""
        if self.relative:
            return abs(baseline) * self.amount
        return self.amount

    def __str__(self) -> str:
        if self.relative:
            return f"{self.amount * 100:g}%"
        return f"{self.amount:g}"


def name_direction(metric: str) -> Direction:
    """Direction from the metric's name alone (``log_loss`` -> lower)."""
    words = metric.lower().split("_")
    return "lower" if LOWER_IS_BETTER_WORDS.intersection(words) else "higher"


def direction_for(
    metric: str,
    *,
    lower_is_better: Iterable[str] = (),
    higher_is_better: Iterable[str] = (),
    expect: Mapping[str, Condition] | None = None,
) -> Direction:
    """Which way is better for ``metric``: explicit lists, then expect's operator,
    then the name."""
    if metric in tuple(lower_is_better):
        return "lower"
    if metric in tuple(higher_is_better):
        return "higher"
    if expect and metric in expect:
        return expect[metric].direction
    return name_direction(metric)


def compare(
    metric: str,
    baseline: Summary | float,
    current: Summary | float,
    direction: Direction,
    tolerance: Tolerance,
    *,
    threshold: float = 0.05,
    gated: bool = True,
    paired: PairedTest | None = None,
    floor_limit: float = 1.0,
) -> Comparison:
    """Compare one metric with its baseline.

    ``status`` is ``better``, ``same`` (within float noise), ``worse`` (worse,
    but the test does not reject and the worsening is within the tolerance),
    ``noise`` (worse beyond the tolerance, but not significantly) or
    ``regressed``. Where a test can be made, it alone decides: a one-sided
    test of H0 "the worsening is at most the tolerance" rejected at
    ``threshold``. The test is ``paired`` (predictions on both sides: the
    test set's noise and the seed's) when given, else the samples' test (the
    seed's noise: repeats or returned sequences, n >= 2 on both sides; paired
    by seed when both sides ran common seeds, and then ``delta`` is the mean
    per-seed difference over those seeds; fold by fold when both declared
    the same cross-validation folds and ran a common seed, ``delta`` then
    the mean per-fold difference over those repeats). With neither, or when
    every paired seed's (fold's) difference is the same, only the tolerance
    decides (no noise estimate). Where a side declared folds that cannot be
    paired, ``noise`` says why after the unpaired test's. A test whose
    smallest possible p-value is above ``floor_limit`` (Holm's first step over
    the session) can never reject: its p-value is shown, never failed on.
    """
    base, cur = _as_summary(baseline), _as_summary(current)
    delta = cur.mean - base.mean
    gain = delta if direction == "higher" else -delta
    allowed = tolerance.allowed(base.mean)
    p_value: float | None = None
    test: str | None = None
    bound: float | None = None
    detectable: float | None = None
    floor = 0.0
    finite = math.isfinite(cur.mean)
    if paired is not None and finite:
        noise = "test examples and seeds" if max(base.n, cur.n) > 1 else "test examples"
        if paired.p_value is None:
            noise = "identical predictions"
        p_value, bound = paired.p_value, paired.bound
        test = paired.test if p_value is not None else None
        detectable = paired.detectable(allowed, threshold)
    else:
        sample_test = worse_test(base, cur, direction, allowed) if finite else None
        testable = finite and base.spread_known and cur.spread_known
        paired_by = pairing(base, cur) if testable else None
        folds = paired_by if isinstance(paired_by, FoldPairs) else None
        pairs = paired_by if isinstance(paired_by, SeedPairs) else None
        if paired_by is not None:
            # Both sides ran these seeds (folds): the worsening is the mean of
            # the per-seed (per-fold) worsenings; what one side ran alone
            # does not count.
            d = paired_by.worsenings(direction)
            gain = -math.fsum(d) / len(d)
            delta = gain if direction == "higher" else -gain
        if sample_test is not None:
            if folds is not None:
                noise = folds.noise()
            elif sample_test.test == FOLD_UNPAIRED_TEST:
                noise = unpaired_fold_noise(base, cur)
            else:
                noise = f"{sample_test.pairs} paired seeds" if sample_test.pairs else "seeds"
            p_value, test, floor = sample_test.p_value, sample_test.test, sample_test.floor
            bound = sample_test.bound(-gain)
            detectable = sample_test.detectable(allowed, threshold)
        elif folds is not None:
            # every fold's worsening is the same: no spread to test against
            noise = f"constant differences over {folds.noise()}"
        elif pairs is not None:
            # every seed's worsening is the same: no spread to test against
            noise = f"constant differences over {len(pairs.seeds)} paired seeds"
        elif testable:
            noise = "constant"  # neither side varied over its samples
        else:
            noise = "no noise estimate"
        unfolded = fold_pairing_problem(base, cur) if testable else None
        if unfolded is not None:
            noise = f"{noise} ({unfolded})"
    status: Status
    if not finite:
        status = "regressed"
    elif abs(delta) <= FLOAT_NOISE:
        status = "same"
    elif gain > 0:
        status = "better"
    elif p_value is not None:
        if p_value <= threshold and floor <= floor_limit:
            status = "regressed"
        elif -gain > allowed + FLOAT_NOISE:
            status = "noise"
        else:
            status = "worse"
    elif -gain <= allowed + FLOAT_NOISE:
        status = "worse"
    else:
        status = "regressed"
    if not gated and status in ("noise", "regressed") and finite:
        status = "worse"  # shown, never failed on: no verdict on significance
    return Comparison(
        metric=metric,
        baseline=base.mean,
        current=cur.mean,
        delta=delta,
        direction=direction,
        tolerance=str(tolerance),
        status=status,
        baseline_n=base.n,
        current_n=cur.n,
        baseline_ci=base.half_width(),
        current_ci=cur.half_width(),
        p_value=p_value,
        test=test,
        gated=gated,
        allowed=allowed,
        bound=bound,
        detectable=detectable,
        p_floor=floor,
        noise=noise,
    )


def _as_summary(value: Summary | float) -> Summary:
    """A plain number is a single value. (Not ``isinstance(value, Summary)``:
    pytester's in-process runs may reload this package, leaving two classes.)"""
    if isinstance(value, (int, float)):
        return Summary(mean=float(value))
    return value


def shown_with_ci(mean: float, half_width: float | None, n: int) -> str:
    """``0.8361 +- 0.0123 (n=5)``, or the bare value when n == 1."""
    if half_width is None:
        return f"{mean:.4g}"
    return f"{mean:.4g} +- {half_width:.2g} (n={n})"


def regression_message(comparison: Comparison) -> str:
    """The failure line for a regressed metric: both means with their 95%
    intervals, the delta, the one-sided bound on the worsening beside the
    tolerance, and the p-value with its test (or why there is none)."""
    c = comparison
    better = "higher" if c.direction == "higher" else "lower"
    if c.p_value is not None:
        bound = (
            f"worsening <= {c.bound:.3g} at 95% confidence, one-sided; "
            if c.bound is not None
            else ""
        )
        evidence = (
            f"{bound}p = {c.p_value:.2g}, one-sided {c.test or 'Welch t'} test over {c.noise}"
        )
    else:
        evidence = NO_NOISE_HINT
    return (
        f"{c.metric} regressed: baseline {shown_with_ci(c.baseline, c.baseline_ci, c.baseline_n)}, "
        f"current {shown_with_ci(c.current, c.current_ci, c.current_n)}, "
        f"delta {c.delta:+.4g} (tolerance {c.tolerance}, {better} is better; {evidence})"
    )


#: What to do when a comparison has no noise estimate.
NO_NOISE_HINT = "no noise estimate: log predictions or add repeats"
