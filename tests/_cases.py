"""Case results for the renderers' tests, and a check of what a rendered
summary shows (imported by test_reporting and test_terminal).

``case`` builds one ``CaseResult`` from defaults; ``comparison`` one baseline
comparison. ``make_results`` is a small session with hostile params, NaN, a
regression and an error whose message holds a code fence (``FENCE_MESSAGE``);
``heart_like_results`` the heart study's random forest, unchanged on its
baseline or with one accuracy regressed. ``assert_numbers_uncut`` checks that
every metric value and delta of some results appears whole in rendered lines
(``shows_value``: a number that reads as the value, never cut short).
"""

from __future__ import annotations

import itertools
import math
import re
from decimal import Decimal, InvalidOperation

from pytest_experiments.results import CaseResult, Comparison, Direction, Status


def comparison(
    metric: str, baseline: float, current: float, direction: Direction, status: Status
) -> Comparison:
    return Comparison(
        metric=metric,
        baseline=baseline,
        current=current,
        delta=current - baseline,
        direction=direction,
        tolerance="0.01",
        status=status,
    )


DIRS: dict[str, Direction] = {"accuracy": "higher", "log_loss": "lower"}
FENCE_MESSAGE = "expected | got\n```\nboom\n`````\nend | ok"


def make_results() -> list[CaseResult]:
    rf_file = "experiments/exp_rf.py"
    lr_file = "experiments/exp_lr.py"
    return [
        CaseResult(
            nodeid=f"{rf_file}::exp_rf[a|b]",
            file=rf_file,
            experiment="exp_rf",
            case_id="exp_rf[a|b]",
            params={"n_estimators": 100, "criterion": "a|b"},
            metrics={"accuracy": 0.85, "log_loss": 0.40},
            outcome="passed",
            duration=1.234,
            directions=dict(DIRS),
            comparisons={
                "accuracy": comparison("accuracy", 0.83, 0.85, "higher", "better"),
                # log_loss went up: a positive delta that is worse.
                "log_loss": comparison("log_loss", 0.39, 0.40, "lower", "worse"),
            },
            has_baseline=True,
            expect={"accuracy": ">= 0.8"},
            run_id="0123456789abcdef0123456789abcdef",
            run_url="http://127.0.0.1:5000/#/experiments/1/runs/0123456789abcdef",
            doc="Random forest on the heart data.\n\n    Second paragraph.",
        ),
        CaseResult(
            nodeid=f"{rf_file}::exp_rf[html]",
            file=rf_file,
            experiment="exp_rf",
            case_id="exp_rf[html]",
            params={"n_estimators": 200, "criterion": "<b>x</b>"},
            metrics={"accuracy": 0.80, "log_loss": 0.30},
            outcome="regressed",
            message="accuracy 0.8 < baseline 0.83 - 0.01",
            duration=2.0,
            directions=dict(DIRS),
            comparisons={
                "accuracy": comparison("accuracy", 0.83, 0.80, "higher", "regressed"),
                # log_loss went down: a negative delta that is better.
                "log_loss": comparison("log_loss", 0.35, 0.30, "lower", "better"),
            },
            has_baseline=True,
            run_id="fedcba9876543210",
        ),
        CaseResult(
            nodeid=f"{rf_file}::exp_rf[lines]",
            file=rf_file,
            experiment="exp_rf",
            case_id="exp_rf[lines]",
            params={
                "n_estimators": 300,
                "criterion": "line1\nline2",
                "extra": "`code`",
            },
            metrics={"accuracy": 0.85, "log_loss": math.nan},
            outcome="new",
            duration=0.5,
            directions=dict(DIRS),
            has_baseline=False,
            run_id="abc",
            run_url="javascript:alert(1)",
        ),
        CaseResult(
            nodeid=f"{lr_file}::exp_lr[C=1]",
            file=lr_file,
            experiment="exp_lr",
            case_id="exp_lr[C=1]",
            params={"C": 1},
            metrics={"accuracy": 0.90, "log_loss": 0.25},
            outcome="passed",
            duration=0.25,
            directions=dict(DIRS),
            comparisons={
                "accuracy": comparison("accuracy", 0.90, 0.90, "higher", "same"),
            },
            has_baseline=True,
            doc="Logistic regression.",
        ),
        CaseResult(
            nodeid=f"{lr_file}::exp_lr[C=100]",
            file=lr_file,
            experiment="exp_lr",
            case_id="exp_lr[C=100]",
            params={"C": 100},
            metrics={},
            outcome="error",
            message=FENCE_MESSAGE,
            duration=0.01,
            has_baseline=True,
        ),
    ]


def case(**kwargs: object) -> CaseResult:
    base: dict[str, object] = {
        "nodeid": "e.py::exp[x]",
        "file": "e.py",
        "experiment": "exp",
        "case_id": "exp[x]",
    }
    base.update(kwargs)
    return CaseResult(**base)  # type: ignore[arg-type]


def heart_like_results(moved: bool) -> list[CaseResult]:
    results = []
    for n, acc in ((50, 0.8525), (100, 0.8361), (500, 0.8689)):
        comparisons = {
            m: comparison(m, 0.8, 0.8, "higher", "same") for m in ("accuracy", "f1", "roc_auc")
        }
        if moved and n == 100:
            comparisons["accuracy"] = comparison("accuracy", 0.87, acc, "higher", "regressed")
        results.append(
            case(
                nodeid=f"experiments/exp_002_random_forest.py::exp_random_forest[n_estimators={n}]",
                file="experiments/exp_002_random_forest.py",
                experiment="exp_random_forest",
                case_id=f"exp_random_forest[n_estimators={n}]",
                params={"n_estimators": n},
                metrics={"accuracy": acc, "f1": 0.82, "roc_auc": 0.93},
                comparisons=comparisons,
                has_baseline=True,
                duration=1.5,
            )
        )
    return results


#: What the terminal writes after a delta, by status (the product contract).
TERMINAL_MARKS = {"better": "better", "worse": "worse", "noise": "noise", "regressed": "REGRESSED"}


def shows_value(token: str, value: float) -> bool:
    """Whether *token* is a whole number that reads as *value*.

    It must parse, be *value* correctly rounded to the decimals it shows, and be
    at least as precise as the report promises (4 significant digits or 4
    decimals): a number cut short (``56.``, ``0.8``, ``56....``) fails.
    """
    if not math.isfinite(value):
        return token == ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
    try:
        parsed = Decimal(token)
    except InvalidOperation:
        return False
    if not parsed.is_finite():
        return False
    unit = Decimal(1).scaleb(parsed.as_tuple().exponent)  # type: ignore[arg-type]
    error = abs(parsed - Decimal(value))
    slack = abs(Decimal(value)) * Decimal("1e-12")
    return error <= unit / 2 + slack and error <= max(
        abs(Decimal(value)) * Decimal("1e-3"), Decimal("1e-4")
    )


def assert_numbers_uncut(results: list[CaseResult], lines: list[str]) -> None:
    """Every metric value and every delta of *results* appears whole in *lines*."""
    tokens = " ".join(lines).split()
    pairs = list(itertools.pairwise(tokens))
    values = [v for r in results for v in r.metrics.values()]
    for value in values:
        wanted = sum(1 for v in values if v == value or (math.isnan(v) and math.isnan(value)))
        found = sum(1 for t in tokens if shows_value(t, value))
        assert found >= wanted, (value, lines)
    deltas = [
        (c.delta, TERMINAL_MARKS[c.status])
        for r in results
        for c in r.comparisons.values()
        if c.status != "same"
    ]
    for delta, mark in deltas:
        wanted = deltas.count((delta, mark))
        shown = [
            t
            for t, after in pairs
            if after == mark and shows_value(t, delta) and (delta <= 0 or t.startswith("+"))
        ]
        assert len(shown) >= wanted, (delta, mark, lines)
    # A number is never shortened with an ellipsis.
    assert not re.search(r"\d\.\.\.|\.\.\.\d", "\n".join(lines)), lines
