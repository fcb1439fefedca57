"""The paired, prediction-level test of the gate.

With predictions logged on both sides, the current model and the baseline's
are compared on the same test examples. The quantity tested is the
*worsening* of a metric, ``W = M(baseline) - M(current)`` for a metric where
higher is better (the other way round otherwise), each side's metric the mean
over its repeats. The hypotheses are those of a non-inferiority test::

    H0: W <= tolerance        H1: W > tolerance

The test is a one-sample Student t-test (SciPy's ``ttest_1samp``) of the
jackknife pseudo-values of W over the test examples against the tolerance.
For a metric that is a mean over examples (accuracy, squared or absolute
error) the pseudo-values are exactly the per-example worsenings, so this is
the paired t-test of per-example differences; for the others (F1, AUC,
balanced accuracy, R², or a function the experiment names) it is the
jackknife's linearisation, over examples when there are at most
:data:`JACKKNIFE_GROUPS` of them and over that many fixed groups otherwise.

Why this test (benchmarks/gate.py measures it; docs/gate.md has the
figures): it sees the noise of the finite test set, with repeats also the
seed's (each example's prediction is averaged over the repeats before the
difference is taken); its smallest p-value is not bounded away from zero the
way a permutation test over a few repeats is; and against a true worsening
exactly at the tolerance it rejected at close to the nominal rate in the
simulations (0.013-0.052 at alpha 0.05; 0.000-0.0021 at 0.05/30), where
the exact McNemar test was conservative (0.016 at 61 examples) and Tango's
score test liberal at a positive tolerance (up to 0.063).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .predictions import Predictions, PredictionsError

#: Most jackknife pseudo-values per comparison: beyond this many examples
#: they are formed over this many fixed groups of examples (the cost of a
#: metric that is not a mean over examples stays bounded).
JACKKNIFE_GROUPS = 200
#: Confidence of the one-sided bound on the worsening shown in reports.
BOUND_LEVEL = 0.95
#: Power at which the report states the smallest worsening the gate catches.
POWER = 0.80
#: Differences below this are float noise, not a change of prediction.
FLOAT_NOISE = 1e-12
#: Relative difference allowed between a returned metric and the same metric
#: recomputed from the logged predictions.
CONSISTENCY = 1e-6

TEST_NAME = "paired t"


@dataclass(frozen=True)
class MetricSpec:
    """How to recompute a metric from predictions."""

    name: str
    #: ``function(y_true, y_pred, y_score) -> float``.
    compute: Callable[[Any, Any, Any], float]
    #: Whether it needs ``y_score`` (roc_auc, log_loss).
    needs_score: bool = False
    #: ``per_example(y_true, y_pred) -> array`` whose mean is the metric, when
    #: the metric is a mean over examples (skips the jackknife's refits).
    per_example: Callable[[Any, Any], Any] | None = None
    #: ``leave_out(y_true, y_pred, y_score, assignment, groups) -> array |
    #: None``: the metric with each group of examples left out, at once (None:
    #: one scikit-learn call per group). For metrics of the confusion matrix
    #: and for ROC AUC.
    leave_out: Callable[[Any, Any, Any, Any, int], Any] | None = None


def _sk(name: str) -> Callable[..., float]:
    from sklearn import metrics

    return getattr(metrics, name)  # type: ignore[no-any-return]


def _classification(name: str) -> Callable[[Any, Any, Any], float]:
    def compute(y_true: Any, y_pred: Any, y_score: Any) -> float:
        function = _sk(name)
        if len(_labels(y_true, y_pred)) > 2:
            return float(function(y_true, y_pred, average="macro"))
        return float(function(y_true, y_pred))

    return compute


def _roc_auc(y_true: Any, y_pred: Any, y_score: Any) -> float:
    if getattr(y_score, "ndim", 1) == 2:
        return float(_sk("roc_auc_score")(y_true, y_score, multi_class="ovr"))
    return float(_sk("roc_auc_score")(y_true, y_score))


def _log_loss(y_true: Any, y_pred: Any, y_score: Any) -> float:
    return float(_sk("log_loss")(y_true, y_score))


def _rmse(y_true: Any, y_pred: Any, y_score: Any) -> float:
    return math.sqrt(float(_sk("mean_squared_error")(y_true, y_pred)))


def _plain(name: str) -> Callable[[Any, Any, Any], float]:
    return lambda y_true, y_pred, y_score: float(_sk(name)(y_true, y_pred))


def _labels(y_true: Any, y_pred: Any) -> Any:
    """The labels scikit-learn scores over: those of both, sorted."""
    import numpy as np

    return np.unique(np.concatenate([np.unique(y_true), np.unique(y_pred)]))


def _left_out_confusion(
    y_true: Any, y_pred: Any, assignment: Any, groups: int, labels: Any
) -> Any | None:
    """The confusion matrix of the examples outside each group, one per group
    (shape groups x labels x labels, over :func:`_labels`' ``labels``), or
    None unless every label of the whole set occurs outside every group:
    then scikit-learn, which takes the labels from what it is given, would
    score a group's complement over fewer labels."""
    import numpy as np

    true = np.searchsorted(labels, y_true)
    pred = np.searchsorted(labels, y_pred)
    k = len(labels)
    inside = np.zeros((groups, k, k))
    np.add.at(inside, (assignment, true, pred), 1.0)
    outside = inside.sum(axis=0) - inside
    present = outside.sum(axis=2) + outside.sum(axis=1)
    if not (present > 0).all():
        return None
    return outside


def _ratio(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's
    ``zero_division`` default, less its warning)."""
    import numpy as np

    out = np.zeros_like(numerator, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _class_scores(name: str, outside: Any) -> Any:
    """Per group and label: precision, recall or F1 from the confusion matrices."""
    import numpy as np

    tp = np.diagonal(outside, axis1=1, axis2=2)
    predicted = outside.sum(axis=1)  # column sums: tp + fp
    actual = outside.sum(axis=2)  # row sums: tp + fn
    if name == "precision_score":
        return _ratio(tp, predicted)
    if name == "recall_score":
        return _ratio(tp, actual)
    return _ratio(2 * tp, predicted + actual)  # f1: 2tp / (2tp + fp + fn)


def _classification_left_out(name: str) -> Callable[[Any, Any, Any, Any, int], Any]:
    """:func:`_classification`'s metric with each group left out: binary
    (labels 0 and 1: the score of label 1) or the macro average over three
    or more labels, as scikit-learn defines it; None otherwise."""

    def leave_out(
        y_true: Any, y_pred: Any, y_score: Any, assignment: Any, groups: int
    ) -> Any | None:
        labels = _labels(y_true, y_pred)
        binary = len(labels) == 2 and labels.dtype.kind in "iub" and list(labels) == [0, 1]
        if not (binary or len(labels) > 2):
            return None
        outside = _left_out_confusion(y_true, y_pred, assignment, groups, labels)
        if outside is None:
            return None
        scores = _class_scores(name, outside)
        return scores[:, 1] if binary else scores.mean(axis=1)

    return leave_out


def _balanced_accuracy_left_out(
    y_true: Any, y_pred: Any, y_score: Any, assignment: Any, groups: int
) -> Any | None:
    """Balanced accuracy with each group left out: the mean recall over the
    labels that occur in the group's complement's ``y_true``."""
    import numpy as np

    outside = _left_out_confusion(y_true, y_pred, assignment, groups, _labels(y_true, y_pred))
    if outside is None:
        return None
    actual = outside.sum(axis=2)
    recall = _ratio(np.diagonal(outside, axis1=1, axis2=2), actual)
    counted = actual > 0
    return (recall * counted).sum(axis=1) / counted.sum(axis=1)


def _roc_auc_left_out(
    y_true: Any, y_pred: Any, y_score: Any, assignment: Any, groups: int
) -> Any | None:
    """Binary ROC AUC with each group left out, from the Mann-Whitney count
    it equals (ties count one half): the pairs a group's examples take part
    in are taken out of the whole set's count, and the pairs inside the
    group, counted twice that way, put back. None for scores of several
    classes, labels other than two, or a group whose complement lacks a
    class (scikit-learn refuses those)."""
    import numpy as np

    if y_score is None or getattr(y_score, "ndim", 1) != 1:
        return None
    labels = np.unique(y_true)
    if len(labels) != 2:
        return None
    positive = y_true == labels[1]  # scikit-learn scores the greater label
    score = np.asarray(y_score, dtype=float)
    pos, neg = np.sort(score[positive]), np.sort(score[~positive])
    # Per positive example: the negatives it outranks (ties one half); per
    # negative example: the positives that outrank it.
    below = np.searchsorted(neg, score, "left") + np.searchsorted(neg, score, "right")
    above = (
        2 * len(pos) - np.searchsorted(pos, score, "left") - np.searchsorted(pos, score, "right")
    )
    taking_part = np.where(positive, below, above) / 2.0
    total = below[positive].sum() / 2.0
    n_pos = np.bincount(assignment, weights=positive, minlength=groups)
    n_neg = np.bincount(assignment, weights=~positive, minlength=groups)
    left_pos, left_neg = len(pos) - n_pos, len(neg) - n_neg
    if not ((left_pos > 0) & (left_neg > 0)).all():
        return None
    inside = np.zeros(groups)
    members = np.argsort(assignment, kind="stable")
    bounds = np.searchsorted(assignment[members], np.arange(groups + 1))
    for g in np.flatnonzero((n_pos > 0) & (n_neg > 0)):
        rows = members[bounds[g] : bounds[g + 1]]
        p, q = score[rows][positive[rows]], score[rows][~positive[rows]]
        inside[g] = (p[:, None] > q[None, :]).sum() + 0.5 * (p[:, None] == q[None, :]).sum()
    taken = np.bincount(assignment, weights=taking_part, minlength=groups)
    return (total - taken + inside) / (left_pos * left_neg)


def _correct(y_true: Any, y_pred: Any) -> Any:
    return (y_pred == y_true).astype(float)


def _squared(y_true: Any, y_pred: Any) -> Any:
    return (y_pred.astype(float) - y_true.astype(float)) ** 2


def _absolute(y_true: Any, y_pred: Any) -> Any:
    import numpy as np

    return np.abs(y_pred.astype(float) - y_true.astype(float))


#: Metrics recomputed by name (scikit-learn's definitions).
KNOWN_METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", _plain("accuracy_score"), per_example=_correct),
        MetricSpec(
            "balanced_accuracy",
            _plain("balanced_accuracy_score"),
            leave_out=_balanced_accuracy_left_out,
        ),
        MetricSpec(
            "f1", _classification("f1_score"), leave_out=_classification_left_out("f1_score")
        ),
        MetricSpec(
            "precision",
            _classification("precision_score"),
            leave_out=_classification_left_out("precision_score"),
        ),
        MetricSpec(
            "recall",
            _classification("recall_score"),
            leave_out=_classification_left_out("recall_score"),
        ),
        MetricSpec("roc_auc", _roc_auc, needs_score=True, leave_out=_roc_auc_left_out),
        MetricSpec("log_loss", _log_loss, needs_score=True),
        MetricSpec("mse", _plain("mean_squared_error"), per_example=_squared),
        MetricSpec("rmse", _rmse),
        MetricSpec("mae", _plain("mean_absolute_error"), per_example=_absolute),
        MetricSpec("r2", _plain("r2_score")),
    )
}


def user_metric(name: str, function: Callable[..., Any]) -> MetricSpec:
    """A ``metric_functions=`` entry: ``function(y_true, y_pred)``, or with a
    third parameter (``y_score``) the scores too."""
    try:
        parameters = inspect.signature(function).parameters.values()
        positional = [
            p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        takes_score = len(positional) >= 3 or any(
            p.kind is p.VAR_POSITIONAL or p.name == "y_score" for p in parameters
        )
    except (TypeError, ValueError):  # a builtin without a signature
        takes_score = False
    if takes_score:
        return MetricSpec(name, lambda t, p, s: float(function(t, p, s)), needs_score=True)
    return MetricSpec(name, lambda t, p, s: float(function(t, p)))


def metric_spec(name: str, functions: Mapping[str, Callable[..., Any]]) -> MetricSpec | None:
    """How to recompute ``name``: the experiment's own function first, else
    scikit-learn's by name; None when the plugin cannot recompute it."""
    if name in functions:
        return user_metric(name, functions[name])
    return KNOWN_METRICS.get(name)


@dataclass(frozen=True)
class PairedTest:
    """The paired test of one metric."""

    #: Observed worsening (positive: current is worse), each side the mean
    #: over its repeats of the metric recomputed from its predictions.
    worsening: float
    #: One-sided p-value of H0 "worsening <= tolerance" (None: nothing varied,
    #: no test was made).
    p_value: float | None
    #: One-sided upper :data:`BOUND_LEVEL` confidence bound on the worsening.
    bound: float | None
    #: Standard error of the worsening, and its degrees of freedom.
    se: float
    df: float
    #: Test examples compared.
    examples: int
    test: str = TEST_NAME

    def detectable(self, tolerance: float, threshold: float) -> float | None:
        """The true worsening this test catches with :data:`POWER` probability
        at one-sided level ``threshold`` (same standard error assumed)."""
        if not (self.se > 0 and math.isfinite(self.se)) or self.df < 1:
            return None
        from scipy import stats

        z = float(stats.t.isf(threshold, self.df)) + float(stats.t.ppf(POWER, self.df))
        return tolerance + z * self.se


def _metric(spec: MetricSpec, y_true: Any, pred: Any, score: Any) -> float:
    if spec.needs_score and score is None:
        raise PredictionsError(f"metric {spec.name!r} needs y_score in log_predictions")
    return float(spec.compute(y_true, pred, score))


def side_value(spec: MetricSpec, side: Predictions, rows: Any = None) -> float:
    """The metric on ``side`` (the mean over its repeats), on ``rows`` only if given."""
    import numpy as np

    values = []
    for r in range(side.repeats):
        pred = side.y_pred[r]
        score = None if side.y_score is None else side.y_score[r]
        true = side.y_true
        if rows is not None:
            true, pred = true[rows], pred[rows]
            score = None if score is None else score[rows]
        values.append(_metric(spec, true, pred, score))
    return float(np.mean(values))


def _repeat_pseudo_values(spec: MetricSpec, side: Predictions, assignment: Any) -> Any:
    """The jackknife pseudo-values of each repeat's metric, one row per
    repeat and one column per group of examples (per example for a metric
    that is a mean over examples: then they are the examples' own values)."""
    import numpy as np

    if spec.per_example is not None:
        return np.array([spec.per_example(side.y_true, p) for p in side.y_pred], dtype=float)
    groups = int(assignment.max()) + 1
    out = np.empty((side.repeats, groups))
    for r in range(side.repeats):
        one = Predictions(
            index=side.index,
            y_true=side.y_true,
            y_pred=side.y_pred[r : r + 1],
            y_score=None if side.y_score is None else side.y_score[r : r + 1],
        )
        full = side_value(spec, one)
        left_out = _left_out_values(spec, one, assignment, groups)
        if left_out is None:
            left_out = [side_value(spec, one, assignment != g) for g in range(groups)]
        out[r] = groups * full - (groups - 1) * np.asarray(left_out, dtype=float)
    return out


#: Groups whose left-out value is checked against scikit-learn's own before
#: :attr:`MetricSpec.leave_out`'s values are used (with the whole set).
_CHECKED_GROUPS = 3


def _left_out_values(
    spec: MetricSpec, one: Predictions, assignment: Any, groups: int
) -> Any | None:
    """The metric with each group left out, through ``spec.leave_out`` (one
    pass over a confusion matrix instead of a scikit-learn call per group),
    or None: no such path, it declined these labels, or it disagreed with
    scikit-learn on one of a few groups (then the
    per-group calls decide, so a definition that moves in scikit-learn is
    never silently replaced)."""
    import numpy as np

    if spec.leave_out is None:
        return None
    score = None if one.y_score is None else one.y_score[0]
    values = spec.leave_out(one.y_true, one.y_pred[0], score, assignment, groups)
    if values is None:
        return None
    for g in sorted({0, groups // 2, groups - 1})[:_CHECKED_GROUPS]:
        expected = side_value(spec, one, assignment != g)
        if not math.isclose(float(values[g]), expected, rel_tol=1e-9, abs_tol=1e-12):
            return None
    return np.asarray(values, dtype=float)


def _seed_variance(pseudo: Any) -> float:
    """The part of a side's seed-to-seed variance that every example shares
    (the whole model got luckier or unluckier), per repeat: the variance of
    the repeats' metrics less what the examples' own seed noise explains.
    Zero with a single repeat (nothing to estimate it from)."""
    import numpy as np

    repeats, groups = pseudo.shape
    if repeats < 2:
        return 0.0
    between = float(np.var(pseudo.mean(axis=1), ddof=1))
    within = float(np.mean(np.var(pseudo, axis=0, ddof=1)))
    return float(max(0.0, between - within / groups))


def paired_test(
    spec: MetricSpec,
    baseline: Predictions,
    current: Predictions,
    direction: str,
    tolerance: float,
) -> PairedTest:
    """Test H0 "worsening <= tolerance" on the same test examples.

    ``current`` must already be aligned to ``baseline``
    (:meth:`Predictions.aligned_to`). The worsening's variance has two parts:
    the examples' (the variance of the per-example worsening, each averaged
    over repeats, over the number of examples) and, with repeats, the part of
    each side's seed noise that all examples share (see
    :func:`_seed_variance`), over its repeats; degrees of freedom by
    Welch-Satterthwaite. Without repeats the second part is zero and this is
    SciPy's one-sample t-test. Raises PredictionsError when the metric cannot
    be computed on these predictions."""
    import numpy as np
    from scipy import stats

    sign = 1.0 if direction == "higher" else -1.0
    n = baseline.rows
    groups = min(n, JACKKNIFE_GROUPS)
    if groups == n:
        assignment = np.arange(n)
    else:  # fixed groups, the same for the same number of examples
        assignment = np.random.default_rng(0).permutation(n) % groups
    try:
        base = _repeat_pseudo_values(spec, baseline, assignment)
        cur = _repeat_pseudo_values(spec, current, assignment)
    except PredictionsError:
        raise
    except Exception as exc:  # the metric refused these predictions (one class left...)
        raise PredictionsError(
            f"metric {spec.name!r} could not be recomputed from the predictions: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if spec.per_example is not None:
        worsening = sign * float(base.mean() - cur.mean())
    else:
        worsening = sign * (side_value(spec, baseline) - side_value(spec, current))
    pseudo = sign * (base.mean(axis=0) - cur.mean(axis=0))
    pseudo[np.abs(pseudo) < FLOAT_NOISE] = 0.0  # float noise of equal predictions
    k = len(pseudo)
    if not pseudo.any():
        # Every example's prediction, averaged over the repeats, is the
        # baseline's: nothing moved, there is nothing to test.
        return PairedTest(0.0, None, None, 0.0, k - 1, n)
    parts = [
        (float(np.var(pseudo, ddof=1)) / k if k > 1 else 0.0, k - 1),
        (_seed_variance(base) / baseline.repeats, baseline.repeats - 1),
        (_seed_variance(cur) / current.repeats, current.repeats - 1),
    ]
    variance = sum(v for v, _ in parts)
    se = math.sqrt(variance)
    if not (se > 0 and math.isfinite(se)):
        # Every example moved alike (identical predictions: nothing moved).
        return PairedTest(worsening, None, None, 0.0, k - 1, n)
    df = variance**2 / sum(v**2 / d for v, d in parts if v > 0 and d > 0)
    if parts[1][0] == parts[2][0] == 0.0:  # the plain one-sample t-test
        p = float(stats.ttest_1samp(pseudo, tolerance, alternative="greater").pvalue)
        worsening_mean = float(pseudo.mean())
    else:
        worsening_mean = float(pseudo.mean())
        p = float(stats.t.sf((worsening_mean - tolerance) / se, df))
    bound = worsening_mean + float(stats.t.ppf(BOUND_LEVEL, df)) * se
    return PairedTest(worsening, p, bound, se, df, n)


def consistency_problem(
    metric: str, returned: float, spec: MetricSpec, current: Predictions
) -> str | None:
    """A note when the metric the experiment returned is not the one its
    logged predictions give (the paired test would test something else)."""
    try:
        recomputed = side_value(spec, current)
    except Exception as exc:
        return f"{metric}: not recomputed from the logged predictions ({exc})"
    if math.isclose(recomputed, returned, rel_tol=CONSISTENCY, abs_tol=CONSISTENCY):
        return None
    return (
        f"{metric}: the experiment returned {returned:.6g} but its logged predictions "
        f"give {recomputed:.6g}; the paired test was not used for it (return the metric "
        "computed on the predictions you log, or name your own in metric_functions=)"
    )
