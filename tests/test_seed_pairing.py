"""Samples paired by seed: when the baseline and the current run ran common
seeds (repeat i with ``repeat_seeds(base, repeats)[i]``), the gate tests the
per-seed worsenings with a paired t-test instead of comparing the two sides'
samples unpaired.

The policy in-process (summaries that keep their seeds, the pairing, the
test, the comparison, the collection-time plan), then real sessions: a
baseline file that records each sample's seed, and a seeded case gated with
the paired test.
"""

from __future__ import annotations

import json
import math
import random
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

from pytest_experiments import baselines, stats
from pytest_experiments.codec import run_seeds
from pytest_experiments.conditions import Tolerance, compare, regression_message
from pytest_experiments.runner import repeat_seeds
from pytest_experiments.stats import (
    Summary,
    common_seeds,
    seed_pair_floor,
    seed_pairs,
    unpaired_test,
    worse_test,
)
from pytest_experiments.tags import TAG_SEEDS
from pytest_experiments.verdict import Gate, Planned, evaluate, plan_gate

score = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
seed_values = st.integers(0, 2**32 - 1)


@st.composite
def paired_sides(draw: Any, min_size: int = 3, max_size: int = 10) -> tuple[Summary, Summary]:
    """Two sides that ran the same distinct seeds, with varying worsenings."""
    seeds = draw(st.lists(seed_values, min_size=min_size, max_size=max_size, unique=True))
    base = draw(st.lists(score, min_size=len(seeds), max_size=len(seeds)))
    cur = draw(st.lists(score, min_size=len(seeds), max_size=len(seeds)))
    differences = [b - c for b, c in zip(base, cur, strict=True)]
    assume(max(differences) - min(differences) > 1e-6)
    return Summary.of(base, seeds), Summary.of(cur, seeds)


def shuffled(summary: Summary, rng: random.Random) -> Summary:
    """The same samples and seeds in another order."""
    pairs = list(zip(summary.seeds, summary.samples, strict=True))
    rng.shuffle(pairs)
    return Summary.of([v for _, v in pairs], [s for s, _ in pairs])


# -- summaries keep their seeds -----------------------------------------------------


def test_a_summary_keeps_seeds_only_one_per_sample() -> None:
    assert Summary.of([0.8, 0.9], [1, 2]).seeds == (1, 2)
    assert Summary.of([0.8, 0.9, 0.7], [1, 2]).seeds == ()  # a sequence: no seed a sample
    assert Summary.of([0.8], [1]).seeds == ()  # one value: nothing to pair
    assert Summary.of([0.8, 0.9]).seeds == ()


@given(st.lists(seed_values, min_size=2, max_size=8, unique=True), st.data())
def test_baseline_entries_with_seeds_round_trip(seeds: list[int], data: Any) -> None:
    values = data.draw(st.lists(score, min_size=len(seeds), max_size=len(seeds)))
    summary = Summary.of(values, seeds)
    entry = summary.to_json()
    assert isinstance(entry, dict) and entry["seeds"] == seeds
    assert Summary.from_json(json.loads(json.dumps(entry))) == summary
    assert Summary.from_dict(summary.to_dict()) == summary


def test_an_entry_without_seeds_stays_valid_and_malformed_seeds_are_named() -> None:
    old = Summary.from_json({"mean": 0.85, "n": 2, "std": 0.05, "samples": [0.8, 0.9]})
    assert old.seeds == () and old.has_samples
    for seeds in ([1], [1, 1], [1, "2"], [True, 2], "12"):  # a file never repeats a seed
        entry = {"mean": 0.85, "n": 2, "std": 0.05, "samples": [0.8, 0.9], "seeds": seeds}
        with pytest.raises(ValueError, match="'seeds' must be a list of distinct integers"):
            Summary.from_json(entry)


def test_pooled_runs_keep_their_seeds_when_every_run_recorded_them() -> None:
    a, b = Summary.of([0.8, 0.9], [1, 2]), Summary.of([0.7, 0.6], [3, 4])
    assert sorted(Summary.pooled([a, b]).seeds) == [1, 2, 3, 4]
    assert Summary.pooled([a]).seeds == (1, 2)  # one run: its own seeds
    assert Summary.pooled([a, Summary.of([0.7, 0.6])]).seeds == ()


def test_pooled_runs_at_the_same_seeds_pair_on_each_seeds_mean() -> None:
    """``--exp-baseline mlflow`` pools the last runs, which CI ran at the same
    seeds: each seed's baseline is the mean of its runs' samples."""
    seeds = [11, 12, 13, 14]
    runs = [
        Summary.of([0.80, 0.90, 0.70, 0.85], seeds),
        Summary.of([0.82, 0.88, 0.74, 0.83], seeds),
    ]
    pooled = Summary.pooled(runs)
    assert pooled.n == 8 and sorted(pooled.seeds) == sorted(seeds * 2)
    cur = Summary.of([0.79, 0.86, 0.70, 0.82], seeds)
    pairs = seed_pairs(pooled, cur)
    assert pairs is not None and pairs.seeds == tuple(seeds)
    means = [(a + b) / 2 for a, b in zip(runs[0].samples, runs[1].samples, strict=True)]
    assert list(pairs.baseline) == pytest.approx(means, abs=1e-12)
    test = worse_test(pooled, cur, "higher")
    expected = scipy_stats.ttest_rel(means, cur.samples, alternative="greater").pvalue
    assert test is not None and test.pairs == 4
    assert test.p_value == pytest.approx(float(expected), rel=1e-6)


def test_a_run_records_its_seeds_in_a_tag_the_decoder_reads() -> None:
    assert run_seeds({TAG_SEEDS: json.dumps([42, 7])}) == [42, 7]
    assert run_seeds({}) == [] and run_seeds({TAG_SEEDS: "not json"}) == []
    assert run_seeds({TAG_SEEDS: json.dumps([1, "x"])}) == []


# -- which samples pair ---------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(paired_sides(), st.randoms(use_true_random=False), st.sampled_from(["higher", "lower"]))
def test_pairing_matches_seeds_by_value_whatever_their_order(
    sides: tuple[Summary, Summary], rng: random.Random, direction: str
) -> None:
    base, cur = sides
    reordered = shuffled(base, rng), shuffled(cur, rng)
    pairs, again = seed_pairs(base, cur), seed_pairs(*reordered)
    assert pairs is not None and pairs == again
    assert pairs.seeds == tuple(sorted(base.seeds))
    first = worse_test(base, cur, direction, 0.01)
    second = worse_test(*reordered, direction, 0.01)
    assert first is not None and second is not None
    assert (first.test, first.pairs) == ("paired t", len(base.seeds))
    assert first.p_value == second.p_value


@settings(deadline=None, max_examples=40)
@given(paired_sides(), st.sampled_from(["higher", "lower"]))
def test_other_seeds_or_no_seeds_fall_back_to_the_unpaired_test(
    sides: tuple[Summary, Summary], direction: str
) -> None:
    base, cur = sides
    moved = Summary.of(cur.samples, [s + 2**33 for s in cur.seeds])  # no seed in common
    unseeded = Summary.of(base.samples)  # a baseline file from before seeds were kept
    for b, c in ((base, moved), (unseeded, cur)):
        assert seed_pairs(b, c) is None
        got, expected = worse_test(b, c, direction, 0.0), unpaired_test(b, c, direction, 0.0)
        assert got == expected
        assert got is None or got.test == "permutation"


def test_two_common_seeds_are_not_enough_to_pair() -> None:
    """At two, equal differences come by chance too often (docs/gate.md)."""
    assert stats.MIN_PAIRS == 3
    base = Summary.of([0.8, 0.9, 0.85], [1, 2, 3])
    cur = Summary.of([0.7, 0.75, 0.72], [2, 3, 4])
    assert seed_pairs(base, cur) is None and common_seeds([1, 2, 3], [2, 3, 4]) == 0
    assert common_seeds([1, 2, 3, 4], [4, 3, 2]) == 3
    test = worse_test(base, cur, "higher")
    assert test is not None and test.test == "permutation"


def test_a_baseline_with_more_repeats_pairs_on_the_seeds_ci_runs() -> None:
    """``--exp-update-baseline --exp-repeats 16``, then CI at 3 repeats: the
    first 3 seeds are the same, and only they pair."""
    rng = random.Random(0)
    seeds16, seeds3 = repeat_seeds(42, 16), repeat_seeds(42, 3)
    assert common_seeds(seeds16, seeds3) == 3
    base = Summary.of([0.8 + rng.gauss(0, 0.05) for _ in seeds16], seeds16)
    cur_values = [base.samples[i] - 0.01 + rng.gauss(0, 0.002) for i in range(3)]
    cur = Summary.of(cur_values, seeds3)
    pairs = seed_pairs(base, cur)
    assert pairs is not None and set(pairs.seeds) == set(seeds3)
    c = compare("acc", base, cur, "higher", Tolerance(0, False))
    assert c.test == "paired t" and c.noise == "3 paired seeds"
    # the worsening is over the common seeds, not the difference of all means
    expected = math.fsum(pairs.current) / 3 - math.fsum(pairs.baseline) / 3
    assert c.delta == pytest.approx(expected, abs=1e-12)


# -- the test ---------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(paired_sides(), st.floats(0, 0.05), st.sampled_from(["higher", "lower"]))
def test_the_paired_p_value_is_a_one_sided_paired_t_test_at_the_tolerance(
    sides: tuple[Summary, Summary], tolerance: float, direction: str
) -> None:
    base, cur = sides
    test = worse_test(base, cur, direction, tolerance)
    assert test is not None and test.floor == 0.0 and test.df == base.n - 1
    # H0 "mean worsening <= tolerance": the worsening is baseline - current
    # where higher is better; SciPy's ttest_rel on the shifted sides.
    sign = 1.0 if direction == "higher" else -1.0
    shifted = [sign * b - tolerance for b in base.samples]
    other = [sign * c for c in cur.samples]
    expected = scipy_stats.ttest_rel(shifted, other, alternative="greater").pvalue
    assert test.p_value == pytest.approx(float(expected), rel=1e-6, abs=1e-12)


@settings(deadline=None, max_examples=60)
@given(paired_sides(), st.floats(1e-4, 0.2), st.sampled_from(["higher", "lower"]))
def test_the_paired_p_value_falls_as_the_current_side_gets_worse(
    sides: tuple[Summary, Summary], shift: float, direction: str
) -> None:
    base, cur = sides
    sign = 1.0 if direction == "higher" else -1.0
    worse = Summary.of([c - sign * shift for c in cur.samples], cur.seeds)
    before, after = worse_test(base, cur, direction), worse_test(base, worse, direction)
    assert before is not None and after is not None
    assert after.p_value <= before.p_value + 1e-12


def test_equal_differences_make_no_test_and_the_tolerance_decides() -> None:
    """Every seed worse by exactly the same amount: the seed's noise
    cancelled, there is nothing to test against (as with constant samples)."""
    seeds = [5, 6, 7]
    base = Summary.of([0.75, 0.8, 0.9], seeds)
    for drop, status in ((0.01, "worse"), (0.05, "regressed")):
        cur = Summary.of([v - drop for v in base.samples], seeds)
        assert worse_test(base, cur, "higher", 0.02) is None
        c = compare("acc", base, cur, "higher", Tolerance(0.02, False))
        assert c.p_value is None and c.test is None
        assert c.noise == "constant differences over 3 paired seeds"
        assert c.status == status
        if status == "regressed":
            assert "no noise estimate" in regression_message(c)


def test_pairing_catches_a_drop_that_the_seed_hides_from_the_unpaired_test() -> None:
    """The seed draws the split: every seed moves both sides by up to +-10
    points together, the model lost 2 points on every split. Unpaired, the
    split's noise swamps the drop; paired by seed, it cancels."""
    rng = random.Random(1)
    seeds = repeat_seeds(42, 5)
    split = [rng.uniform(-0.1, 0.1) for _ in seeds]
    base = Summary.of([0.8 + e + rng.gauss(0, 0.003) for e in split], seeds)
    cur = Summary.of([0.78 + e + rng.gauss(0, 0.003) for e in split], seeds)
    unpaired = unpaired_test(base, cur, "higher", 0.0)
    assert unpaired is not None and unpaired.p_value > 0.2

    decl = declaration(tolerance={"accuracy": 0.0})
    verdict = evaluate("exp[a]", {"accuracy": cur}, decl, {"accuracy": base}, Gate())
    assert verdict.outcome == "regressed", verdict.message
    comparison = verdict.comparisons["accuracy"]
    assert comparison.test == "paired t" and comparison.noise == "5 paired seeds"
    assert comparison.p_value is not None and comparison.p_value < 0.001
    assert "paired t test over 5 paired seeds" in (verdict.message or "")


# -- the plan at collection -------------------------------------------------------------


def test_the_plan_counts_a_paired_comparison_that_the_unpaired_floor_would_drop() -> None:
    """3 repeats a side at 10 comparisons: the unpaired permutation test's
    floor (1/20) is above Holm's first step (0.005); the paired t-test has
    none."""
    planned = [Planned(f"exp[{i}]", "acc", False, 3, 3, pairs=3) for i in range(10)]
    m, first_step, warnings = plan_gate(planned, 0.05)
    assert (m, warnings) == (10, []) and first_step == pytest.approx(0.005)
    unpaired = [Planned(f"exp[{i}]", "acc", False, 3, 3) for i in range(10)]
    m, _, warnings = plan_gate(unpaired, 0.05)
    assert m == 1 and len(warnings) == 10


def test_a_sign_flip_floor_would_be_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "SEED_PAIR_TEST", "sign-flip")
    assert seed_pair_floor(3, "sign-flip") == pytest.approx(1 / 8)
    _, _, warnings = plan_gate([Planned("exp[a]", "acc", False, 3, 3, pairs=3)], 0.05)
    assert len(warnings) == 1 and "sign-flip permutation test" in warnings[0]


# -- real sessions ----------------------------------------------------------------------

SEEDED = """
    import random

    VERSION = 0

    @experiment(tolerance={"accuracy": 0.0}, repeats=4)
    def exp_split(seed):
        # the seed draws the split: a large effect both sides share; the
        # fit's own noise differs between the two versions of the model
        split = random.Random(seed).uniform(-0.1, 0.1)
        drop = knob("drop", 0.0)
        fit = random.Random(f"{seed}:{drop}:{VERSION}").gauss(0, 0.002)
        return {"accuracy": 0.8 - drop + split + fit}
"""


def test_baseline_files_record_seeds_and_a_seeded_case_is_gated_paired(
    pytester: pytest.Pytester,
) -> None:
    write_exp(pytester, "exp_001_split", SEEDED)
    set_knobs(pytester)
    result, cases = run_subprocess(pytester, "--exp-no-tracking", "--exp-update-baseline")
    assert result.ret == 0, result.stdout.str()
    entry = json.loads(baseline_file(pytester, "exp_001_split").read_text())["exp_split"]
    ran = cases["exp_split"]["seeds"]
    assert len(ran) == 4 and entry["accuracy"]["seeds"] == ran
    assert baselines.load(baseline_file(pytester, "exp_001_split"))["exp_split"][
        "accuracy"
    ].seeds == tuple(ran)

    # One point worse on every split: the split's +-10 points hide it from
    # an unpaired test; paired by seed, the case regresses.
    set_knobs(pytester, drop=0.01)
    result, cases = run_subprocess(pytester, "--exp-no-tracking")
    assert result.ret == 1, result.stdout.str()
    assert outcomes(cases) == {"exp_split": "regressed"}
    comparison = cases["exp_split"]["comparisons"]["accuracy"]
    assert comparison["test"] == "paired t" and comparison["noise"] == "4 paired seeds"
    result.stdout.fnmatch_lines(
        ["*accuracy regressed*one-sided paired t test over 4 paired seeds*"]
    )

    # At another seed nothing pairs: the unpaired test, which cannot see it.
    result, cases = run_subprocess(pytester, "--exp-no-tracking", "--exp-seed", "7")
    assert result.ret == 0, result.stdout.str()
    assert cases["exp_split"]["comparisons"]["accuracy"]["test"] == "permutation"


@pytest.mark.slow
def test_mlflow_baselines_pool_runs_at_the_same_seeds_and_pair_on_them(
    pytester: pytest.Pytester, template: Path
) -> None:
    """Two earlier runs at the CI's seeds (other fits: another version of the
    code), pooled as the baseline: the session at those seeds is paired."""
    pytester.makeini("[pytest]\nexperiments_baseline_window = 2\n")
    copy_store(template, pytester.path / "mlflow.db")
    set_knobs(pytester)
    for version in (1, 2):  # two versions of the code: two computations
        write_exp(pytester, "exp_001_split", SEEDED.replace("VERSION = 0", f"VERSION = {version}"))
        result, _ = run_subprocess(pytester, "-p", "no:xdist")
        assert result.ret == 0, result.stdout.str()

    write_exp(pytester, "exp_001_split", SEEDED.replace("VERSION = 0", "VERSION = 3"))
    set_knobs(pytester, drop=0.01)
    result, cases = run_subprocess(pytester, "-p", "no:xdist", "--exp-baseline", "mlflow")
    assert result.ret == 1, result.stdout.str()
    comparison = cases["exp_split"]["comparisons"]["accuracy"]
    assert (comparison["baseline_n"], comparison["current_n"]) == (8, 4)
    assert comparison["test"] == "paired t" and comparison["noise"] == "4 paired seeds"

    result, cases = run_subprocess(
        pytester, "-p", "no:xdist", "--exp-baseline", "mlflow", "--exp-seed", "7"
    )
    assert cases["exp_split"]["comparisons"]["accuracy"]["test"] == "permutation"
