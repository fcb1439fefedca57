"""Unit and property tests of ``pytest_experiments.conditions``: expectation
parsing, metric direction, tolerances and the baseline comparison."""

from __future__ import annotations

import math
import operator
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_experiments.conditions import (
    Condition,
    DeclarationError,
    Tolerance,
    compare,
    direction_for,
    name_direction,
    regression_message,
)
from pytest_experiments.results import Direction

PYTHON_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
finite = st.floats(allow_nan=False, allow_infinity=False)
spaces = st.sampled_from(["", " ", "  ", "\t", " \t "])

# ------------------------------------------------------------------ Condition.parse


@pytest.mark.parametrize(
    ("text", "op", "threshold"),
    [
        (">= 0.8", ">=", 0.8),
        (">0.8", ">", 0.8),
        ("<= 1e-3", "<=", 0.001),
        (" < 5 ", "<", 5.0),
        ("<5", "<", 5.0),
        (">= -1", ">=", -1.0),
        ("> +2.5", ">", 2.5),
        (">= .5", ">=", 0.5),
        ("<= 5.", "<=", 5.0),
        ("< 1E3", "<", 1000.0),
        ("> 2.5e-10", ">", 2.5e-10),
        (">=\t0", ">=", 0.0),
    ],
)
def test_parse_accepts_operator_and_number(text: str, op: str, threshold: float) -> None:
    condition = Condition.parse(text)
    assert condition.op == op
    assert condition.threshold == threshold
    assert condition.text == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "=> 0.8",
        ">= abc",
        "0.8",
        ">=",
        "",
        "   ",
        "== 0.8",
        "= 0.8",
        "! 0.8",
        "=< 0.8",
        ">> 0.8",
        ">= 0.8 0.9",
        ">= 0.8%",
        ">= 0,8",
        ">= 1_000",
        ">= 0x10",
        "≥ 0.8",
        ">= inf",
        ">= nan",
        ">= 1e999",
        "accuracy >= 0.8",
        ">= 0.8 and < 0.9",
        "> e5",
        "> 1e",
        "> .",
    ],
)
def test_parse_rejects_malformed_text_naming_it(text: str) -> None:
    with pytest.raises(DeclarationError) as excinfo:
        Condition.parse(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("value", [0.8, 1, None, True, b">= 0.8", [">= 0.8"], {">=": 0.8}])
def test_parse_rejects_non_strings(value: object) -> None:
    with pytest.raises(DeclarationError) as excinfo:
        Condition.parse(value)
    assert repr(value) in str(excinfo.value)
    assert "string" in str(excinfo.value)


def test_declaration_error_is_a_value_error() -> None:
    # Users who catch ValueError around their own declaration helpers keep working.
    assert issubclass(DeclarationError, ValueError)


# ------------------------------------------------------------------ Condition.check


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        (">= 0.8", 0.8, True),
        (">= 0.8", 0.80000001, True),
        (">= 0.8", 0.79999999, False),
        ("> 0.8", 0.8, False),
        ("> 0.8", 0.8000001, True),
        ("<= 0.5", 0.5, True),
        ("<= 0.5", 0.5000001, False),
        ("< 0.5", 0.5, False),
        ("< 0.5", 0.4999999, True),
        ("> -1", -0.5, True),
        ("< -1", -1.0, False),
        (">= 0", -0.0, True),
    ],
)
def test_check_at_the_boundary(text: str, value: float, holds: bool) -> None:
    condition = Condition.parse(text)
    assert condition.holds(value) is holds
    message = condition.check("accuracy", value)
    if holds:
        assert message is None
    else:
        assert message is not None
        assert "accuracy" in message
        assert text.split()[0] in message and text.split()[1] in message


def test_check_message_shows_metric_condition_and_exact_value() -> None:
    message = Condition.parse(">= 0.8").check("accuracy", 0.7999999)
    assert message is not None
    assert "accuracy" in message
    assert ">= 0.8" in message
    # The value is shown precisely enough to see why it failed (not rounded to 0.8).
    assert "0.7999999" in message
    assert "got 0.8," not in message and not message.endswith("got 0.8")


def test_check_message_keeps_short_values_short() -> None:
    message = Condition.parse("< 0.5").check("log_loss", 0.75)
    assert message is not None
    assert message.endswith("0.75")


def test_nan_never_meets_a_condition() -> None:
    for op in PYTHON_OPS:
        condition = Condition.parse(f"{op} 0.5")
        assert not condition.holds(math.nan)
        assert condition.check("m", math.nan) is not None


@pytest.mark.parametrize(
    ("op", "direction"), [(">=", "higher"), (">", "higher"), ("<=", "lower"), ("<", "lower")]
)
def test_condition_direction(op: str, direction: str) -> None:
    assert Condition.parse(f"{op} 1").direction == direction


# ------------------------------------------------------------------ Condition properties


@given(op=st.sampled_from(sorted(PYTHON_OPS)), threshold=finite, value=finite, pad=spaces)
def test_parse_round_trips_and_agrees_with_python(
    op: str, threshold: float, value: float, pad: str
) -> None:
    condition = Condition.parse(f"{pad}{op}{pad} {threshold!r}{pad}")
    assert condition.op == op
    assert condition.threshold == threshold
    expected = PYTHON_OPS[op](value, threshold)
    assert condition.holds(value) is expected
    assert (condition.check("m", value) is None) is expected


@given(text=st.text())
def test_parse_of_any_text_is_consistent_or_a_declaration_error(text: str) -> None:
    try:
        condition = Condition.parse(text)
    except DeclarationError as exc:
        assert repr(text) in str(exc)
        return
    # Accepted: the text is an operator followed by exactly the threshold.
    stripped = text.strip()
    assert stripped.startswith(condition.op)
    rest = stripped[len(condition.op) :].strip()
    assert float(rest) == condition.threshold
    assert math.isfinite(condition.threshold)


FRAGMENTS = [">", "<", "=", ">=", "<=", "=>", "!", " ", "0", "8", ".", "0.8", "-", "+", "e"]
FRAGMENTS += ["E", "5", "abc", "%", "_", ",", "inf", "nan", "1e999", "x", "\n", "≥", "0x1"]


@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=6))
def test_near_miss_text_is_rejected_unless_it_is_op_and_float(parts: list[str]) -> None:
    text = "".join(parts)
    stripped = text.strip()
    op = next((o for o in (">=", "<=", ">", "<") if stripped.startswith(o)), None)
    rest = stripped[len(op) :].strip() if op else ""
    try:
        number = float(rest) if rest and re.fullmatch(r"[0-9eE.+-]+", rest) else None
    except ValueError:
        number = None
    well_formed = op is not None and number is not None and math.isfinite(number)
    if well_formed:
        assert Condition.parse(text).threshold == number
    else:
        with pytest.raises(DeclarationError):
            Condition.parse(text)


@given(value=st.one_of(st.none(), st.integers(), finite, st.binary(), st.lists(st.integers())))
def test_parse_of_non_text_is_a_declaration_error(value: object) -> None:
    with pytest.raises(DeclarationError):
        Condition.parse(value)


# ------------------------------------------------------------------ direction


@pytest.mark.parametrize(
    "metric",
    ["log_loss", "fit_time", "rmse", "mse", "mae", "val_error", "latency", "predict_seconds"],
)
def test_lower_is_better_by_name(metric: str) -> None:
    assert name_direction(metric) == "lower"
    assert direction_for(metric) == "lower"
    assert direction_for(metric.upper()) == "lower"


@pytest.mark.parametrize(
    "metric", ["uptime", "accuracy", "f1", "roc_auc", "lossless_ratio", "timeline", "errors_fixed"]
)
def test_higher_is_better_by_name(metric: str) -> None:
    assert name_direction(metric) == "higher"
    assert direction_for(metric) == "higher"


def test_operator_of_expect_beats_the_name() -> None:
    expect = {"log_loss": Condition.parse(">= 0.1"), "accuracy": Condition.parse("<= 0.9")}
    assert direction_for("log_loss", expect=expect) == "higher"
    assert direction_for("accuracy", expect=expect) == "lower"
    # A metric without an expectation still goes by its name.
    assert direction_for("fit_time", expect=expect) == "lower"


def test_explicit_lists_beat_expect_and_name() -> None:
    expect = {"brier": Condition.parse(">= 0.1"), "uptime": Condition.parse("<= 5")}
    assert direction_for("brier", lower_is_better=("brier",), expect=expect) == "lower"
    assert direction_for("uptime", higher_is_better=["uptime"], expect=expect) == "higher"
    assert direction_for("log_loss", higher_is_better=("log_loss",)) == "higher"
    assert direction_for("accuracy", lower_is_better=("accuracy",)) == "lower"
    # A list that names other metrics changes nothing.
    assert direction_for("log_loss", higher_is_better=("accuracy",)) == "lower"


# ------------------------------------------------------------------ Tolerance


@pytest.mark.parametrize(
    ("value", "amount", "relative"),
    [
        (0.01, 0.01, False),
        (0, 0.0, False),
        (2, 2.0, False),
        ("0.01", 0.01, False),
        ("2%", 0.02, True),
        (" 2.5 % ", 0.025, True),
        ("0%", 0.0, True),
        (np.float64(0.05), 0.05, False),
        (np.int64(1), 1.0, False),
    ],
)
def test_tolerance_parse(value: object, amount: float, relative: bool) -> None:
    tolerance = Tolerance.parse(value)
    assert tolerance.relative is relative
    assert tolerance.amount == pytest.approx(amount)


@pytest.mark.parametrize(
    "value",
    ["abc", "-1", -1, -0.5, "-2%", "%", "", "2%%", "nan", "inf", "1e999", math.nan, math.inf],
)
def test_tolerance_rejects_malformed_or_negative(value: object) -> None:
    with pytest.raises(DeclarationError) as excinfo:
        Tolerance.parse(value)
    assert repr(value) in str(excinfo.value)


@pytest.mark.parametrize("value", [True, False, None, [0.01], {"acc": 0.01}, b"2%", object()])
def test_tolerance_rejects_non_numbers(value: object) -> None:
    with pytest.raises(DeclarationError):
        Tolerance.parse(value)


def test_tolerance_allowed_and_text() -> None:
    absolute = Tolerance.parse(0.01)
    relative = Tolerance.parse("2%")
    assert absolute.allowed(100.0) == 0.01
    assert relative.allowed(0.5) == pytest.approx(0.01)
    assert relative.allowed(-50.0) == pytest.approx(1.0)
    assert str(absolute) == "0.01"
    assert str(relative) == "2%"


@given(amount=st.floats(min_value=0, allow_infinity=False))
def test_tolerance_property_numbers_and_percentages(amount: float) -> None:
    absolute = Tolerance.parse(amount)
    assert absolute == Tolerance(amount=amount, relative=False)
    relative = Tolerance.parse(f"{amount!r}%")
    assert relative.relative
    assert relative.amount == pytest.approx(amount / 100)


@given(amount=st.floats(max_value=-1e-300, allow_infinity=False))
def test_tolerance_property_negative_is_rejected(amount: float) -> None:
    with pytest.raises(DeclarationError):
        Tolerance.parse(amount)
    with pytest.raises(DeclarationError):
        Tolerance.parse(f"{amount!r}%")


@given(text=st.text())
def test_tolerance_of_any_text_is_valid_or_a_declaration_error(text: str) -> None:
    try:
        tolerance = Tolerance.parse(text)
    except DeclarationError:
        return
    assert math.isfinite(tolerance.amount) and tolerance.amount >= 0
    assert tolerance.relative is text.strip().endswith("%")


# ------------------------------------------------------------------ compare


def test_compare_higher_is_better() -> None:
    tolerance = Tolerance.parse(0.01)
    assert compare("acc", 0.80, 0.85, "higher", tolerance).status == "better"
    assert compare("acc", 0.80, 0.80, "higher", tolerance).status == "same"
    assert compare("acc", 0.80, 0.795, "higher", tolerance).status == "worse"
    assert compare("acc", 0.80, 0.789, "higher", tolerance).status == "regressed"


def test_compare_lower_is_better_uses_direction_not_sign() -> None:
    tolerance = Tolerance.parse("10%")
    assert compare("log_loss", 0.5, 0.4, "lower", tolerance).status == "better"
    assert compare("log_loss", 0.5, 0.54, "lower", tolerance).status == "worse"
    result = compare("log_loss", 0.5, 0.6, "lower", tolerance)
    assert result.status == "regressed"
    assert result.delta == pytest.approx(0.1)


def test_compare_zero_tolerance_ignores_float_noise_only() -> None:
    zero = Tolerance.parse(0)
    assert compare("acc", 0.8, 0.8 - 1e-12, "higher", zero).status == "same"
    assert compare("acc", 0.8, 0.8 - 1e-6, "higher", zero).status == "regressed"
    assert compare("acc", 0.8, math.nan, "higher", zero).status == "regressed"


def test_regression_message_names_everything() -> None:
    message = regression_message(compare("acc", 0.8, 0.7, "higher", Tolerance.parse("2%")))
    for part in ("acc", "0.8", "0.7", "-0.1", "2%", "higher is better"):
        assert part in message


@given(
    baseline=finite,
    current=finite,
    direction=st.sampled_from(["higher", "lower"]),
    amount=st.floats(min_value=0, max_value=1e6),
)
def test_compare_property_status_follows_gain(
    baseline: float, current: float, direction: Direction, amount: float
) -> None:
    assume(math.isfinite(current - baseline))
    status = compare("m", baseline, current, direction, Tolerance(amount, False)).status
    gain = (current - baseline) * (1 if direction == "higher" else -1)
    if abs(current - baseline) <= 1e-9:
        assert status == "same"
    elif gain > 0:
        assert status == "better"
    elif -gain <= amount:
        assert status == "worse"
    elif -gain > amount + 1e-9:
        assert status == "regressed"
