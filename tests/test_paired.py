"""The prediction-level gate: logged predictions, their sidecar, the paired
test against the tolerance, the Holm plan, and real pytest runs (no xdist and
``-n 2``) where a deterministic model is gated with one fit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _server import copy_store
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from test_baselines import baseline_file, outcomes, run, run_subprocess, set_knobs, write_exp

from pytest_experiments import verdict as verdicts
from pytest_experiments.conditions import Tolerance
from pytest_experiments.declarations import declaration_for
from pytest_experiments.paired import KNOWN_METRICS, _repeat_pseudo_values, paired_test, user_metric
from pytest_experiments.predictions import (
    Predictions,
    PredictionsError,
    load_sidecar,
    logged_entry,
    sidecar_path,
    update_sidecar,
)
from pytest_experiments.results import CaseResult, Comparison
from pytest_experiments.stats import Summary, smallest_p, worse_test
from pytest_experiments.verdict import Gate, Planned, evaluate, plan_gate

ACCURACY = KNOWN_METRICS["accuracy"]


def side(y_true: Any, *y_pred: Any, index: Any = None, y_score: Any = None) -> Predictions:
    entries = [logged_entry(y_true, p, index, y_score) for p in y_pred]
    return Predictions.of_repeats(entries)


def correctness_pairs(rng: np.random.Generator, n: int, p10: float, p01: float) -> Any:
    """Labels and two models' predictions over n examples: the baseline alone
    right with probability p10, the current alone right with p01 (so the true
    worsening of accuracy is p10 - p01)."""
    y = rng.integers(0, 2, n)
    kind = rng.choice(4, size=n, p=[0.8 - p10, p10, p01, 0.2 - p01])
    base = np.where((kind == 0) | (kind == 1), y, 1 - y)
    cur = np.where((kind == 0) | (kind == 2), y, 1 - y)
    return y, base, cur


# -- the paired test -----------------------------------------------------------------


def test_for_accuracy_it_is_the_t_test_of_per_example_differences() -> None:
    rng = np.random.default_rng(3)
    y, base, cur = correctness_pairs(rng, 200, 0.08, 0.04)
    test = paired_test(ACCURACY, side(y, base), side(y, cur), "higher", 0.01)
    d = (base == y).astype(float) - (cur == y).astype(float)
    expected = scipy_stats.ttest_1samp(d, 0.01, alternative="greater").pvalue
    assert test.p_value == pytest.approx(expected, rel=1e-12)
    assert test.worsening == pytest.approx(d.mean())
    assert test.bound is not None and test.bound > test.worsening
    assert test.examples == 200 and test.test == "paired t"


def test_the_jackknife_of_a_mean_is_the_per_example_test() -> None:
    """A metric the plugin does not know by name goes through the jackknife;
    for a mean over examples its pseudo-values are the examples' own values."""
    rng = np.random.default_rng(4)
    y, base, cur = correctness_pairs(rng, 150, 0.07, 0.03)
    mine = user_metric("hits", lambda t, p: float(np.mean(t == p)))
    b, c = side(y, base, base), side(y, cur, base)  # two repeats each
    by_name = paired_test(ACCURACY, b, c, "higher", 0.0)
    jackknife = paired_test(mine, b, c, "higher", 0.0)
    assert jackknife.p_value == pytest.approx(by_name.p_value, rel=1e-9)
    assert jackknife.bound == pytest.approx(by_name.bound, rel=1e-9)


def test_f1_and_auc_are_tested_through_the_jackknife() -> None:
    rng = np.random.default_rng(5)
    y, base, cur = correctness_pairs(rng, 120, 0.15, 0.02)
    score = np.where(base == 1, 0.8, 0.2) + rng.normal(0, 0.05, 120)
    worse_score = np.where(cur == 1, 0.8, 0.2) + rng.normal(0, 0.05, 120)
    b, c = side(y, base, y_score=score), side(y, cur, y_score=worse_score)
    for name in ("f1", "roc_auc", "balanced_accuracy"):
        test = paired_test(KNOWN_METRICS[name], b, c, "higher", 0.0)
        assert test.p_value is not None and test.p_value < 0.01, name
        assert test.worsening > 0
    with pytest.raises(PredictionsError, match="needs y_score"):
        paired_test(KNOWN_METRICS["roc_auc"], side(y, base), side(y, cur), "higher", 0.0)


def test_at_the_tolerance_it_rejects_at_about_alpha() -> None:
    """H0 is "worse by at most the tolerance". A true worsening exactly at the
    tolerance must fail about alpha of the time: a test of "any worsening"
    plus a check of the observed mean (the old composite) fails about half the
    time there. 400 simulated sessions, fixed seed."""
    rng = np.random.default_rng(6)
    tol, rejected, composite = 0.03, 0, 0
    for _ in range(400):
        y, base, cur = correctness_pairs(rng, 300, 0.06 + tol, 0.06)
        test = paired_test(ACCURACY, side(y, base), side(y, cur), "higher", tol)
        assert test.p_value is not None
        rejected += test.p_value <= 0.05
        at_zero = paired_test(ACCURACY, side(y, base), side(y, cur), "higher", 0.0)
        composite += bool(at_zero.p_value is not None and at_zero.p_value <= 0.05) and (
            test.worsening > tol
        )
    assert 0.02 <= rejected / 400 <= 0.08
    assert composite / 400 > 0.35  # what the old rule did at the same truth


def test_identical_predictions_make_no_test() -> None:
    y = np.array([0, 1, 1, 0, 1])
    test = paired_test(ACCURACY, side(y, y), side(y, y), "higher", 0.0)
    assert (test.p_value, test.bound, test.worsening) == (None, None, 0.0)


#: scikit-learn's reference values on label sets it finds ill-defined (a
#: label never predicted, or only predicted) warn; the value is what is compared.
ILL_DEFINED = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.UndefinedMetricWarning",
    "ignore:y_pred contains classes not in y_true:UserWarning",
    "ignore:A single label was found:UserWarning",
)


LEFT_OUT_METRICS = ["f1", "precision", "recall", "balanced_accuracy"]


@st.composite
def labelled_groups(draw: st.DrawFn) -> tuple[Any, Any, Any, int]:
    """Labels (two to five ints, or strings), predictions that agree with
    them mostly, and an assignment of the examples to groups (singletons or
    fewer, larger groups); rare labels included, so that a group can hold
    every example of one."""
    n = draw(st.integers(4, 80))
    k = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.dirichlet(np.full(k, draw(st.sampled_from([0.3, 1.0, 5.0]))))
    y = rng.choice(k, size=n, p=weights)
    pred = np.where(rng.random(n) < draw(st.floats(0.3, 1.0)), y, rng.choice(k, size=n))
    if draw(st.booleans()):
        names = np.array(["ant", "bee", "cat", "dog", "eel"])
        y, pred = names[y], names[pred]
    groups = draw(st.integers(2, n))
    assignment = np.arange(n) % groups if draw(st.booleans()) else rng.permutation(n) % groups
    return y, pred, assignment, groups


@ILL_DEFINED
@settings(max_examples=150, deadline=None)
@given(data=labelled_groups(), name=st.sampled_from(LEFT_OUT_METRICS))
def test_a_metric_left_out_a_group_at_a_time_is_scikit_learns(
    data: tuple[Any, Any, Any, int], name: str
) -> None:
    """The confusion-matrix path gives, for each group, the metric of the
    other examples as scikit-learn computes it; where it declines (labels it
    does not cover, a label only one group holds) it says so with None."""
    y, pred, assignment, groups = data
    spec = KNOWN_METRICS[name]
    assert spec.leave_out is not None
    values = spec.leave_out(y, pred, None, assignment, groups)
    if values is None:
        return
    for g in range(groups):
        rest = assignment != g
        expected = spec.compute(y[rest], pred[rest], None)
        assert values[g] == pytest.approx(expected, rel=1e-9, abs=1e-12), g


@ILL_DEFINED
@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(3, 120),
    seed=st.integers(0, 2**32 - 1),
    decimals=st.sampled_from([1, 2, 12]),
    labels=st.sampled_from([(0, 1), (1, 2), ("no", "yes")]),
    groups_drawn=st.integers(2, 120),
)
def test_roc_auc_left_out_a_group_at_a_time_is_scikit_learns(
    n: int, seed: int, decimals: int, labels: tuple[Any, Any], groups_drawn: int
) -> None:
    """The Mann-Whitney path, ties (rounded scores) and groups of several
    examples included; None where a group's complement lacks a class."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 2, n)
    y = np.array(labels)[classes]
    score = np.round(rng.random(n) + 0.4 * classes, decimals)
    groups = min(n, groups_drawn)
    assignment = rng.permutation(n) % groups
    spec = KNOWN_METRICS["roc_auc"]
    assert spec.leave_out is not None
    values = spec.leave_out(y, None, score, assignment, groups)
    complements = [assignment != g for g in range(groups)]
    if values is None:
        assert any(len(np.unique(y[rest])) < 2 for rest in complements)
        return
    for g, rest in enumerate(complements):
        expected = spec.compute(y[rest], None, score[rest])
        assert values[g] == pytest.approx(expected, rel=1e-9, abs=1e-12), g


@ILL_DEFINED
@settings(max_examples=60, deadline=None)
@given(data=labelled_groups(), name=st.sampled_from(LEFT_OUT_METRICS), repeats=st.integers(1, 3))
def test_the_jackknife_is_the_same_with_or_without_the_confusion_matrix_path(
    data: tuple[Any, Any, Any, int], name: str, repeats: int
) -> None:
    y, pred, assignment, groups = data
    rng = np.random.default_rng(groups)
    preds = [pred] + [np.where(rng.random(len(y)) < 0.8, pred, y) for _ in range(repeats - 1)]
    predictions = side(y, *preds)
    spec = KNOWN_METRICS[name]
    try:
        expected = _repeat_pseudo_values(replace(spec, leave_out=None), predictions, assignment)
    except ValueError:  # scikit-learn refuses these labels (binary, no label 1)
        return
    got = _repeat_pseudo_values(spec, predictions, assignment)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_a_confusion_matrix_path_that_disagrees_with_scikit_learn_is_not_used() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 50)
    pred = np.where(rng.random(50) < 0.8, y, 1 - y)
    f1 = KNOWN_METRICS["f1"]
    assert f1.leave_out is not None
    honest = f1.leave_out
    skewed = replace(f1, leave_out=lambda *args: honest(*args) + 0.01)
    assignment = np.arange(50)
    expected = _repeat_pseudo_values(replace(f1, leave_out=None), side(y, pred), assignment)
    assert _repeat_pseudo_values(skewed, side(y, pred), assignment) == pytest.approx(expected)


# -- predictions: checks, alignment, storage ------------------------------------------------


def test_alignment_pairs_examples_by_id_and_refuses_a_changed_test_set() -> None:
    base = side([1, 0, 1], [1, 0, 0], index=["a", "b", "c"])
    shuffled = side([1, 1, 0], [1, 1, 1], index=["c", "a", "b"])
    aligned = shuffled.aligned_to(base, "the baseline")
    assert aligned.index.tolist() == ["a", "b", "c"]
    assert aligned.y_pred.tolist() == [[1, 1, 1]]
    other = side([1, 0, 1], [1, 0, 0], index=["a", "b", "d"])
    with pytest.raises(PredictionsError, match=r"the test set changed.*'c'"):
        other.aligned_to(base, "the baseline")
    relabelled = side([1, 1, 1], [1, 0, 0], index=["a", "b", "c"])
    with pytest.raises(PredictionsError, match="other y_true values"):
        relabelled.aligned_to(base, "the baseline")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (([1, 0], [1]), "y_true has 2 examples, y_pred 1"),
        (([[1, 0]], [[1, 0]]), "must be 1-d"),
        (([1, 0], [1, 0], [3, 3]), "index ids must be unique"),
        (([1, 0], [1, 0], [0.5, 1.5]), "not floats"),
        (([1, 0], [object(), object()]), "numbers, booleans or strings"),
        (([], []), "no examples"),
        (([1, 0], [1, 0], ["a", "b\x00"]), "NUL"),
    ],
)
def test_bad_predictions_are_named(args: tuple[Any, ...], problem: str) -> None:
    with pytest.raises(PredictionsError, match=problem):
        logged_entry(*args)


#: NumPy's fixed-width strings cannot end in NUL: such ids are refused (below).
text = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=8)
ids = st.one_of(
    st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20, unique=True),
    st.lists(text, min_size=1, max_size=20, unique=True),
)


@settings(deadline=None, max_examples=40)
@given(ids, st.integers(1, 3), text, st.booleans())
def test_predictions_survive_the_sidecar_and_the_wire(
    tmp_path_factory: pytest.TempPathFactory,
    index: list[Any],
    repeats: int,
    case_id: str,
    scores: bool,
) -> None:
    rng = np.random.default_rng(len(index))
    y = rng.integers(0, 3, len(index))
    preds = [rng.integers(0, 3, len(index)) for _ in range(repeats)]
    score = rng.random((len(index), 3)) if scores else None
    original = side(y, *preds, index=index, y_score=score)
    path = tmp_path_factory.mktemp("sidecar") / "exp.predictions.npz"
    assert update_sidecar(path, {case_id: original, "other[x=1]": original}, None)
    assert not update_sidecar(path, {case_id: original}, None)  # unchanged: not rewritten
    for back in (load_sidecar(path)[case_id], Predictions.from_text(original.to_text())):
        assert back.index.tolist() == list(index)
        assert back.y_true.tolist() == y.tolist()
        assert back.y_pred.tolist() == [p.tolist() for p in preds]
        assert (back.y_score is None) == (score is None)
    # a case accepted without predictions loses them; stale cases are dropped
    assert update_sidecar(path, {case_id: None}, keep={case_id})
    assert not path.exists()


def test_the_sidecar_sits_beside_the_baseline_json() -> None:
    assert sidecar_path(Path("exp/baselines/exp_001_a.json")) == Path(
        "exp/baselines/exp_001_a.predictions.npz"
    )


# -- the verdict with predictions ------------------------------------------------------------


def declaration(**spec: Any) -> Any:
    from pytest_experiments import experiment

    @experiment(**spec)
    def exp_x() -> None: ...

    return declaration_for(exp_x, "exp_x", Tolerance(0.0, False), None)


def test_one_fit_a_side_is_gated_on_the_test_set_noise() -> None:
    """n = 1 on both sides: without predictions only the tolerance (0) could
    decide, and any one example more wrong would fail. With them, a neutral
    swap passes and a real drop fails."""
    rng = np.random.default_rng(7)
    y, base, neutral = correctness_pairs(rng, 500, 0.05, 0.05)
    decl = declaration(expect={"accuracy": ">= 0.5"})

    def verdict(cur: Any) -> Any:
        metric = {"accuracy": Summary.of([float(np.mean(cur == y))])}
        old = {"accuracy": Summary.of([float(np.mean(base == y))])}
        return evaluate("c", metric, decl, old, Gate(), (side(y, base), side(y, cur)))

    swapped = verdict(neutral)
    comparison = swapped.comparisons["accuracy"]
    assert comparison.noise == "test examples" and comparison.test == "paired t"
    assert swapped.outcome == "passed"
    worse = base.copy()
    wrong = np.flatnonzero(base == y)[:40]  # 8 points of accuracy lost
    worse[wrong] = 1 - worse[wrong]
    dropped = verdict(worse)
    assert dropped.outcome == "regressed"
    assert "one-sided paired t test over test examples" in (dropped.message or "")
    assert "worsening <= " in (dropped.message or "")


def test_a_returned_metric_that_its_predictions_do_not_give_is_not_paired() -> None:
    y = np.array([0, 1, 1, 0, 1, 1])
    decl = declaration()
    metrics = {"accuracy": Summary.of([0.9])}  # the predictions give 5/6
    verdict = evaluate(
        "c",
        metrics,
        decl,
        {"accuracy": Summary.of([1.0])},
        Gate(),
        (side(y, y), side(y, np.array([0, 1, 1, 0, 1, 0]))),
    )
    assert verdict.comparisons["accuracy"].noise == "no noise estimate"
    assert any("returned 0.9 but its logged predictions give 0.833333" in n for n in verdict.notes)


def test_a_changed_test_set_is_an_error() -> None:
    y = np.array([0, 1, 1])
    verdict = evaluate(
        "c",
        {"accuracy": Summary.of([1.0])},
        declaration(),
        {"accuracy": Summary.of([1.0])},
        Gate(),
        (side(y, y), side(y, y, index=[5, 6, 7])),
    )
    assert verdict.outcome == "error"
    assert "the test set changed" in (verdict.message or "")


# -- H0 at the tolerance for samples, and the Holm plan -------------------------------


def test_the_sample_test_also_holds_h0_at_the_tolerance() -> None:
    rng = np.random.default_rng(8)
    tol, rejected = 0.02, 0
    for _ in range(300):
        base = Summary.of(rng.normal(0.85, 0.02, 8).tolist())
        cur = Summary.of(rng.normal(0.85 - tol, 0.02, 8).tolist())
        test = worse_test(base, cur, "higher", tol)
        assert test is not None
        rejected += test.p_value <= 0.05
    assert rejected / 300 <= 0.09  # the old composite: about 0.47 here


def test_a_comparison_that_cannot_fail_is_warned_about_and_left_out_of_m() -> None:
    """The digits study: repeats=5 a side, 25 gated comparisons. A permutation
    test of 5 against 5 cannot go below 1/252 = 0.004, and Holm's first step
    needs 0.05/25 = 0.002."""
    planned = [Planned(f"exp[c={i}]", "accuracy", False, 5, 5) for i in range(25)]
    m, first_step, warnings = plan_gate(planned, 0.05)
    assert smallest_p(5, 5) == pytest.approx(1 / 252)
    assert (m, len(warnings)) == (1, 25)
    assert first_step == pytest.approx(0.002)
    assert "exp[c=0]: the gate cannot fail accuracy" in warnings[0]
    assert "0.004" in warnings[0] and "0.002" in warnings[0]
    # 5 against 6: 1/C(11, 5) = 0.00216, still above; 5 against 7: 1/792
    assert "log_predictions" in warnings[0] and "raise repeats to 7" in warnings[0]
    paired = [Planned(f"exp[c={i}]", "accuracy", True, 1, None) for i in range(25)]
    m, first_step, warnings = plan_gate(paired, 0.05)
    assert (m, warnings) == (25, [])
    assert first_step == pytest.approx(0.002)
    # at session end, the same comparisons stay out of Holm's family
    results = [
        CaseResult(
            nodeid=f"f.py::exp[c={i}]",
            file="f.py",
            experiment="exp",
            case_id=f"exp[c={i}]",
            comparisons={
                "accuracy": Comparison(
                    "accuracy", 0.99, 0.94, -0.05, "higher", "0", "noise",
                    p_value=1 / 252, test="permutation", p_floor=1 / 252,
                )
            },
        )
        for i in range(25)
    ]  # fmt: skip
    assert verdicts.tested_comparisons(results, 0.05) == {}


# -- real pytest runs ---------------------------------------------------------------

DETERMINISTIC = """
    import numpy as np

    @experiment(params={"model": ["a", "b"]}, expect={"accuracy": ">= 0.5"})
    def exp_det(model, experiment_run):
        rng = np.random.default_rng(0 if model == "a" else 1)
        y = rng.integers(0, 2, 1000)
        pred = np.where(rng.random(1000) < 0.85, y, 1 - y)
        if knob("neutral", False):  # 30 examples right -> wrong, 30 wrong -> right
            right, wrong = np.flatnonzero(pred == y), np.flatnonzero(pred != y)
            pred[right[:30]] = 1 - pred[right[:30]]
            pred[wrong[:30]] = 1 - pred[wrong[:30]]
        drop = knob("drop", 0)
        if drop:
            right = np.flatnonzero(pred == y)[:drop]
            pred[right] = 1 - pred[right]
        ids = np.arange(1000) + knob("shift_ids", 0)
        experiment_run.log_predictions(y, pred, index=ids)
        return {"accuracy": float(np.mean(pred == y))}
"""


@pytest.mark.parametrize("mode", [("-p", "no:xdist"), ("-n", "2")], ids=["no-xdist", "n2"])
def test_a_deterministic_model_is_gated_with_one_fit(
    pytester: pytest.Pytester, mode: tuple[str, ...]
) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(pytester, "exp_001_det", DETERMINISTIC)
    result, cases = run_subprocess(pytester, *mode, "--exp-update-baseline", "--exp-no-tracking")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        ["baseline predictions experiments/baselines/exp_001_det.predictions.npz: written"]
    )
    sidecar = baseline_file(pytester, "exp_001_det").with_name("exp_001_det.predictions.npz")
    assert sorted(load_sidecar(sidecar)) == ["exp_det[model=a]", "exp_det[model=b]"]
    summary = json.loads(baseline_file(pytester, "exp_001_det").read_text())
    assert set(summary["exp_det[model=a]"]) == {"accuracy"}  # the JSON stays summary-only

    # A neutral change: 60 of 1,000 examples change, accuracy the same. At
    # tolerance 0 a single-number gate fails on any worse value; this passes.
    set_knobs(pytester, neutral=True, drop=3)
    result, cases = run_subprocess(pytester, *mode, "--exp-no-tracking")
    assert result.ret == 0, result.stdout.str()
    comparison = cases["exp_det[model=a]"]["comparisons"]["accuracy"]
    assert comparison["status"] in ("noise", "worse")
    assert (comparison["test"], comparison["noise"]) == ("paired t", "test examples")

    set_knobs(pytester, drop=50)  # 5 points of accuracy lost, one fit a side
    result, cases = run_subprocess(pytester, *mode, "--exp-no-tracking")
    assert result.ret == 1
    assert set(outcomes(cases).values()) == {"regressed"}
    assert "one-sided paired t test over test examples" in result.stdout.str()

    set_knobs(pytester, shift_ids=5)
    result, cases = run_subprocess(pytester, *mode, "--exp-no-tracking")
    assert set(outcomes(cases).values()) == {"error"}
    assert "the test set changed" in cases["exp_det[model=a]"]["message"]


def test_predictions_must_be_logged_in_every_repeat(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(
        pytester,
        "exp_001_some",
        """
        @experiment(repeats=3)
        def exp_some(experiment_run):
            if experiment_run.repeat != 1:
                experiment_run.log_predictions([0, 1], [0, 1])
            return {"accuracy": 1.0}
        """,
    )
    _, cases = run(pytester, "-p", "no:xdist")
    assert outcomes(cases) == {"exp_some": "error"}
    assert "log_predictions was called in repeat 1, 3 of 3" in cases["exp_some"]["message"]


def shard_result(name: str, p: float, status: str) -> CaseResult:
    comparison = Comparison(
        "accuracy", 0.85, 0.80, -0.05, "higher", "0.01", status,  # type: ignore[arg-type]
        p_value=p, test="paired t", allowed=0.01, noise="test examples",
    )  # fmt: skip
    regressed = status == "regressed"
    return CaseResult(
        nodeid=f"f.py::exp[c={name}]",
        file="f.py",
        experiment="exp",
        case_id=f"exp[c={name}]",
        comparisons={"accuracy": comparison},
        has_baseline=True,
        outcome="regressed" if regressed else "passed",
        message="accuracy regressed: as the shard saw it" if regressed else None,
    )


def test_a_merge_applies_holm_over_every_shards_p_values() -> None:
    """Shard 1 ran one comparison and called p = 0.02 a regression (alpha / 1);
    over the study's three comparisons Holm needs 0.05 / 3 first: the group
    passes, as one session of the whole study would have. The other way: two
    shards each left p = 0.02 within noise at their m = 3, but over the group
    Holm rejects both (0.02 <= 0.05 / 2 after 0.001 <= 0.05 / 3)."""
    results = [
        shard_result("a", 0.02, "regressed"),
        shard_result("b", 0.3, "noise"),
        shard_result("c", 0.4, "noise"),
    ]
    changed = verdicts.rejudge(results, 0.05)
    assert [r.case_id for r in changed] == ["exp[c=a]"]
    assert results[0].outcome == "passed" and results[0].message is None
    assert results[0].comparisons["accuracy"].status == "noise"
    results = [
        shard_result("a", 0.001, "regressed"),
        shard_result("b", 0.02, "noise"),
        shard_result("c", 0.02, "noise"),
    ]
    changed = verdicts.rejudge(results, 0.05)
    assert sorted(r.case_id for r in changed) == ["exp[c=b]", "exp[c=c]"]
    assert all(r.outcome == "regressed" for r in results)
    assert "Holm-corrected over the group" in (results[1].message or "")
    assert results[0].message is not None and "Holm" not in results[0].message


def test_the_digits_study_is_told_its_gate_cannot_fail(pytester: pytest.Pytester) -> None:
    """A new user's study: 25 cases at repeats=5, each gating accuracy. The
    label-noise regression (every repeat lower, p = 0.004) passed as "within
    noise" in silence; now collection warns, naming case, metric and the fix
    (at other seeds than the baseline's: at its seeds the samples pair)."""
    pytester.makeini("[pytest]\n")
    write_exp(
        pytester,
        "exp_001_digits",
        """
        import random

        @experiment(params={"c": list(range(25))}, tolerance={"accuracy": 0.0}, repeats=5)
        def exp_svc(c, seed):
            noise = random.Random(seed).gauss(0, 0.002)
            return {"accuracy": 0.99 - knob("drop", 0.0) + noise}
        """,
    )
    result, _ = run(pytester, "-p", "no:xdist", "--exp-update-baseline")
    assert result.ret == 0
    assert "cannot fail" not in result.stdout.str()  # no warning while accepting
    set_knobs(pytester, drop=0.05)
    # At other seeds than the baseline's the samples are tested unpaired.
    result, cases = run(pytester, "-p", "no:xdist", "--exp-seed", "7")
    result.stdout.fnmatch_lines(
        [
            "*exp_svc?c=0?: the gate cannot fail accuracy: with 5 baseline and 5 current "
            "samples the smallest p-value of its permutation test is 0.004*",
        ]
    )
    assert result.stdout.str().count("the gate cannot fail accuracy") == 25
    assert {c["comparisons"]["accuracy"]["status"] for c in cases.values()} == {"noise"}
    # At the baseline's seeds they pair by seed: no floor, no warning, and
    # every seed lost the same 0.05 (no spread: the tolerance decides).
    result, cases = run(pytester, "-p", "no:xdist")
    assert "cannot fail" not in result.stdout.str()
    assert {c["outcome"] for c in cases.values()} == {"regressed"}
    noise = {c["comparisons"]["accuracy"]["noise"] for c in cases.values()}
    assert noise == {"constant differences over 5 paired seeds"}


@pytest.mark.slow
def test_mlflow_baselines_read_predictions_back_and_count_a_computation_once(
    pytester: pytest.Pytester, template: Path
) -> None:
    """Two sessions of the same computation (same code, params, seeds, data:
    one cache key) are one baseline run, not two independent samples; their
    predictions come back from the run's artifact for the paired test."""
    pytester.makeini("[pytest]\naddopts = --import-mode=importlib\n")
    copy_store(template, pytester.path / "mlflow.db")
    write_exp(pytester, "exp_001_det", DETERMINISTIC)
    for _ in range(2):
        result, _ = run_subprocess(pytester, "-p", "no:xdist")
        assert result.ret == 0, result.stdout.str()
    set_knobs(pytester, drop=50)
    result, cases = run_subprocess(pytester, "-n", "2", "--exp-baseline", "mlflow")
    assert result.ret == 1
    comparison = cases["exp_det[model=a]"]["comparisons"]["accuracy"]
    assert (comparison["test"], comparison["noise"]) == ("paired t", "test examples")
    assert comparison["baseline_n"] == 1  # the second identical run counted once
    assert set(outcomes(cases).values()) == {"regressed"}


@pytest.mark.slow
def test_shards_merged_fail_exactly_when_one_session_would(
    pytester: pytest.Pytester, template: Path
) -> None:
    """Three gated comparisons, run as two shards of one session group. The
    first shard runs one case alone: p = 0.021 is below alpha / 1, so the
    shard fails. One session of the whole study has m = 3, and Holm needs
    0.05 / 3 first: it passes, and so does the merge of the two shards."""
    pytester.makeini("[pytest]\naddopts = --import-mode=importlib\n")
    copy_store(template, pytester.path / "mlflow.db")
    write_exp(
        pytester,
        "exp_001_folds",
        """
        @experiment(params={"k": ["a", "b", "c"]}, tolerance=0.01)
        def exp_folds(k):
            ten = [0.85, 0.87, 0.84, 0.86, 0.88, 0.83, 0.89, 0.855, 0.865, 0.845]
            drop = knob("drop", 0.0) if k == "a" else 0.0
            return {"acc": [v - drop for v in ten]}
        """,
    )
    result, _ = run(pytester, "-p", "no:xdist", "--exp-update-baseline")
    assert result.ret == 0
    set_knobs(pytester, drop=0.028)  # a: one-sided permutation p = 0.021 at tolerance 0.01
    group = ("--exp-session-group", "G-1")
    node = "experiments/exp_001_folds.py::exp_folds[k={}]".format
    shard1, cases = run_subprocess(pytester, "-p", "no:xdist", *group, node("a"))
    assert shard1.ret == 1 and outcomes(cases) == {"exp_folds[k=a]": "regressed"}
    shard2, _ = run_subprocess(pytester, "-p", "no:xdist", *group, node("b"), node("c"))
    assert shard2.ret == 0
    whole, cases = run_subprocess(pytester, "-p", "no:xdist")
    assert whole.ret == 0 and set(outcomes(cases).values()) == {"passed"}
    merged, cases = run_subprocess(pytester, "--exp-merge", "G-1")
    assert merged.ret == 0, merged.stdout.str()
    assert set(outcomes(cases).values()) == {"passed"}
    assert cases["exp_folds[k=a]"]["comparisons"]["acc"]["status"] == "noise"


def test_seed_noise_every_example_shares_widens_the_test() -> None:
    """Each repeat of a model is luckier or unluckier as a whole (a seed that
    helps on every example). Averaging 3 repeats a side does not remove that,
    and a test of the examples' noise alone would call it a regression far
    more often than alpha; the gate adds it from the spread of the repeats.
    Both sides come from the same distribution: H0 holds. 300 sessions."""
    rng = np.random.default_rng(11)
    n, repeats, rejected, rows_only = 300, 3, 0, 0
    for _ in range(300):
        truth = rng.uniform(0.6, 0.95, n)  # each example's chance of being right
        y = np.ones(n, dtype=int)

        def fits(chance: Any) -> list[Any]:
            luck = rng.normal(0, 0.04, repeats)  # shared by every example of a fit
            return [(rng.random(n) < np.clip(chance + u, 0, 1)).astype(int) for u in luck]

        base, cur = side(y, *fits(truth)), side(y, *fits(truth))
        test = paired_test(ACCURACY, base, cur, "higher", 0.0)
        assert test.p_value is not None
        rejected += test.p_value <= 0.05
        d = (base.y_pred == 1).mean(axis=0) - (cur.y_pred == 1).mean(axis=0)
        rows_only += scipy_stats.ttest_1samp(d, 0.0, alternative="greater").pvalue <= 0.05
    assert rejected / 300 <= 0.085, rejected
    assert rows_only / 300 >= 0.12, rows_only  # what the examples' noise alone gives


def test_an_unreadable_sidecar_is_an_error_that_says_how_to_fix_it_and_an_update_fixes_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    write_exp(pytester, "exp_001_det", DETERMINISTIC)
    result, _ = run(pytester, "-p", "no:xdist", "--exp-update-baseline")
    assert result.ret == 0
    sidecar = baseline_file(pytester, "exp_001_det").with_name("exp_001_det.predictions.npz")
    sidecar.write_bytes(b"not a zip")
    result, cases = run(pytester, "-p", "no:xdist")
    assert set(outcomes(cases).values()) == {"error"}
    message = cases["exp_det[model=a]"]["message"]
    assert "exp_001_det.predictions.npz" in message and "--exp-update-baseline" in message
    result, cases = run(pytester, "-p", "no:xdist", "--exp-update-baseline")
    assert result.ret == 0 and set(outcomes(cases).values()) == {"passed"}
    assert sorted(load_sidecar(sidecar)) == ["exp_det[model=a]", "exp_det[model=b]"]


def test_the_same_predictions_again_make_no_test_whatever_the_repeats_spread() -> None:
    """The committed study at the baseline's own seed: every repeat's
    predictions are the baseline's. The repeats differ from each other, but
    nothing moved between the sides: no test (it showed a bound of 2.4e-16)."""
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, 61)
    fits = []
    for wrong in (0, 6, 12):  # whole-fit luck: each fit wrong on a longer prefix
        pred = y.copy()
        pred[:wrong] = 1 - pred[:wrong]
        fits.append(pred)
    for metric in ("accuracy", "f1"):
        test = paired_test(KNOWN_METRICS[metric], side(y, *fits), side(y, *fits), "higher", 0.02)
        assert (test.p_value, test.bound, test.worsening) == (None, None, 0.0), metric
