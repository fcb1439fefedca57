"""Cross-validation fold scores tested as folds: with ``@experiment(folds=K)``
each returned sequence is the scores of the same K folds, in order (with
repeats, each repeat's folds drawn with its seed), and when both sides ran
the same folds the gate tests the per-fold worsenings with the corrected
(repeated) resampled t-test (Nadeau and Bengio; Bouckaert and Frank).

The policy in-process (summaries that keep K, the pairing, the test against
its definition, the comparison, the plan, the declaration's checks, what
MLflow runs record), then real sessions: a baseline file that records what
pairing needs, a fold-declared case gated with the corrected test, and a
sequence of the wrong length.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

# _server imports mlflow at collection, before any in-process pytester run
# could unload half of it (see tests/_server.py).
from _server import copy_store
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from test_baselines import baseline_file, outcomes, run_subprocess, set_knobs, write_exp
from test_gate import declaration

from pytest_experiments import baselines
from pytest_experiments.codec import fold_seeds, metric_tags, run_folds
from pytest_experiments.compare import Side, plan
from pytest_experiments.conditions import DeclarationError, Tolerance, compare
from pytest_experiments.merge import DeclaredCase
from pytest_experiments.runner import repeat_seeds
from pytest_experiments.stats import (
    FOLD_TEST,
    FOLD_UNPAIRED_TEST,
    Summary,
    corrected_resampled_p,
    fold_correction,
    fold_pairing_problem,
    fold_pairs,
    seed_pairs,
    unpaired_fold_test,
    unpaired_test,
    worse_test,
)
from pytest_experiments.tags import TAG_SEEDS
from pytest_experiments.verdict import Gate, Planned, evaluate, plan_gate

score = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
seed_values = st.integers(0, 2**32 - 1)


@st.composite
def fold_sides(draw: Any) -> tuple[Summary, Summary]:
    """Two sides that ran the same R x K folds, with varying worsenings."""
    folds = draw(st.integers(2, 10))
    seeds = draw(st.lists(seed_values, min_size=1, max_size=3, unique=True))
    n = folds * len(seeds)
    base = draw(st.lists(score, min_size=n, max_size=n))
    cur = draw(st.lists(score, min_size=n, max_size=n))
    differences = [b - c for b, c in zip(base, cur, strict=True)]
    assume(max(differences) - min(differences) > 1e-6)
    return Summary.of(base, seeds, folds), Summary.of(cur, seeds, folds)


def reference_p(worsenings: list[float], tolerance: float, folds: int, repeats: int) -> float:
    """The corrected repeated K-fold t-test from its definition (Bouckaert
    and Frank 2004): t = (mean - tolerance) / sqrt((1/(R K) + 1/(K - 1)) s^2),
    Student's t with R K - 1 degrees of freedom."""
    n = folds * repeats
    assert len(worsenings) == n
    mean = statistics.fmean(worsenings)
    variance = statistics.variance(worsenings)
    t = (mean - tolerance) / math.sqrt((1 / n + 1 / (folds - 1)) * variance)
    return float(scipy_stats.t.sf(t, n - 1))


# -- summaries keep their folds -------------------------------------------------------


def test_a_summary_keeps_folds_and_one_seed_a_repeat() -> None:
    values = [0.8, 0.82, 0.79, 0.81, 0.78, 0.83]
    two = Summary.of(values, [7, 9], folds=3)
    assert (two.folds, two.seeds) == (3, (7, 9))
    assert Summary.of(values, [7], folds=3).seeds == ()  # 2 repeats need 2 seeds
    assert Summary.of(values, [7, 9], folds=4).folds == 0  # 6 scores are not 4 folds
    assert Summary.of(values, [7, 9], folds=3).to_json() == {
        "mean": two.mean,
        "n": 6,
        "std": two.std,
        "samples": values,
        "folds": 3,
        "seeds": [7, 9],
    }


@given(st.integers(2, 10), st.lists(seed_values, min_size=1, max_size=4, unique=True), st.data())
def test_fold_entries_round_trip(folds: int, seeds: list[int], data: Any) -> None:
    n = folds * len(seeds)
    values = data.draw(st.lists(score, min_size=n, max_size=n))
    summary = Summary.of(values, seeds, folds)
    entry = summary.to_json()
    assert isinstance(entry, dict) and entry["folds"] == folds and entry["seeds"] == seeds
    assert Summary.from_json(json.loads(json.dumps(entry))) == summary
    assert Summary.from_dict(summary.to_dict()) == summary


def test_an_entry_without_folds_stays_valid_and_malformed_folds_are_named() -> None:
    old = Summary.from_json({"mean": 0.8, "n": 4, "std": 0.1, "samples": [0.7, 0.8, 0.9, 0.8]})
    assert old.folds == 0 and old.seeds == ()
    samples = [0.7, 0.8, 0.9, 0.8]
    for folds in (1, 3, True, "2", 2.0):
        entry = {"mean": 0.8, "n": 4, "std": 0.1, "samples": samples, "folds": folds}
        with pytest.raises(ValueError, match="'folds' must be an integer >= 2"):
            Summary.from_json(entry)
    for seeds in ([1], [1, 2, 3, 4], [1, 1]):  # one seed a repeat of 2 folds
        entry = {"mean": 0.8, "n": 4, "std": 0.1, "samples": samples, "folds": 2, "seeds": seeds}
        with pytest.raises(ValueError, match="one per repeat of 'folds' samples"):
            Summary.from_json(entry)


def test_pooled_runs_keep_their_folds_only_when_every_run_has_the_same() -> None:
    a = Summary.of([0.8, 0.9, 0.7, 0.6], [1, 2], folds=2)
    b = Summary.of([0.7, 0.8, 0.75, 0.65], [1, 3], folds=2)
    pooled = Summary.pooled([a, b])
    assert (pooled.folds, pooled.seeds) == (2, (1, 2, 1, 3))
    other_k = Summary.of([0.7, 0.8, 0.75, 0.65], [1], folds=4)
    assert Summary.pooled([a, other_k]).folds == 0
    mixed = Summary.pooled([a, Summary.of([0.7, 0.8], [5, 6])])
    assert (mixed.folds, mixed.seeds) == (0, ())


# -- which samples pair ---------------------------------------------------------------


def test_folds_pair_by_the_repeats_seed_and_position() -> None:
    """Repeats in another order, a baseline with a repeat CI does not run:
    only the common seeds' folds pair, fold j with fold j."""
    base = Summary.of([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [5, 6, 7], folds=2)
    cur = Summary.of([0.55, 0.65, 0.15, 0.25], [7, 5], folds=2)
    pairs = fold_pairs(base, cur)
    assert pairs is not None
    assert (pairs.folds, pairs.seeds, pairs.repeats) == (2, (5, 7), 2)
    assert pairs.baseline == (0.1, 0.2, 0.5, 0.6)
    assert pairs.current == (0.15, 0.25, 0.55, 0.65)
    assert seed_pairs(base, cur) is None  # fold scores never pair as seeds
    assert pairs.noise() == "2 x 2 folds"


def test_pooled_runs_at_the_same_seed_pair_on_each_folds_mean() -> None:
    runs = [Summary.of([0.8, 0.7, 0.9], [3], 3), Summary.of([0.84, 0.74, 0.86], [3], 3)]
    pairs = fold_pairs(Summary.pooled(runs), Summary.of([0.8, 0.7, 0.85], [3], 3))
    assert pairs is not None and pairs.seeds == (3,)
    assert pairs.baseline == pytest.approx((0.82, 0.72, 0.88), abs=1e-12)


@pytest.mark.parametrize(
    ("base", "why", "noise"),
    [
        (Summary.of([0.8, 0.7, 0.9, 0.6]), "the baseline records no folds", "seeds"),
        (Summary.of([0.8, 0.7, 0.9, 0.6], [1], 4), "4 folds against 2", "4 and 2 folds"),
        (
            Summary.of([0.8, 0.7, 0.9, 0.6], [9, 8], 2),
            "no common seed (the folds differ)",
            "2 folds a side",
        ),
        (
            Summary.of([0.8, 0.7, 0.9, 0.6], None, 2),
            "the baseline records no seeds",
            "2 folds a side",
        ),
    ],
)
def test_folds_that_cannot_pair_fall_back_to_an_unpaired_test_and_say_why(
    base: Summary, why: str, noise: str
) -> None:
    """Fold scores on both sides (K known on each) that do not pair:
    Welch's t counting K a side (since 2026-12-07: the permutation test of
    every R x K score was liberal with repeats); a baseline without K: the
    permutation test, as before."""
    current = Summary.of([0.75, 0.7, 0.85, 0.55], [1, 2], 2)
    assert fold_pairs(base, current) is None
    assert fold_pairing_problem(base, current) == f"folds not paired: {why}"
    expected = (
        unpaired_fold_test(base, current, "higher")
        if base.folds
        else unpaired_test(base, current, "higher")
    )
    assert worse_test(base, current, "higher") == expected
    c = compare("acc", base, current, "higher", Tolerance(0, False))
    test = FOLD_UNPAIRED_TEST if base.folds else "permutation"
    assert c.test == test and c.noise == f"{noise} (folds not paired: {why})"


# -- folds that do not pair ---------------------------------------------------------------


@st.composite
def unpaired_fold_sides(draw: Any) -> tuple[Summary, Summary]:
    """Two sides' R x K fold scores at other seeds (their folds differ)."""
    folds = draw(st.integers(2, 10))
    sides = []
    for offset in (0, 1000):
        repeats = draw(st.integers(1, 4))
        n = folds * repeats
        scores = draw(st.lists(score, min_size=n, max_size=n))
        sides.append(Summary.of(scores, [offset + r for r in range(repeats)], folds))
    assume(any(s.std for s in sides))
    return sides[0], sides[1]


@settings(deadline=None, max_examples=80)
@given(unpaired_fold_sides(), st.floats(0, 0.05), st.sampled_from(["higher", "lower"]))
def test_folds_that_do_not_pair_get_welchs_t_test_counting_k_a_side(
    sides: tuple[Summary, Summary], tolerance: float, direction: str
) -> None:
    """The p-value is Welch's one-sided t-test of the shifted means, each
    side's n its K however many repeats it ran (from the definition:
    t = (worsening - tolerance) / sqrt(s_b^2 / K + s_c^2 / K),
    Welch-Satterthwaite degrees of freedom), and it has no floor."""
    base, cur = sides
    assert fold_pairs(base, cur) is None
    test = worse_test(base, cur, direction, tolerance)
    assert test is not None and test.test == FOLD_UNPAIRED_TEST and test.floor == 0
    k = base.folds
    sign = 1.0 if direction == "higher" else -1.0
    worsening = sign * (base.mean - cur.mean)
    vb, vc = statistics.variance(base.samples) / k, statistics.variance(cur.samples) / k
    df = (vb + vc) ** 2 / (vb**2 / (k - 1) + vc**2 / (k - 1))
    expected = float(scipy_stats.t.sf((worsening - tolerance) / math.sqrt(vb + vc), df))
    assert test.p_value == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert test.se == pytest.approx(math.sqrt(vb + vc))


@settings(deadline=None, max_examples=60)
@given(unpaired_fold_sides(), st.floats(0, 0.05), st.floats(0.001, 0.05))
def test_the_fold_welch_p_value_rises_with_the_tolerance_and_ignores_direction(
    sides: tuple[Summary, Summary], tolerance: float, more: float
) -> None:
    """A larger tolerance never makes a regression more significant; the
    same scores negated, lower-is-better, give the same p-value."""
    base, cur = sides
    low = worse_test(base, cur, "higher", tolerance)
    high = worse_test(base, cur, "higher", tolerance + more)
    assert low is not None and high is not None
    assert high.p_value >= low.p_value - 1e-12
    negated = [Summary.of([-v for v in s.samples], s.seeds, s.folds) for s in (base, cur)]
    lower = worse_test(negated[0], negated[1], "lower", tolerance)
    assert lower is not None and lower.p_value == pytest.approx(low.p_value, abs=1e-9)


def test_repeats_at_other_seeds_do_not_multiply_the_evidence() -> None:
    """Three repeats re-split the same rows: each side's scores are the same
    five fold scores in another order, the current side 1.5 points lower.
    The permutation test of every score (the gate's before 2026-12-07) takes
    the 15 a side for independent and would fail the case (p < 0.05);
    counted as 5 a side, as the folds of one data set are, a 1.5-point drop
    against folds 1 to 2 points apart is noise."""
    rows = [0.78, 0.79, 0.80, 0.81, 0.82]
    base_scores = rows[:] + rows[2:] + rows[:2] + rows[::-1]
    cur_scores = [v - 0.015 for v in rows[1:] + rows[:1] + rows[::-1] + rows[3:] + rows[:3]]
    base = Summary.of(base_scores, [1, 2, 3], 5)
    cur = Summary.of(cur_scores, [7, 8, 9], 5)
    pooled = unpaired_test(Summary.of(base_scores), Summary.of(cur_scores), "higher")
    assert pooled is not None and pooled.p_value < 0.05  # what the gate did before
    c = compare("accuracy", base, cur, "higher", Tolerance(0.0, False))
    assert c.test == FOLD_UNPAIRED_TEST and c.status == "noise"
    assert c.noise == "5 folds a side (folds not paired: no common seed (the folds differ))"
    assert c.p_value is not None and c.p_value > 0.05


# -- the test ---------------------------------------------------------------------------


@settings(deadline=None, max_examples=80)
@given(fold_sides(), st.floats(0, 0.05), st.sampled_from(["higher", "lower"]))
def test_the_p_value_is_the_corrected_resampled_t_test_at_the_tolerance(
    sides: tuple[Summary, Summary], tolerance: float, direction: str
) -> None:
    base, cur = sides
    test = worse_test(base, cur, direction, tolerance)
    assert test is not None and test.test == FOLD_TEST and test.floor == 0.0
    folds, repeats = base.folds, len(base.seeds)
    assert (test.folds, test.repeats, test.df) == (folds, repeats, folds * repeats - 1)
    sign = 1.0 if direction == "higher" else -1.0
    worsenings = [sign * (b - c) for b, c in zip(base.samples, cur.samples, strict=True)]
    expected = reference_p(worsenings, tolerance, folds, repeats)
    assert test.p_value == pytest.approx(expected, rel=1e-6, abs=1e-12)


@settings(deadline=None, max_examples=60)
@given(fold_sides(), st.floats(1e-4, 0.2), st.sampled_from(["higher", "lower"]))
def test_the_p_value_falls_as_every_fold_gets_worse(
    sides: tuple[Summary, Summary], shift: float, direction: str
) -> None:
    base, cur = sides
    sign = 1.0 if direction == "higher" else -1.0
    worse = Summary.of([c - sign * shift for c in cur.samples], cur.seeds, cur.folds)
    before, after = worse_test(base, cur, direction), worse_test(base, worse, direction)
    assert before is not None and after is not None
    assert after.p_value <= before.p_value + 1e-12


@settings(deadline=None, max_examples=60)
@given(fold_sides(), st.floats(0, 0.05))
def test_the_correction_is_more_conservative_than_the_naive_paired_t_test(
    sides: tuple[Summary, Summary], tolerance: float
) -> None:
    """The naive paired t-test over folds takes overlapping training sets for
    independent: its variance factor is 1/(R K) alone, so wherever the
    folds point at a worsening above the tolerance it gives a smaller p."""
    base, cur = sides
    folds, repeats = base.folds, len(base.seeds)
    worsenings = [b - c for b, c in zip(base.samples, cur.samples, strict=True)]
    assert fold_correction(folds, repeats) > 1 / (folds * repeats)
    p, _, _ = corrected_resampled_p(worsenings, tolerance, folds, repeats)
    shifted = [w - tolerance for w in worsenings]
    naive = float(scipy_stats.ttest_1samp(shifted, 0.0, alternative="greater").pvalue)
    if statistics.fmean(shifted) > 1e-9:
        assert p >= naive - 1e-12
    else:
        assert p >= 0.5 - 1e-9 and naive >= 0.5 - 1e-9


def test_equal_differences_make_no_test_and_the_tolerance_decides() -> None:
    base = Summary.of([0.75, 0.8, 0.9, 0.7, 0.85], [1], 5)
    for drop, status in ((0.01, "worse"), (0.05, "regressed")):
        cur = Summary.of([v - drop for v in base.samples], [1], 5)
        assert worse_test(base, cur, "higher", 0.02) is None
        c = compare("acc", base, cur, "higher", Tolerance(0.02, False))
        assert c.p_value is None and c.noise == "constant differences over 5 folds"
        assert c.status == status


def fold_scores(seed: int, folds: int, drop: float, rng: random.Random) -> list[float]:
    """K fold scores where each fold's test rows move the score by up to +-8
    points (the same on both sides: the folds are the same), the model's own
    noise a few tenths of a point, and a drop on every fold."""
    split = random.Random(seed)
    return [0.8 + split.uniform(-0.08, 0.08) - drop + rng.gauss(0, 0.004) for _ in range(folds)]


def test_pairing_catches_a_drop_that_the_folds_hide_from_the_unpaired_test() -> None:
    """Five folds move both sides by up to +-8 points together, the model
    lost 2 points on every fold: unpaired, the folds' spread swamps it;
    fold by fold, it cancels and the corrected test catches it."""
    rng = random.Random(3)
    seeds = repeat_seeds(42, 1)
    base = Summary.of(fold_scores(seeds[0], 5, 0.0, rng), seeds, 5)
    cur = Summary.of(fold_scores(seeds[0], 5, 0.02, rng), seeds, 5)
    unpaired = unpaired_test(base, cur, "higher", 0.0)
    assert unpaired is not None and unpaired.p_value > 0.2

    decl = declaration(tolerance={"accuracy": 0.0}, folds=5)
    verdict = evaluate("exp[a]", {"accuracy": cur}, decl, {"accuracy": base}, Gate())
    assert verdict.outcome == "regressed", verdict.message
    comparison = verdict.comparisons["accuracy"]
    assert comparison.test == "corrected resampled t" and comparison.noise == "5 folds"
    assert comparison.p_value is not None and comparison.p_value < 0.01
    assert "corrected resampled t test over 5 folds" in (verdict.message or "")


def test_repeated_folds_are_labelled_and_tested_over_every_repeat() -> None:
    rng = random.Random(4)
    seeds = repeat_seeds(42, 3)
    base = Summary.of([v for s in seeds for v in fold_scores(s, 5, 0.0, rng)], seeds, 5)
    cur = Summary.of([v for s in seeds for v in fold_scores(s, 5, 0.02, rng)], seeds, 5)
    c = compare("accuracy", base, cur, "higher", Tolerance(0.0, False))
    assert c.test == FOLD_TEST and c.noise == "3 x 5 folds" and c.status == "regressed"


# -- the plan and the declaration ---------------------------------------------------------


def test_the_plan_counts_a_fold_comparison_that_has_no_floor() -> None:
    """10 comparisons of 2 x 2 fold scores: the unpaired permutation test's
    floor (1/70) is above Holm's first step (0.005); the corrected t-test has none."""
    planned = [Planned(f"exp[{i}]", "acc", False, 4, 4, folded=True) for i in range(10)]
    m, _, warnings = plan_gate(planned, 0.05)
    assert (m, warnings) == (10, [])
    unpaired = [Planned(f"exp[{i}]", "acc", False, 4, 4) for i in range(10)]
    m, _, warnings = plan_gate(unpaired, 0.05)
    assert m == 1 and len(warnings) == 10


def test_the_plan_counts_fold_scores_that_do_not_pair_with_no_floor() -> None:
    """10 comparisons of 2 x 2 fold scores at other seeds (--exp-compare's
    plan): Welch's t counting K a side has no floor, so every one is in
    Holm's m and none is warned about (the permutation test of the 4 scores
    a side, the gate's before, has a floor of 1/70 above 0.005)."""
    cases = [DeclaredCase(nodeid=f"exp[{i}]", file="exp_001.py") for i in range(10)]
    decl = declaration(tolerance={"acc": 0.0}, folds=2)
    a = {c.nodeid: Side({"acc": Summary.of([0.8, 0.7, 0.9, 0.6], [1, 2], 2)}) for c in cases}
    b = {c.nodeid: Side({"acc": Summary.of([0.75, 0.7, 0.85, 0.55], [8, 9], 2)}) for c in cases}
    gate, warnings = plan(cases, dict.fromkeys(a, decl), a, b, 0.05)
    assert (gate.comparisons, warnings) == (10, [])


@pytest.mark.parametrize("folds", [1, 0, -5, True, "5", 2.5])
def test_folds_must_be_an_integer_of_at_least_two(folds: object) -> None:
    with pytest.raises(DeclarationError, match=r"folds=.* must be the number of cross-validation"):
        declaration(folds=folds)
    assert declaration(folds=5).folds == 5 and declaration().folds is None


def test_a_bad_folds_is_a_collection_error_naming_file_and_experiment(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        exp_001_cv="""
        from pytest_experiments import experiment

        @experiment(folds="5")
        def exp_cv():
            return {"accuracy": [0.8] * 5}
        """
    )
    result = pytester.runpytest("--exp-no-tracking", "-p", "no:xdist")
    result.assert_outcomes(errors=1)
    expected = "exp_001_cv.py::exp_cv: folds='5' must be the number of cross-validation folds"
    assert any(line.startswith(expected) for line in result.outlines), result.outlines


# -- what MLflow runs record -----------------------------------------------------------------


def test_a_run_records_each_metrics_folds_and_the_seeds_that_drew_them() -> None:
    summaries = {
        "accuracy": Summary.of([0.8, 0.7, 0.9], [42], 3),
        "fit_time": Summary.of([1.0, 1.2]),
    }
    tags = metric_tags(summaries)
    assert run_folds(tags) == {"accuracy": 3}
    assert run_folds({}) == {} and run_folds({**tags, **{k: "{" for k in tags}}) == {}
    assert fold_seeds({}, {"seed": "42"}) == [42]
    assert fold_seeds({TAG_SEEDS: json.dumps([42, 7])}, {"seed": "42"}) == [42, 7]
    assert fold_seeds({}, {}) == []


# -- real sessions ----------------------------------------------------------------------

FOLDED = """
    import random

    VERSION = 0

    @experiment(tolerance={"accuracy": 0.0}, folds=5, repeats=REPEATS)
    def exp_cv(seed):
        # each repeat's seed draws its folds: a fold's test rows move the
        # score a lot, alike on both sides; the model's own noise is small
        folds = random.Random(seed)
        drop = knob("drop", 0.0)
        fit = random.Random(f"{seed}:{drop}:{VERSION}")
        scores = [0.8 + folds.uniform(-0.08, 0.08) - drop + fit.gauss(0, 0.004)
                  for _ in range(5)]
        return {"accuracy": scores[: knob("length", 5)], "fit_time": 1.0}
"""


def test_baseline_files_record_folds_and_a_folded_case_is_gated_fold_by_fold(
    pytester: pytest.Pytester,
) -> None:
    write_exp(pytester, "exp_001_cv", FOLDED.replace("REPEATS", "2"))
    set_knobs(pytester)
    result, cases = run_subprocess(pytester, "--exp-no-tracking", "--exp-update-baseline")
    assert result.ret == 0, result.stdout.str()
    path = baseline_file(pytester, "exp_001_cv")
    entry = json.loads(path.read_text())["exp_cv"]
    ran = cases["exp_cv"]["seeds"]
    assert len(ran) == 2
    assert entry["accuracy"]["folds"] == 5 and entry["accuracy"]["seeds"] == ran
    assert len(entry["accuracy"]["samples"]) == 10
    assert "folds" not in entry["fit_time"]  # a plain number a repeat: not a fold score
    loaded = baselines.load(path)["exp_cv"]["accuracy"]
    assert (loaded.folds, loaded.seeds) == (5, tuple(ran))

    # Two points worse on every fold: the folds' +-8 points hide it from an
    # unpaired test; fold by fold, the case regresses.
    set_knobs(pytester, drop=0.02)
    result, cases = run_subprocess(pytester, "--exp-no-tracking")
    assert result.ret == 1, result.stdout.str()
    assert outcomes(cases) == {"exp_cv": "regressed"}
    comparison = cases["exp_cv"]["comparisons"]["accuracy"]
    assert comparison["test"] == "corrected resampled t"
    assert comparison["noise"] == "2 x 5 folds"
    result.stdout.fnmatch_lines(
        ["*accuracy regressed*one-sided corrected resampled t test over 2 x 5 folds*"]
    )

    # At another seed the folds differ: Welch's t counting 5 a side, and why.
    result, cases = run_subprocess(pytester, "--exp-no-tracking", "--exp-seed", "7")
    comparison = cases["exp_cv"]["comparisons"]["accuracy"]
    assert comparison["test"] == "fold Welch t"
    assert comparison["noise"] == (
        "5 folds a side (folds not paired: no common seed (the folds differ))"
    )


def test_a_sequence_of_another_length_than_the_folds_is_a_case_error(
    pytester: pytest.Pytester,
) -> None:
    write_exp(pytester, "exp_001_cv", FOLDED.replace("REPEATS", "1"))
    set_knobs(pytester, length=4)
    result, cases = run_subprocess(pytester, "--exp-no-tracking")
    assert result.ret == 1, result.stdout.str()
    assert outcomes(cases) == {"exp_cv": "error"}
    message = cases["exp_cv"]["message"]
    assert "folds=5 declares 5 fold scores in every returned sequence" in message
    assert "'accuracy' has 4" in message and "fit_time" not in message


@pytest.mark.slow
def test_mlflow_baselines_and_exp_compare_pair_the_folds_runs_recorded(
    pytester: pytest.Pytester, template: Path
) -> None:
    """Runs record K (``experiments.stats``) and the repeats' seeds: a run
    pooled as the baseline (``--exp-baseline mlflow``) and a session
    compared with ``--exp-compare`` are tested fold by fold."""
    copy_store(template, pytester.path / "mlflow.db")
    set_knobs(pytester)
    write_exp(pytester, "exp_001_cv", FOLDED.replace("REPEATS", "2"))
    result, _ = run_subprocess(pytester, "-p", "no:xdist", "--exp-session-group", "A")
    assert result.ret == 0, result.stdout.str()

    write_exp(
        pytester, "exp_001_cv", FOLDED.replace("REPEATS", "2").replace("VERSION = 0", "VERSION = 1")
    )
    set_knobs(pytester, drop=0.02)
    result, cases = run_subprocess(
        pytester, "-p", "no:xdist", "--exp-baseline", "mlflow", "--exp-session-group", "B"
    )
    assert result.ret == 1, result.stdout.str()
    comparison = cases["exp_cv"]["comparisons"]["accuracy"]
    assert (comparison["baseline_n"], comparison["current_n"]) == (10, 10)
    assert comparison["test"] == "corrected resampled t" and comparison["noise"] == "2 x 5 folds"
    assert cases["exp_cv"]["outcome"] == "regressed"

    result, cases = run_subprocess(pytester, "-p", "no:xdist", "--exp-compare", "A", "B")
    assert result.ret == 1, result.stdout.str()
    comparison = cases["exp_cv"]["comparisons"]["accuracy"]
    assert comparison["test"] == "corrected resampled t" and comparison["noise"] == "2 x 5 folds"
