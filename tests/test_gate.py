"""The statistical gate: samples and repeats, summaries, the one-sided test,
Holm's correction, the pure verdict, baseline files with spread, and real
pytest runs that gate with repeats (no xdist and ``-n 2``).

Experiments here draw their metrics from the case's seed (``random.gauss``),
the way a model's score moves with its random state, so "unchanged code at
another seed" and "a real regression" are both one knob away.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# _server imports mlflow at collection, before any in-process pytester run
# could unload half of it (see tests/_server.py).
from _server import copy_store
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from test_baselines import (
    baseline_file,
    outcomes,
    run,
    run_subprocess,
    set_knobs,
    write_baseline,
    write_exp,
)

from conftest import store_runs
from pytest_experiments import baselines
from pytest_experiments.conditions import Tolerance, compare, regression_message
from pytest_experiments.declarations import declaration_for
from pytest_experiments.results import CaseResult, Direction
from pytest_experiments.runner import MetricsError, repeat_seeds, validate_metrics
from pytest_experiments.stats import Summary, holm, worse_p_value
from pytest_experiments.verdict import Gate, evaluate, holm_upgrades

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=2, max_size=12)


# -- summaries ------------------------------------------------------------------


@given(samples)
def test_summary_matches_numpy_and_scipy(values: list[float]) -> None:
    s = Summary.of(values)
    assert s.n == len(values)
    assert s.mean == pytest.approx(float(np.mean(values)), abs=1e-9)
    assert s.std == pytest.approx(float(np.std(values, ddof=1)), abs=1e-6)
    interval = s.interval()
    assert interval is not None
    if s.std and s.std > 1e-9:
        low, high = scipy_stats.t.interval(
            0.95, len(values) - 1, loc=s.mean, scale=s.std / math.sqrt(len(values))
        )
        assert interval == pytest.approx((low, high), rel=1e-6, abs=1e-9)


def test_a_single_value_has_no_spread() -> None:
    s = Summary.of([0.8])
    assert (s.n, s.std, s.interval(), s.spread_known) == (1, None, None, False)
    assert s.to_json() == 0.8


@given(st.lists(samples, min_size=1, max_size=4))
def test_pooling_summaries_equals_summarising_all_samples(groups: list[list[float]]) -> None:
    everything = Summary.of([v for g in groups for v in g])
    with_samples = Summary.pooled(Summary.of(g) for g in groups)
    # Without the samples, from n, mean and std alone (as MLflow runs keep them).
    from_stats = Summary.pooled(
        Summary(mean=x.mean, n=x.n, std=x.std) for x in map(Summary.of, groups)
    )
    for pooled in (with_samples, from_stats):
        assert pooled.n == everything.n
        assert pooled.mean == pytest.approx(everything.mean, abs=1e-9)
        assert pooled.std == pytest.approx(everything.std, rel=1e-6, abs=1e-6)


@given(samples)
def test_baseline_entries_round_trip(values: list[float]) -> None:
    s = Summary.of(values)
    back = Summary.from_json(json.loads(json.dumps(s.to_json())))
    assert (back.n, back.samples) == (s.n, s.samples)
    assert back.mean == pytest.approx(s.mean)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("0.8", "not a number or an object with mean, n and std"),
        ({"mean": "x", "n": 3, "std": 0.1}, "'mean' must be a number"),
        ({"mean": 0.8, "n": 0}, "'n' must be a positive integer"),
        ({"mean": 0.8, "n": 3}, "'std' must be a non-negative number"),
        ({"samples": []}, "'samples' must be a non-empty list of numbers"),
        ({"samples": [0.1, "a"]}, "'samples' must be a non-empty list of numbers"),
    ],
)
def test_malformed_baseline_entries_are_named(entry: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Summary.from_json(entry)


# -- the one-sided test and Holm --------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(samples, samples, st.floats(0.001, 10), st.sampled_from(["higher", "lower"]))
def test_the_p_value_falls_as_the_current_mean_gets_worse(
    base: list[float], cur: list[float], step: float, direction: str
) -> None:
    b, c = Summary.of(base), Summary.of(cur)
    worse = -step if direction == "higher" else step
    shifted = Summary.of([v + worse for v in cur])
    p, p_worse = worse_p_value(b, c, direction), worse_p_value(b, shifted, direction)
    if b.std == 0 and c.std == 0:  # neither side varies: no test is made
        assert p is None and p_worse is None
        return
    assert p is not None and p_worse is not None
    assert p_worse <= p + 1e-12


@settings(deadline=None)
@given(samples, st.sampled_from(["higher", "lower"]), st.floats(0, 0.1))
def test_identical_samples_are_never_a_regression(
    values: list[float], direction: Direction, amount: float
) -> None:
    s = Summary.of(values)
    c = compare("m", s, s, direction, Tolerance(amount, False), threshold=1.0)
    assert c.status == "same"
    if s.std == 0:
        assert c.p_value is None and c.noise == "constant"
    else:
        assert c.p_value is not None and c.p_value >= 0.4


def test_without_spread_on_either_side_there_is_no_test() -> None:
    assert worse_p_value(Summary.of([0.8]), Summary.of([0.7, 0.71]), "higher") is None
    assert worse_p_value(Summary.of([0.8, 0.81]), Summary.of([0.7]), "higher") is None
    # n = 1: the tolerance alone decides, and the message says why.
    c = compare("acc", 0.8, 0.7, "higher", Tolerance(0.02, False))
    assert c.status == "regressed"
    assert c.noise == "no noise estimate"
    assert "no noise estimate: log predictions or add repeats" in regression_message(c)


def test_constant_samples_make_no_test_and_the_message_claims_none() -> None:
    """A deterministic model gives the same score in every repeat: there is no
    noise to test against, so no p-value is made up (it used to print
    "p = 0, one-sided permutation test" though no test ran)."""
    same = Summary.of([0.8] * 5)
    for other in ([0.8] * 5, [0.7] * 5, [0.9] * 5):
        assert worse_p_value(same, Summary.of(other), "higher") is None
    c = compare("acc", same, Summary.of([0.7] * 5), "higher", Tolerance(0.02, False))
    assert (c.status, c.p_value, c.test, c.noise) == ("regressed", None, None, "constant")
    message = regression_message(c)
    assert "p =" not in message and "permutation" not in message
    assert "no noise estimate: log predictions or add repeats" in message
    within = compare("acc", same, Summary.of([0.79] * 5), "higher", Tolerance(0.02, False))
    assert within.status == "worse"


def test_the_p_value_is_a_permutation_test_or_welch_from_stats_alone() -> None:
    base, cur = [0.85, 0.87, 0.84, 0.86, 0.88], [0.80, 0.83, 0.81, 0.79, 0.84]
    b, c = Summary.of(base), Summary.of(cur)
    exact = scipy_stats.permutation_test(
        (cur, base),
        lambda x, y: np.mean(x) - np.mean(y),
        permutation_type="independent",
        alternative="less",
    ).pvalue
    assert worse_p_value(b, c, "higher") == pytest.approx(exact)
    assert compare("acc", b, c, "higher", Tolerance(0, False)).test == "permutation"
    # pooled MLflow runs keep n, mean and std only: Welch's t-test
    b_stats, c_stats = (Summary(mean=x.mean, n=x.n, std=x.std) for x in (b, c))
    welch = scipy_stats.ttest_ind(cur, base, equal_var=False, alternative="less").pvalue
    assert worse_p_value(b_stats, c_stats, "higher") == pytest.approx(welch, rel=1e-9)
    assert compare("acc", b_stats, c_stats, "higher", Tolerance(0, False)).test == "Welch t"


def test_a_discrete_nearly_constant_score_is_not_called_significant() -> None:
    """Five forests of 500 trees: f1 takes two values over seeds. A t-test
    calls this p = 0.0001; the permutation test knows 6 of the 252 splits
    are as extreme (p = 0.024)."""
    base = Summary.of([0.8462, 0.8462, 0.8462, 0.8462, 0.8235])
    cur = Summary.of([0.8235] * 5)
    assert worse_p_value(base, cur, "higher") == pytest.approx(6 / 252)


p_values = st.dictionaries(
    st.text(min_size=1, max_size=5), st.floats(0, 1, allow_nan=False), max_size=30
)


@given(p_values, st.floats(0.001, 0.5))
def test_holm_is_between_bonferroni_and_no_correction(ps: dict[str, float], alpha: float) -> None:
    rejected = holm(ps, alpha)
    uncorrected = {k for k, p in ps.items() if p <= alpha}
    bonferroni = {k for k, p in ps.items() if p <= alpha / max(1, len(ps))}
    assert bonferroni <= rejected <= uncorrected


@given(p_values, st.floats(0.001, 0.5))
def test_holm_rejects_the_smallest_p_values_first(ps: dict[str, float], alpha: float) -> None:
    rejected = holm(ps, alpha)
    kept = [p for k, p in ps.items() if k not in rejected]
    assert all(ps[k] <= min(kept, default=1.0) for k in rejected)


def test_holm_steps_down() -> None:
    ps = {"a": 0.01, "b": 0.02, "c": 0.04}
    assert holm(ps, 0.05) == {"a", "b", "c"}  # 0.01 <= .05/3, .02 <= .05/2, .04 <= .05
    assert holm({**ps, "c": 0.06}, 0.05) == {"a", "b"}
    assert holm({"a": 0.02, "b": 0.02, "c": 0.02}, 0.05) == set()  # 0.02 > .05/3
    assert holm({"a": 0.03, "b": 0.001}, 0.05) == {"a", "b"}
    assert holm({"a": 0.03, "b": 0.03}, 0.05) == set()


# -- the verdict ----------------------------------------------------------------


def declaration(**spec: Any) -> Any:
    from pytest_experiments import experiment

    @experiment(**spec)
    def exp_x() -> None: ...

    return declaration_for(exp_x, "exp_x", Tolerance(0.0, False), None)


def summaries(**metrics: list[float]) -> dict[str, Summary]:
    return {m: Summary.of(v) for m, v in metrics.items()}


BASE = [0.85, 0.87, 0.84, 0.86, 0.88]
#: Ten samples: permutation p-values fine enough to fall between alpha/2 and alpha.
TEN = [0.85, 0.87, 0.84, 0.86, 0.88, 0.83, 0.89, 0.855, 0.865, 0.845]


def test_a_regression_needs_the_tolerance_and_significance() -> None:
    decl = declaration(tolerance={"acc": 0.02})
    gate = Gate(alpha=0.05)
    base = summaries(acc=BASE)
    # worse by 0.05, clearly significant: regressed, with a message a reviewer reads
    verdict = evaluate("c", summaries(acc=[v - 0.05 for v in BASE]), decl, base, gate)
    assert verdict.outcome == "regressed"
    assert verdict.message is not None
    for part in ("baseline 0.86 +- ", "(n=5)", "delta -0.05", "tolerance 0.02", "permutation"):
        assert part in verdict.message
    # worse by more than the tolerance, but the samples overlap: within noise
    noisy = [0.90, 0.78, 0.86, 0.80, 0.83]
    verdict = evaluate("c", summaries(acc=noisy), decl, base, gate)
    assert verdict.outcome == "passed"
    assert verdict.comparisons["acc"].status == "noise"
    # significant but within the tolerance: passes as worse
    small = [v - 0.01 for v in BASE]
    verdict = evaluate("c", summaries(acc=small), decl, base, gate)
    assert (verdict.outcome, verdict.comparisons["acc"].status) == ("passed", "worse")


def test_only_declared_metrics_gate_and_all_gate_when_none_is_declared() -> None:
    base = summaries(acc=BASE, roc_auc=BASE)
    current = summaries(acc=BASE, roc_auc=[v - 0.05 for v in BASE])
    declared = evaluate("c", current, declaration(expect={"acc": ">= 0.5"}), base, Gate())
    assert declared.outcome == "passed"
    assert declared.comparisons["roc_auc"].gated is False
    assert declared.comparisons["roc_auc"].status == "worse"
    undeclared = evaluate("c", current, declaration(), base, Gate())
    assert undeclared.outcome == "regressed"
    assert "roc_auc regressed" in (undeclared.message or "")


@pytest.mark.parametrize(
    "spec",
    [
        {"tolerance": {"acuracy": 0.01}},
        {"lower_is_better": ("acuracy",)},
        {"higher_is_better": ("acuracy",)},
    ],
)
def test_a_typo_in_a_metric_name_fails_and_lists_what_was_returned(spec: dict[str, Any]) -> None:
    verdict = evaluate("c", summaries(accuracy=[0.8], f1=[0.7]), declaration(**spec), None, Gate())
    assert verdict.outcome == "failed"
    assert "'acuracy', which was not returned (returned: accuracy, f1)" in (verdict.message or "")


def test_the_case_alone_applies_only_what_holm_must_reject() -> None:
    decl = declaration(tolerance={"acc": 0.02})
    base = summaries(acc=BASE)
    current = summaries(acc=[0.82, 0.83, 0.80, 0.81, 0.79])
    p = worse_p_value(base["acc"], current["acc"], "higher", 0.02)
    assert p is not None and 0.001 < p < 0.05
    alone = evaluate("c", current, decl, base, Gate(alpha=0.05, comparisons=1))
    assert alone.outcome == "regressed"
    many = evaluate("c", current, decl, base, Gate(alpha=0.05, comparisons=round(0.05 / p) + 5))
    assert (many.outcome, many.comparisons["acc"].status) == ("passed", "noise")


def test_update_mode_and_strict_baselines() -> None:
    decl = declaration()
    worse = summaries(acc=[v - 0.1 for v in BASE])
    assert evaluate("c", worse, decl, summaries(acc=BASE), Gate(update_baseline=True)).outcome == (
        "passed"
    )
    assert evaluate("c", worse, decl, None, Gate()).outcome == "new"
    strict = evaluate("c", worse, decl, None, Gate(strict_baseline=True))
    assert strict.outcome == "failed" and "--exp-strict-baseline" in (strict.message or "")


def result_with(nodeid: str, comparison: Any) -> CaseResult:
    return CaseResult(
        nodeid=nodeid,
        file="f.py",
        experiment="exp",
        case_id=nodeid,
        comparisons={"acc": comparison},
        has_baseline=True,
    )


def test_holm_at_the_session_end_upgrades_noise_it_rejects() -> None:
    base = Summary.of(TEN)
    tol = Tolerance(0.01, False)
    # m = 2: a case alone calls p <= alpha / 2. One p below it, one between
    # alpha / 2 and alpha: Holm rejects the first, then the second at alpha / 1.
    clear = compare(
        "acc", base, Summary.of([v - 0.035 for v in TEN]), "higher", tol, threshold=0.025
    )
    borderline = Summary.of([v - 0.026 for v in TEN])
    p = worse_p_value(base, borderline, "higher", 0.01)
    assert p is not None and 0.025 < p <= 0.05, p
    unsure = compare("acc", base, borderline, "higher", tol, threshold=0.025)
    assert (clear.status, unsure.status) == ("regressed", "noise")
    results = [result_with("a", clear), result_with("b", unsure)]
    results[0].outcome = "regressed"
    upgraded = holm_upgrades(results, 0.05)
    assert [r.nodeid for r in upgraded] == ["b"]
    assert results[1].outcome == "regressed"
    assert results[1].comparisons["acc"].status == "regressed"
    assert "Holm-corrected over the session" in (results[1].message or "")
    # A case that already regressed on one metric keeps its outcome (it is not
    # "upgraded"), but its borderline metric is marked regressed too.
    both = result_with("a", clear)
    both.outcome = "regressed"
    both.comparisons["f1"] = unsure
    assert holm_upgrades([both], 0.05) == []
    assert both.comparisons["f1"].status == "regressed" and both.outcome == "regressed"
    # two borderline p-values alone: Holm rejects neither (0.033 > 0.05 / 2)
    results = [result_with("a", unsure), result_with("b", unsure)]
    assert holm_upgrades(results, 0.05) == []
    assert {r.outcome for r in results} == {"passed"}


# -- samples and seeds ----------------------------------------------------------


def test_sequences_and_arrays_are_samples_of_a_metric() -> None:
    got = validate_metrics({"a": 1, "b": [0.1, 0.2], "c": np.array([1.0, 2.0]), "d": (3,)})
    assert got == {"a": [1.0], "b": [0.1, 0.2], "c": [1.0, 2.0], "d": [3.0]}
    bad: dict[str, Any]
    for bad in ({"a": []}, {"a": ["x"]}, {"a": "0.8"}, {"a": np.ones((2, 2))}, {"a": [True]}):
        with pytest.raises(MetricsError, match="not a number or a sequence of numbers"):
            validate_metrics(bad)


@given(st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_repeat_seeds_start_with_the_case_seed_and_are_distinct(base: int, n: int) -> None:
    seeds = repeat_seeds(base, n)
    assert seeds[0] == base and len(seeds) == n
    assert seeds == repeat_seeds(base, n)
    assume(n > 1)
    assert len(set(seeds)) == n
    assert all(0 <= s < 2**32 for s in seeds)


# -- baseline files ---------------------------------------------------------------


def test_old_plain_number_files_still_read_and_new_entries_keep_their_spread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "baselines" / "exp.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"exp[a=1]": {"acc": 0.8, "loss": 1}}))
    old = baselines.load(path)
    assert old["exp[a=1]"]["acc"] == Summary(mean=0.8)
    update = baselines.update(path, {"exp[a=2]": summaries(acc=BASE)}, None)
    assert update.added == ["exp[a=2]"]
    data = json.loads(path.read_text())
    assert data["exp[a=1]"] == {"acc": 0.8, "loss": 1.0}  # untouched, still plain
    entry = data["exp[a=2]"]["acc"]
    assert entry["n"] == 5 and entry["samples"] == BASE
    assert entry["mean"] == pytest.approx(statistics.mean(BASE))
    assert entry["std"] == pytest.approx(statistics.stdev(BASE))


# -- real pytest runs -------------------------------------------------------------

NOISY = """
    import random

    @experiment(
        params={"width": [1, 2, 3]},
        expect={"accuracy": ">= 0.5"},
        tolerance={"accuracy": 0.01},
        repeats=knob("repeats", 6),
    )
    def exp_noisy(width, seed):
        rng = random.Random(seed)
        drop = knob("drop", 0.0)
        return {
            "accuracy": 0.85 - drop + rng.gauss(0, 0.02) / width,
            "side": rng.random(),  # not declared: compared and shown, never gates
        }
"""

XDIST_MODES = [("-p", "no:xdist"), ("-n", "2")]


def accept_at_seed_42(pytester: pytest.Pytester, **knobs: Any) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(pytester, "exp_001_noisy", NOISY)
    set_knobs(pytester, **knobs)
    result, cases = run(pytester, "--exp-update-baseline", "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    assert set(outcomes(cases).values()) == {"new"}


@pytest.mark.parametrize("mode", XDIST_MODES, ids=["no-xdist", "n2"])
@pytest.mark.slow
def test_an_unchanged_study_passes_at_other_seeds_and_a_real_drop_fails(
    pytester: pytest.Pytester, mode: tuple[str, ...]
) -> None:
    accept_at_seed_42(pytester)
    stored = json.loads(baseline_file(pytester, "exp_001_noisy").read_text())
    entry = stored["exp_noisy[width=1]"]["accuracy"]
    assert entry["n"] == 6 and len(entry["samples"]) == 6 and entry["std"] > 0

    # Without xdist in-process (no tracking, so no MLflow state to keep apart):
    # the seconds of a fresh process go to the xdist run only.
    def session(*args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
        if "-n" in mode:
            return run_subprocess(pytester, "--exp-no-tracking", *mode, *args)
        return run(pytester, *mode, *args)

    # A single-number gate with tolerance 0.01 fails most of these seeds.
    for seed in ("1", "3") if "-n" not in mode else ("3",):
        result, cases = session("--exp-seed", seed)
        assert result.ret == 0, result.stdout.str()
        assert set(outcomes(cases).values()) == {"passed"}
        case = cases["exp_noisy[width=1]"]
        assert case["repeats"] == 6 and case["seeds"][0] == int(seed)
        assert case["spread"]["accuracy"]["n"] == 6
    set_knobs(pytester, drop=0.06)
    result, cases = session("--exp-seed", "4")
    assert result.ret == 1
    assert set(outcomes(cases).values()) == {"regressed"}
    text = result.stdout.str()
    assert "accuracy regressed: baseline 0.8" in text
    assert "(n=6), current 0.7" in text and "tolerance 0.01" in text and "p = " in text


def test_repeats_from_the_command_line_and_the_ini_and_the_declaration_wins(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nexperiments_repeats = 3\n")
    write_exp(
        pytester,
        "exp_001_r",
        """
        @experiment(repeats=2)
        def exp_fixed(seed):
            return {"m": float(seed % 7)}

        def exp_free(seed):
            return {"m": float(seed % 7)}
        """,
    )
    _, cases = run(pytester, "-p", "no:xdist")
    assert (cases["exp_fixed"]["repeats"], cases["exp_free"]["repeats"]) == (2, 3)
    _, cases = run(pytester, "-p", "no:xdist", "--exp-repeats", "4")
    assert (cases["exp_fixed"]["repeats"], cases["exp_free"]["repeats"]) == (2, 4)
    # each repeat got its own seed, and the reported mean is theirs
    seeds = cases["exp_free"]["seeds"]
    assert cases["exp_free"]["metrics"]["m"] == pytest.approx(statistics.mean(s % 7 for s in seeds))
    result = pytester.runpytest("-p", "no:xdist", "--exp-no-tracking", "--exp-repeats", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "repeats must be at least 1, got 0" in result.stderr.str()


def test_an_old_plain_number_baseline_gates_by_tolerance_and_says_add_repeats(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(pytester, "exp_001_noisy", NOISY)
    set_knobs(pytester, repeats=1)
    write_baseline(
        pytester,
        "exp_001_noisy",
        {f"exp_noisy[width={w}]": {"accuracy": 0.95, "side": 0.5} for w in (1, 2, 3)},
    )
    result, cases = run(pytester, "-p", "no:xdist", "--exp-report", "report.md")
    assert result.ret == 1
    assert set(outcomes(cases).values()) == {"regressed"}
    assert "no noise estimate: log predictions or add repeats" in result.stdout.str()
    report = (pytester.path / "report.md").read_text()
    assert "no noise estimate: log predictions or add repeats" in report


def test_a_typo_in_a_tolerance_fails_the_case_in_a_real_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(
        pytester,
        "exp_001_typo",
        """
        @experiment(tolerance={"acuracy": 0.01})
        def exp_typo():
            return {"accuracy": 0.9}
        """,
    )
    result, cases = run(pytester, "-p", "no:xdist")
    assert result.ret == 1
    assert outcomes(cases) == {"exp_typo": "failed"}
    result.stdout.fnmatch_lines(["*tolerance names metric 'acuracy', which was not returned*"])


def test_returned_samples_gate_without_repeats_and_holm_decides_at_the_end(
    pytester: pytest.Pytester,
) -> None:
    """Two cases: one clearly worse (decided alone), one whose p-value lies
    between alpha/2 and alpha. Only Holm over the whole session can call the
    second: it is regressed in the report, JSON and exit status."""
    pytester.makeini("[pytest]\n")
    write_exp(
        pytester,
        "exp_001_folds",
        """
        @experiment(params={"k": [1, 2]}, tolerance=0.01)
        def exp_folds(k):
            ten = [0.85, 0.87, 0.84, 0.86, 0.88, 0.83, 0.89, 0.855, 0.865, 0.845]
            drop = knob("drop", 0.0) * (1.25 if k == 1 else 1.0)
            return {"acc": [v - drop for v in ten]}
        """,
    )
    result, _ = run(pytester, "-p", "no:xdist", "--exp-update-baseline")
    assert result.ret == 0
    # H0 "worse by at most the tolerance (0.01)": shifted by it, the drops of
    # 0.0325 (k=1) and 0.026 (k=2) give one-sided permutation p of about 0.005
    # and 0.033, one below alpha / 2 and one between alpha / 2 and alpha.
    set_knobs(pytester, drop=0.026)
    result, cases = run(pytester, "-p", "no:xdist", "--exp-report", "report.md")
    assert result.ret == 1
    assert outcomes(cases) == {"exp_folds[k=1]": "regressed", "exp_folds[k=2]": "regressed"}
    result.stdout.fnmatch_lines(
        ["*1 case regressed once the p-values of the whole session were Holm-corrected*k=2*"]
    )
    assert "Holm-corrected over the session" in cases["exp_folds[k=2]"]["message"]
    assert "Holm" not in cases["exp_folds[k=1]"]["message"]
    report = (pytester.path / "report.md").read_text()
    assert report.count("▼ worse (regressed, p=") == 2


def test_update_writes_spread_and_prints_what_changed(pytester: pytest.Pytester) -> None:
    accept_at_seed_42(pytester, repeats=3)
    result, _ = run(pytester, "-p", "no:xdist", "--exp-update-baseline", "--exp-seed", "9")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["baseline experiments/baselines/exp_001_noisy.json: 0 added, 3 changed, 0 removed"]
    )
    data = json.loads(baseline_file(pytester, "exp_001_noisy").read_text())
    assert all(entry["accuracy"]["n"] == 3 for entry in data.values())


# -- baselines from the tracking store --------------------------------------------

TRACKED = """
    import random

    @experiment(params={"case": ["a", "b"]}, tolerance={"accuracy": 0.01}, repeats=4)
    def exp_tracked(case, seed, experiment_run):
        rng = random.Random(seed)
        for step in range(3):  # a side series: never a baseline
            experiment_run.log_metric("val_curve", knob("curve", 0.5) + step, step=step)
        return {"accuracy": knob(case, 0.8) + rng.gauss(0, 0.005)}
"""


@pytest.mark.slow
def test_mlflow_baselines_pool_the_last_passed_runs_of_each_node_id(
    pytester: pytest.Pytester, template: Path
) -> None:
    pytester.makeini(
        "[pytest]\naddopts = --import-mode=importlib\nexperiments_baseline_window = 2\n"
    )
    copy_store(template, pytester.path / "mlflow.db")
    write_exp(pytester, "exp_001_tracked", TRACKED)
    # The same file name in another folder, with other numbers: it must never
    # serve as this file's baseline.
    other = pytester.path / "other" / "exp_001_tracked.py"
    other.parent.mkdir()
    other.write_text((pytester.path / "experiments" / "exp_001_tracked.py").read_text())
    (other.parent / "knobs.json").write_text(json.dumps({"a": 0.2, "b": 0.2}))
    set_knobs(pytester, a=0.8, b=0.8)
    for seed in ("1", "2"):  # two runs per case: a full window
        result, cases = run_subprocess(pytester, "-p", "no:xdist", "--exp-seed", seed)
        assert result.ret == 0, result.stdout.str()

    # A real drop in a fails, and keeps failing: a regressed run never becomes
    # a baseline. b passes although its side series changed (never a baseline),
    # against its window of 2 runs x 4 repeats; the first session under xdist.
    set_knobs(pytester, a=0.7, b=0.8, curve=9.0)
    for mode, seed in ((("-n", "2"), "5"), (("-p", "no:xdist"), "6")):
        result, cases = run_subprocess(
            pytester, *mode, "--exp-baseline", "mlflow", "--exp-seed", seed, "experiments"
        )
        assert result.ret == 1
        assert outcomes(cases) == {
            "exp_tracked[case=a]": "regressed",
            "exp_tracked[case=b]": "passed",
        }
        passed = cases["exp_tracked[case=b]"]["comparisons"]
        assert set(passed) == {"accuracy"}  # val_curve is not compared
        assert (passed["accuracy"]["baseline_n"], passed["accuracy"]["current_n"]) == (8, 4)
        assert passed["accuracy"]["baseline"] == pytest.approx(0.8, abs=0.01)
        comparison = cases["exp_tracked[case=a]"]["comparisons"]["accuracy"]
        assert (comparison["baseline_n"], comparison["current_n"]) == (8, 4)
        # each run's samples are read back: the same test as with baseline files
        assert comparison["test"] == "permutation"
        message = cases["exp_tracked[case=a]"]["message"]
        assert "(n=8), current 0." in message and "(n=4), delta -0.1" in message
    runs = store_runs(pytester.path / "mlflow.db")
    assert all(r.data.tags["pytest.nodeid"].startswith(("experiments/", "other/")) for r in runs)
    regressed = [r for r in runs if r.data.tags["outcome"] == "regressed"]
    assert len(regressed) == 2
    history = {r.data.tags["pytest.nodeid"]: r for r in regressed}
    run = history["experiments/exp_001_tracked.py::exp_tracked[case=a]"]
    spread = json.loads(run.data.tags["experiments.stats"])["accuracy"]
    assert spread["n"] == 4 and run.data.metrics["accuracy"] == pytest.approx(spread["mean"])
    assert json.loads(run.data.tags["experiments.metrics"]) == ["accuracy"]
