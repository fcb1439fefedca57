"""Summaries of metric samples and the statistics of the regression gate.

Pure functions over plain numbers; the distributions come from SciPy
(imported on first use, so start-up never pays for it):

- :class:`Summary`: n, mean, sample standard deviation and the 95% Student-t
  confidence interval of a metric's samples (repeats pooled, or the values an
  experiment returned as a sequence);
- :func:`worse_test`: the one-sided test that the current mean is worse
  than the baseline's by more than the tolerance: the corrected resampled
  t-test over cross-validation folds both sides ran (:func:`fold_pairs`),
  a paired t-test over common seeds (:func:`seed_pairs`), Welch's t-test
  counting K a side over fold scores that do not pair
  (:func:`unpaired_fold_test`), a permutation test when both sides'
  samples are known, Welch's t-test from n, mean and
  std otherwise (the prediction-level test is in :mod:`.paired`);
- :func:`holm`: Holm's step-down correction over the session's p-values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Two-sided confidence level of the intervals shown for n > 1.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """What is known about one metric of one case: its samples' n, mean and spread."""

    mean: float
    n: int = 1
    #: Sample standard deviation (ddof=1); None when n == 1 (no spread known).
    std: float | None = None
    #: The samples themselves when known (baselines and results keep them for n > 1).
    samples: tuple[float, ...] = ()
    #: The seed each sample was run with, in the samples' order, when each
    #: sample is one repeat's value (empty otherwise: a returned sequence such
    #: as CV folds, or a baseline accepted before seeds were kept). Two sides
    #: that ran common seeds are tested pair by pair (:func:`seed_pairs`).
    seeds: tuple[int, ...] = ()
    #: K when the samples are cross-validation fold scores declared with
    #: ``@experiment(folds=K)``: K scores a repeat, the same K folds in order,
    #: repeat after repeat (0 otherwise). ``seeds`` then holds one seed a
    #: *repeat* (the seed that drew its folds), not one a sample. Two sides
    #: with the same K and common seeds are tested fold by fold
    #: (:func:`fold_pairs`).
    folds: int = 0

    @classmethod
    def of(
        cls, samples: Sequence[float], seeds: Sequence[int] | None = None, folds: int = 0
    ) -> Summary:
        """The summary of ``samples`` (at least one; non-finite values give a
        non-finite mean, which fails the case elsewhere). ``seeds``, when
        given, are the samples' seeds (one each); they are kept only when
        there are exactly as many as samples, since otherwise no sample can
        be matched to its seed (one run never repeats a seed; runs pooled
        from a tracking store may).

        With ``folds`` = K >= 2 the samples are K fold scores a repeat; K is
        kept only when it divides their number, and ``seeds`` are then one a
        repeat (kept when there are exactly n / K of them)."""
        values = tuple(float(v) for v in samples)
        if not values:
            raise ValueError("a metric needs at least one sample")
        n = len(values)
        mean = math.fsum(values) / n
        if n == 1:
            return cls(mean=mean)
        k = folds if folds >= 2 and n % folds == 0 else 0
        kept = tuple(int(s) for s in seeds or ())
        if len(kept) != (n // k if k else n):
            kept = ()
        if not all(math.isfinite(v) for v in values):
            return cls(mean=mean, n=n, std=math.nan, samples=values, seeds=kept, folds=k)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
        return cls(mean=mean, n=n, std=std, samples=values, seeds=kept, folds=k)

    @classmethod
    def pooled(cls, parts: Iterable[Summary]) -> Summary:
        """One summary of the samples behind several (exact from their n, mean, std)."""
        items = list(parts)
        if not items:
            raise ValueError("nothing to pool")
        if len(items) == 1:
            return items[0]
        if all(p.has_samples or p.n == 1 for p in items):  # every sample known
            # Seeds survive when every part has them (a seed in several
            # runs is paired on the mean of its samples: :func:`seed_pairs`),
            # and folds when every part has the same K (a fold of a seed in
            # several runs: the mean of its scores, :func:`fold_pairs`).
            folds = items[0].folds if len({p.folds for p in items}) == 1 else 0
            seeds = [s for p in items for s in p.seeds] if all(p.seeds for p in items) else None
            if not folds and any(p.folds for p in items):
                seeds = None  # one seed a repeat on some parts: no seed per sample
            values = [v for p in items for v in (p.samples or (p.mean,))]
            return cls.of(values, seeds, folds)
        n = sum(p.n for p in items)
        mean = math.fsum(p.n * p.mean for p in items) / n
        squares = math.fsum(
            (p.n - 1) * (p.std or 0.0) ** 2 + p.n * (p.mean - mean) ** 2 for p in items
        )
        return cls(mean=mean, n=n, std=math.sqrt(squares / (n - 1)))

    @property
    def has_samples(self) -> bool:
        return len(self.samples) == self.n

    @property
    def spread_known(self) -> bool:
        return self.n >= 2 and self.std is not None and math.isfinite(self.std)

    def half_width(self) -> float | None:
        """Half the width of the 95% confidence interval of the mean (None for n == 1)."""
        if not self.spread_known:
            return None
        assert self.std is not None
        from scipy import stats

        quantile = float(stats.t.ppf(0.5 + CONFIDENCE / 2, self.n - 1))
        return quantile * self.std / math.sqrt(self.n)

    def interval(self) -> tuple[float, float] | None:
        half = self.half_width()
        return None if half is None else (self.mean - half, self.mean + half)

    def to_json(self) -> float | dict[str, Any]:
        """A baseline file's entry: a plain number for n == 1, else an object."""
        if self.n == 1:
            return self.mean
        data: dict[str, Any] = {"mean": self.mean, "n": self.n, "std": self.std}
        if self.samples:
            data["samples"] = list(self.samples)
            if self.folds:
                data["folds"] = self.folds
            if self.seeds:
                data["seeds"] = list(self.seeds)
        return data

    @classmethod
    def from_json(cls, value: object) -> Summary:
        """Inverse of :meth:`to_json`; ValueError naming what is wrong otherwise."""
        if _is_number(value):
            return cls(mean=float(value))  # type: ignore[arg-type]
        if not isinstance(value, Mapping):
            raise ValueError("not a number or an object with mean, n and std")
        samples = value.get("samples")
        if samples is not None:
            if not isinstance(samples, list) or not samples or not all(map(_is_number, samples)):
                raise ValueError("'samples' must be a non-empty list of numbers")
            folds = value.get("folds", 0)
            if folds and not (
                isinstance(folds, int)
                and not isinstance(folds, bool)
                and folds >= 2
                and len(samples) % folds == 0
            ):
                raise ValueError(
                    "'folds' must be an integer >= 2 that divides the number of samples"
                )
            repeats = len(samples) // folds if folds else len(samples)
            seeds = value.get("seeds")
            if seeds is not None and not (
                isinstance(seeds, list)
                and len(seeds) == repeats
                and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
                and len(set(seeds)) == len(seeds)
            ):
                what = "one per repeat of 'folds' samples" if folds else "one per sample"
                raise ValueError(f"'seeds' must be a list of distinct integers, {what}")
            return cls.of(samples, seeds, folds)
        mean, n, std = value.get("mean"), value.get("n", 1), value.get("std")
        if not _is_number(mean):
            raise ValueError("'mean' must be a number")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError("'n' must be a positive integer")
        if n == 1:
            return cls(mean=float(mean))  # type: ignore[arg-type]
        if not _is_number(std) or float(std) < 0:  # type: ignore[arg-type]
            raise ValueError("'std' must be a non-negative number when n > 1")
        return cls(mean=float(mean), n=n, std=float(std))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        data = {"mean": self.mean, "n": self.n, "std": self.std, "samples": list(self.samples)}
        if self.seeds:
            data["seeds"] = list(self.seeds)
        if self.folds:
            data["folds"] = self.folds
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        return cls(
            mean=float(data["mean"]),
            n=int(data.get("n", 1)),
            std=None if data.get("std") is None else float(data["std"]),
            samples=tuple(float(v) for v in data.get("samples", ())),
            seeds=tuple(int(v) for v in data.get("seeds", ())),
            folds=int(data.get("folds", 0)),
        )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: A permutation test enumerates every split of the pooled samples when there
#: are at most this many (5 + 5 samples: 252; 6 + 6: 924), else draws this
#: many at random, seeded, so the same samples always give the same p-value
#: (its smallest value is then 1 / 10,000).
PERMUTATIONS = 9_999
#: Confidence of the one-sided bound on the worsening shown in reports.
BOUND_LEVEL = 0.95
#: Power at which the report states the smallest worsening the gate catches.
POWER = 0.80


@dataclass(frozen=True)
class SampleTest:
    """The test of one metric's samples (repeats or returned sequences)."""

    #: One-sided p-value of H0 "worsening <= tolerance".
    p_value: float
    #: "permutation" (both sides' samples known), "Welch t" (n, mean, std
    #: only) or the paired test over seeds (:data:`SEED_PAIR_TESTS`).
    test: str
    #: The smallest p-value this test can give with these n (a permutation
    #: test over few samples cannot go below 1 / C(n_b + n_c, n_b)).
    floor: float
    #: Standard error of the worsening and its degrees of freedom (Welch's;
    #: pairs - 1 for the paired test).
    se: float
    df: float
    #: Seeds tested pair by pair (0: the unpaired tests).
    pairs: int = 0
    #: The worsening the paired test is about: the mean of the per-seed
    #: (or per-fold) worsenings over the common seeds (None: the
    #: difference of the means).
    worsening: float | None = None
    #: K and the repeats tested fold by fold (:func:`corrected_fold_test`;
    #: 0: another test).
    folds: int = 0
    repeats: int = 0

    def bound(self, worsening: float) -> float:
        """One-sided upper :data:`BOUND_LEVEL` bound on the worsening (Welch)."""
        from scipy import stats

        return worsening + float(stats.t.ppf(BOUND_LEVEL, self.df)) * self.se

    def detectable(self, tolerance: float, threshold: float) -> float | None:
        """The true worsening caught with :data:`POWER` probability at one-sided
        level ``threshold``; None when the test cannot reach ``threshold``."""
        if self.floor > threshold or not (self.se > 0 and math.isfinite(self.df)):
            return None
        from scipy import stats

        z = float(stats.t.isf(threshold, self.df)) + float(stats.t.ppf(POWER, self.df))
        return tolerance + z * self.se


def smallest_p(n_baseline: int, n_current: int) -> float:
    """The smallest p-value the permutation test of :func:`worse_test` can give
    with these sample sizes: one split in C(n_b + n_c, n_b) when it enumerates
    them all, else one in :data:`PERMUTATIONS` + 1."""
    splits = math.comb(n_baseline + n_current, n_baseline)
    return 1.0 / splits if splits <= PERMUTATIONS + 1 else 1.0 / (PERMUTATIONS + 1)


#: Fewest seeds both sides ran with which their samples are tested pair by
#: pair. At two, equal differences (where the tolerance alone decides) come
#: by chance so often with a discrete score that the gate's false alarms at
#: the tolerance rose to 5.1-6.2% (docs/gate.md); from three they stay near 5%.
MIN_PAIRS = 3
#: The paired test of per-seed differences, picked by measured calibration
#: (docs/gate.md, ``benchmarks/gate.py --part calibration``): "t" (SciPy's
#: ``ttest_1samp``) or "sign-flip" (``permutation_test``, exact floor 1 / 2^n).
SEED_PAIR_TEST = "t"
#: Their names in comparisons ("<test> over <k> paired seeds").
SEED_PAIR_TESTS = {"t": "paired t", "sign-flip": "sign-flip permutation"}


@dataclass(frozen=True)
class SeedPairs:
    """The samples of the seeds both sides ran, matched by seed value."""

    #: The common seeds, sorted; ``baseline[i]`` and ``current[i]`` ran with
    #: ``seeds[i]`` (the mean of a side's samples at that seed, when pooled
    #: runs ran it more than once).
    seeds: tuple[int, ...]
    baseline: tuple[float, ...]
    current: tuple[float, ...]

    def worsenings(self, direction: str) -> list[float]:
        """Each seed's worsening: ``baseline - current`` where higher is better."""
        sign = 1.0 if direction == "higher" else -1.0
        return [sign * (b - c) for b, c in zip(self.baseline, self.current, strict=True)]


def seed_pairs(baseline: Summary, current: Summary) -> SeedPairs | None:
    """The two sides' samples paired by seed, when at least :data:`MIN_PAIRS`
    seeds are on both sides (a baseline accepted with more repeats than the
    current run pairs on the seeds they share); None otherwise: a side
    without seeds (an older baseline file, a returned sequence, a pooled run
    that did not record them) or too few common seeds, and the samples are
    tested unpaired. The order of the seeds on either side does not matter.
    A seed with several samples on one side (tracking-store runs pooled as
    one baseline, each at the same seeds) stands for the mean of them: the
    per-seed differences stay independent from seed to seed, which is what
    the paired test needs."""
    if not (baseline.seeds and current.seeds) or baseline.folds or current.folds:
        return None  # fold scores carry one seed a repeat: :func:`fold_pairs`
    if not (baseline.has_samples and current.has_samples):
        return None
    base, cur = _by_seed(baseline), _by_seed(current)
    common = sorted(set(base) & set(cur))
    if len(common) < MIN_PAIRS:
        return None
    return SeedPairs(
        seeds=tuple(common),
        baseline=tuple(base[s] for s in common),
        current=tuple(cur[s] for s in common),
    )


def _by_seed(summary: Summary) -> dict[int, float]:
    """Seed -> the mean of the side's samples at that seed."""
    groups: dict[int, list[float]] = {}
    for seed, value in zip(summary.seeds, summary.samples, strict=True):
        groups.setdefault(seed, []).append(value)
    return {seed: math.fsum(values) / len(values) for seed, values in groups.items()}


def common_seeds(baseline_seeds: Iterable[int], current_seeds: Iterable[int]) -> int:
    """How many seeds the samples would be paired on (0: tested unpaired),
    from the seeds alone, as collection knows them."""
    common = len(set(baseline_seeds) & set(current_seeds))
    return common if common >= MIN_PAIRS else 0


def seed_pair_floor(pairs: int, test: str | None = None) -> float:
    """The smallest p-value the paired test over ``pairs`` seeds can give:
    0 for the t-test, 1 / 2^pairs for the sign-flip test (exact up to
    :data:`PERMUTATIONS` + 1 sign patterns, else 1 / that)."""
    if (test or SEED_PAIR_TEST) == "t":
        return 0.0
    return max(0.5**pairs, 1.0 / (PERMUTATIONS + 1))


def seed_pair_p(worsenings: Sequence[float], tolerance: float, test: str | None = None) -> float:
    """One-sided p-value of H0 "the mean worsening is at most ``tolerance``"
    from the per-seed worsenings (at least two, not all equal)."""
    import numpy as np
    from scipy import stats

    d = np.asarray(worsenings, dtype=float) - tolerance
    if (test or SEED_PAIR_TEST) == "t":
        p = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)
    else:
        p = float(
            stats.permutation_test(
                (d,),
                _mean,
                permutation_type="samples",
                alternative="greater",
                n_resamples=PERMUTATIONS,
                vectorized=True,
                rng=np.random.default_rng(0),
            ).pvalue
        )
    return 1.0 if math.isnan(p) else min(1.0, p)


def paired_seed_test(
    pairs: SeedPairs, direction: str, tolerance: float = 0.0, test: str | None = None
) -> SampleTest | None:
    """The paired test of the per-seed worsenings (:data:`SEED_PAIR_TEST`);
    None when the worsenings are all equal (no spread: the seeds' noise
    cancelled exactly, and only the tolerance can decide) or not finite."""
    test = test or SEED_PAIR_TEST
    d = pairs.worsenings(direction)
    k = len(d)
    if not all(math.isfinite(v) for v in d):
        return None
    mean = math.fsum(d) / k
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in d) / (k - 1))
    if max(d) - min(d) <= 1e-12 * max(1.0, abs(mean)):
        return None
    return SampleTest(
        p_value=seed_pair_p(d, tolerance, test),
        test=SEED_PAIR_TESTS[test],
        floor=seed_pair_floor(k, test),
        se=sd / math.sqrt(k),
        df=float(k - 1),
        pairs=k,
        worsening=mean,
    )


#: The test of per-fold worsenings, picked by measured calibration
#: (docs/gate.md, ``benchmarks/gate.py --part calibration``).
FOLD_TEST = "corrected resampled t"


@dataclass(frozen=True)
class FoldPairs:
    """Cross-validation fold scores of the repeats both sides ran, matched
    by the repeat's seed (the seed that drew its folds) and fold position."""

    #: K, and the common seeds, sorted: ``baseline[r * K + j]`` and
    #: ``current[r * K + j]`` are fold j of the repeat at ``seeds[r]`` (the
    #: mean of a side's scores there when pooled runs ran that seed twice).
    folds: int
    seeds: tuple[int, ...]
    baseline: tuple[float, ...]
    current: tuple[float, ...]

    @property
    def repeats(self) -> int:
        return len(self.seeds)

    def worsenings(self, direction: str) -> list[float]:
        """Each fold's worsening: ``baseline - current`` where higher is better."""
        sign = 1.0 if direction == "higher" else -1.0
        return [sign * (b - c) for b, c in zip(self.baseline, self.current, strict=True)]

    def noise(self) -> str:
        """``"5 folds"``, or ``"3 x 5 folds"`` over three repeats."""
        folds = f"{self.folds} folds"
        return folds if self.repeats == 1 else f"{self.repeats} x {folds}"


def fold_pairs(baseline: Summary, current: Summary) -> FoldPairs | None:
    """The two sides' fold scores paired by seed and fold, when both
    declared the same K (``@experiment(folds=K)``) and ran at least one
    repeat at a common seed (a repeat's seed draws its folds, so only
    repeats at the same seed ran the same folds); None otherwise
    (:func:`fold_pairing_problem` says why)."""
    if not baseline.folds or fold_pairing_problem(baseline, current) is not None:
        return None
    k = baseline.folds
    base, cur = _folds_by_seed(baseline), _folds_by_seed(current)
    common = sorted(set(base) & set(cur))
    return FoldPairs(
        folds=k,
        seeds=tuple(common),
        baseline=tuple(v for s in common for v in base[s]),
        current=tuple(v for s in common for v in cur[s]),
    )


def fold_pairing_problem(baseline: Summary, current: Summary) -> str | None:
    """Why two sides' samples are not tested fold by fold, when either
    declared folds (None: they are, or neither side has folds)."""
    if not (baseline.folds or current.folds):
        return None
    if not (baseline.has_samples and current.has_samples):
        return "folds not paired: a side's samples are unknown"
    if not (baseline.folds and current.folds):
        side = "baseline" if not baseline.folds else "current run"
        return f"folds not paired: the {side} records no folds"
    if baseline.folds != current.folds:
        return f"folds not paired: {baseline.folds} folds against {current.folds}"
    if not (baseline.seeds and current.seeds):
        side = "baseline" if not baseline.seeds else "current run"
        return f"folds not paired: the {side} records no seeds"
    if not set(baseline.seeds) & set(current.seeds):
        return "folds not paired: no common seed (the folds differ)"
    return None


def _folds_by_seed(summary: Summary) -> dict[int, list[float]]:
    """Seed -> its K fold scores (each fold's mean over the side's repeats at that seed)."""
    k = summary.folds
    groups: dict[int, list[tuple[float, ...]]] = {}
    for r, seed in enumerate(summary.seeds):
        groups.setdefault(seed, []).append(summary.samples[r * k : (r + 1) * k])
    return {
        seed: [math.fsum(fold) / len(fold) for fold in zip(*rows, strict=True)]
        for seed, rows in groups.items()
    }


def fold_correction(folds: int, repeats: int) -> float:
    """The variance factor of the corrected resampled t-test for ``repeats``
    x ``folds``-fold cross-validation: 1 / (R K) + n_test / n_train, with
    n_test / n_train = 1 / (K - 1) for K-fold (Nadeau and Bengio 2003;
    Bouckaert and Frank 2004 for repeated K-fold). The naive paired t-test's
    factor is 1 / (R K) alone."""
    return 1.0 / (repeats * folds) + 1.0 / (folds - 1)


def corrected_resampled_p(
    worsenings: Sequence[float], tolerance: float, folds: int, repeats: int
) -> tuple[float, float, float]:
    """(one-sided p, standard error, degrees of freedom) of H0 "the mean
    worsening is at most ``tolerance``" from R x K per-fold worsenings
    (Bouckaert and Frank's corrected repeated K-fold t-test; R = 1: Nadeau
    and Bengio's corrected resampled t-test for K-fold):
    ``t = (mean(d) - tolerance) / sqrt(fold_correction(K, R) * var(d))``,
    var with ddof 1, against Student's t with R K - 1 degrees of freedom.
    Neither SciPy nor statsmodels has this test (SciPy's ``ttest_rel`` /
    ``ttest_1samp`` is the naive one, which takes the folds' overlapping
    training sets for independent and rejects far too often), so the
    statistic is computed here and only its tail is SciPy's
    (``scipy.stats.t.sf``)."""
    from scipy import stats

    n = len(worsenings)
    if n != folds * repeats or n < 2:
        raise ValueError(f"{n} worsenings are not {repeats} x {folds} folds")
    mean = math.fsum(worsenings) / n
    variance = math.fsum((v - mean) ** 2 for v in worsenings) / (n - 1)
    se = math.sqrt(fold_correction(folds, repeats) * variance)
    df = float(n - 1)
    if se == 0:
        return (0.0 if mean > tolerance else 1.0), se, df
    p = float(stats.t.sf((mean - tolerance) / se, df))
    return (1.0 if math.isnan(p) else min(1.0, p)), se, df


def corrected_fold_test(
    pairs: FoldPairs, direction: str, tolerance: float = 0.0
) -> SampleTest | None:
    """The corrected (repeated) resampled t-test of the per-fold worsenings
    (:func:`corrected_resampled_p`); None when they are all equal or not
    finite (only the tolerance can decide)."""
    d = pairs.worsenings(direction)
    if not all(math.isfinite(v) for v in d):
        return None
    mean = math.fsum(d) / len(d)
    if max(d) - min(d) <= 1e-12 * max(1.0, abs(mean)):
        return None
    p, se, df = corrected_resampled_p(d, tolerance, pairs.folds, pairs.repeats)
    return SampleTest(
        p_value=p,
        test=FOLD_TEST,
        floor=0.0,
        se=se,
        df=df,
        worsening=mean,
        folds=pairs.folds,
        repeats=pairs.repeats,
    )


def pairing(baseline: Summary, current: Summary) -> FoldPairs | SeedPairs | None:
    """How two sides' samples pair: fold by fold (:func:`fold_pairs`) before
    seed by seed (:func:`seed_pairs`); None when they do not."""
    return fold_pairs(baseline, current) or seed_pairs(baseline, current)


def worse_test(
    baseline: Summary, current: Summary, direction: str, tolerance: float = 0.0
) -> SampleTest | None:
    """One-sided test of H0 "the worsening is at most ``tolerance``" against
    H1 "it is more" from the two sides' samples (the seed's noise).

    The worsening is ``baseline - current`` where higher is better. None when
    no test can be made: either side has n < 2, or neither side varies (a
    deterministic model: there is no noise to test against), or the two
    sides ran common seeds (:func:`seed_pairs`) and every seed's worsening
    is the same.

    When both sides declared the same cross-validation folds and ran a
    common seed (:func:`fold_pairs`), the per-fold worsenings are tested
    with the corrected resampled t-test (:func:`corrected_fold_test`): the
    folds' scores share their test rows' luck on both sides, and their
    training sets overlap, which the correction accounts for.

    When both sides ran at least :data:`MIN_PAIRS` common seeds, the
    per-seed worsenings are tested (:func:`paired_seed_test`): a seed that
    draws the split or the data moves both sides alike, and pairing removes
    that shared noise. Fold scores both sides declared that do not pair
    (other seeds: other folds) are tested with Welch's t-test counting K
    scores a side (:func:`unpaired_fold_test`), since repeats re-split the
    same rows. Otherwise, with the samples of both sides known
    (baseline files keep them), a
    permutation test of the difference in means after shifting the current
    samples by the tolerance (the location-shift model): exact while there
    are at most :data:`PERMUTATIONS` ways to split the pooled samples, else
    that many seeded random splits. It assumes nothing about the distribution,
    which matters here: a score over seeds is discrete (61 test rows move
    accuracy in steps of 0.016) and often nearly constant. With only n, mean
    and std known, Welch's t-test on the same shifted means.
    """
    if not (baseline.spread_known and current.spread_known):
        return None
    paired_by = pairing(baseline, current)
    if isinstance(paired_by, FoldPairs):
        return corrected_fold_test(paired_by, direction, tolerance)
    if paired_by is not None:
        return paired_seed_test(paired_by, direction, tolerance)
    if baseline.folds and current.folds:
        return unpaired_fold_test(baseline, current, direction, tolerance)
    return unpaired_test(baseline, current, direction, tolerance)


#: The test of fold scores both sides declared but that do not pair (other
#: seeds, other K), picked by measured calibration (docs/gate.md,
#: ``benchmarks/gate.py --part fold-fallback``).
FOLD_UNPAIRED_TEST = "fold Welch t"


def unpaired_fold_test(
    baseline: Summary, current: Summary, direction: str, tolerance: float = 0.0
) -> SampleTest | None:
    """Welch's t-test of the shifted means of two sides' fold scores that do
    not pair, each side's n counted as its K, not its R x K scores.

    Every repeat of K-fold cross-validation scores the same rows of one data
    set, split anew: the R repeats' K scores are one data set's evidence,
    not R K independent samples, and a test that counts them as such (the
    permutation test of :func:`unpaired_test`) raised 9.8% to 11.8% false
    alarms at alpha 0.05 with R = 3 where CI ran other seeds on the same
    data (docs/gate.md). Each side's mean and spread come from all its
    scores; its n is K, so repeats make the mean steadier but not the
    evidence larger. No floor (a t-test). None when either side's spread is
    unknown, the scores are not both folds, or neither side varies."""
    if not (baseline.folds and current.folds):
        return None
    if not (
        baseline.spread_known
        and current.spread_known
        and baseline.has_samples
        and current.has_samples
    ):
        return None
    assert baseline.std is not None and current.std is not None
    if baseline.std == 0 and current.std == 0:
        return None
    from scipy import stats

    sign = 1.0 if direction == "higher" else -1.0
    alternative = "less" if direction == "higher" else "greater"
    kb, kc = baseline.folds, current.folds
    p = float(
        stats.ttest_ind_from_stats(
            current.mean + sign * tolerance,
            current.std,
            kc,
            baseline.mean,
            baseline.std,
            kb,
            equal_var=False,
            alternative=alternative,
        ).pvalue
    )
    vb, vc = baseline.std**2 / kb, current.std**2 / kc
    denominator = vb**2 / (kb - 1) + vc**2 / (kc - 1)
    return SampleTest(
        p_value=1.0 if math.isnan(p) else min(1.0, p),
        test=FOLD_UNPAIRED_TEST,
        floor=0.0,
        se=math.sqrt(vb + vc),
        df=(vb + vc) ** 2 / denominator if denominator > 0 else math.inf,
        folds=kc,
    )


def unpaired_fold_noise(baseline: Summary, current: Summary) -> str:
    """``"5 folds a side"`` (``"5 and 10 folds"`` where the K differ): the
    noise of :func:`unpaired_fold_test`."""
    if baseline.folds == current.folds:
        return f"{current.folds} folds a side"
    return f"{baseline.folds} and {current.folds} folds"


def unpaired_test(
    baseline: Summary, current: Summary, direction: str, tolerance: float = 0.0
) -> SampleTest | None:
    """The unpaired test of :func:`worse_test` (permutation, or Welch t),
    whatever seeds the sides ran."""
    if not (baseline.spread_known and current.spread_known):
        return None
    assert baseline.std is not None and current.std is not None
    if baseline.std == 0 and current.std == 0:
        return None
    sign = 1.0 if direction == "higher" else -1.0
    # Under H0's boundary the shifted current mean equals the baseline's.
    shift = sign * tolerance
    alternative = "less" if direction == "higher" else "greater"
    se = math.sqrt(baseline.std**2 / baseline.n + current.std**2 / current.n)
    df = _welch_df(baseline, current)
    from scipy import stats

    if test_name(baseline, current) == "permutation":
        import numpy as np

        result = stats.permutation_test(
            (np.asarray(current.samples) + shift, np.asarray(baseline.samples)),
            _mean_difference,
            permutation_type="independent",
            alternative=alternative,
            n_resamples=PERMUTATIONS,
            vectorized=True,
            rng=np.random.default_rng(0),
        )
        p = float(result.pvalue)
        floor = smallest_p(baseline.n, current.n)
    else:
        p = float(
            stats.ttest_ind_from_stats(
                current.mean + shift,
                current.std,
                current.n,
                baseline.mean,
                baseline.std,
                baseline.n,
                equal_var=False,
                alternative=alternative,
            ).pvalue
        )
        floor = 0.0
    return SampleTest(
        p_value=1.0 if math.isnan(p) else min(1.0, p),
        test=test_name(baseline, current),
        floor=floor,
        se=se,
        df=df,
    )


def _welch_df(a: Summary, b: Summary) -> float:
    """Welch-Satterthwaite degrees of freedom (inf when neither side varies)."""
    va = (a.std or 0.0) ** 2 / a.n
    vb = (b.std or 0.0) ** 2 / b.n
    denominator = va**2 / (a.n - 1) + vb**2 / (b.n - 1)
    return (va + vb) ** 2 / denominator if denominator > 0 else math.inf


def worse_p_value(
    baseline: Summary, current: Summary, direction: str, tolerance: float = 0.0
) -> float | None:
    """The p-value of :func:`worse_test` (None when it makes no test)."""
    test = worse_test(baseline, current, direction, tolerance)
    return None if test is None else test.p_value


def test_name(baseline: Summary, current: Summary) -> str:
    """Which unpaired test :func:`worse_test` makes: "permutation" or "Welch t"."""
    return "permutation" if baseline.has_samples and current.has_samples else "Welch t"


def _mean_difference(x: Any, y: Any, axis: int) -> Any:
    return x.mean(axis=axis) - y.mean(axis=axis)


def _mean(x: Any, axis: int) -> Any:
    return x.mean(axis=axis)


def holm(p_values: Mapping[str, float], alpha: float) -> set[str]:
    """The keys whose hypotheses Holm's step-down procedure rejects at ``alpha``.

    Sorted ascending, the i-th smallest p-value (from 0) is rejected while it is
    at most ``alpha / (m - i)``; the first that is not stops the procedure.
    This keeps the chance of any false rejection among the ``m`` at most ``alpha``.
    """
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    m = len(ordered)
    rejected: set[str] = set()
    for i, (key, p) in enumerate(ordered):
        if p > alpha / (m - i):
            break
        rejected.add(key)
    return rejected
