"""Exact money (escrowgate.domain.money). No database, no HTTP. The aggregate's
rules are in test_model.py."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrowgate.domain.money import (
    MAX_AMOUNT_MICRO,
    MICRO,
    AmountError,
    format_amount,
    parse_amount,
    percentage_agrees,
    percentage_of,
)

CONTRACT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
RENDERED_RE = re.compile(r"^-?[0-9]+\.[0-9]{2,6}$")


def to_micro(text: str) -> int:
    """The contract's meaning of a valid amount string, computed independently."""
    return int(Decimal(text) * MICRO)


# ---------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------


@st.composite
def valid_amounts(draw: st.DrawFn) -> str:
    """Any string the contract accepts: ^[0-9]+(\\.[0-9]+)?$, > 0, <= 6 decimals, <= 1e12
    (leading zeros and trailing zeros included)."""
    micro = draw(st.integers(min_value=1, max_value=MAX_AMOUNT_MICRO))
    whole, frac = divmod(micro, MICRO)
    frac_digits = f"{frac:06d}".rstrip("0")
    # pad with trailing zeros up to 6 decimals, or none at all when it is whole
    if frac_digits:
        frac_digits = frac_digits.ljust(draw(st.integers(len(frac_digits), 6)), "0")
        tail = "." + frac_digits
    else:
        tail = draw(st.sampled_from(["", ".0", ".00", ".000000"]))
    zeros = "0" * draw(st.integers(0, 3))
    return f"{zeros}{whole}{tail}"


# ---------------------------------------------------------------------------------
# parse_amount
# ---------------------------------------------------------------------------------


@given(valid_amounts())
def test_any_valid_amount_parses_to_its_exact_value_and_round_trips(text: str) -> None:
    micro = parse_amount(text)
    assert micro == to_micro(text)
    rendered = format_amount(micro)
    assert Decimal(rendered) == Decimal(text)
    assert RENDERED_RE.fullmatch(rendered), rendered
    assert parse_amount(rendered) == micro


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_MICRO))
def test_every_micro_unit_value_round_trips_through_its_rendering(micro: int) -> None:
    text = format_amount(micro)
    assert CONTRACT_RE.fullmatch(text)
    assert parse_amount(text) == micro


@pytest.mark.parametrize(
    "text, micro",
    [
        ("300.00", 300_000_000),
        ("300", 300_000_000),
        ("0.125", 125_000),
        ("0.000001", 1),
        ("1000000000000", MAX_AMOUNT_MICRO),
        ("1000000000000.000000", MAX_AMOUNT_MICRO),
        ("007.50", 7_500_000),
        ("0" * 60 + "1", MICRO),  # leading zeros are still a valid amount
        ("999999999999.999999", MAX_AMOUNT_MICRO - 1),
    ],
)
def test_known_amounts_parse_exactly(text: str, micro: int) -> None:
    assert parse_amount(text) == micro


@pytest.mark.parametrize(
    "value",
    [
        1000,
        1000.0,
        Decimal("1000"),
        None,
        True,
        ["1"],
        {"amount": "1"},  # not strings
        "1e3",
        "1E3",
        "-1",
        "+1",
        "0",
        "0.0",
        "0.000000",
        " 1",
        "1 ",
        "1\n",
        "NaN",
        "nan",
        "Infinity",
        "inf",
        "",
        ".",
        "1.",
        ".5",
        "1..0",
        "1,00",
        "1_000",
        "0x10",
        "１",
        "1.0000001",
        "0.0000001",
        "1.1234567",  # 7 decimals
        "1000000000000.000001",
        "1000000000001",
        "10000000000000",
        "9" * 40,  # > 1e12
        "1" + "0" * 5000,  # huge, must not reach int() unbounded
    ],
)
def test_invalid_amounts_are_rejected(value: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(value)


@given(st.text(max_size=30))
def test_random_text_is_accepted_only_when_the_contract_allows_it(text: str) -> None:
    valid = (
        CONTRACT_RE.fullmatch(text) is not None
        and len(text.partition(".")[2]) <= 6
        and 0 < Decimal(text) <= 10**12
    )
    if valid:
        assert parse_amount(text) == to_micro(text)
    else:
        with pytest.raises(AmountError):
            parse_amount(text)


@given(
    st.integers(min_value=0, max_value=10**12),
    st.text(alphabet="0123456789", min_size=7, max_size=12),
)
def test_more_than_six_decimals_is_always_rejected(whole: int, frac: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(f"{whole}.{frac}")


@given(st.integers(min_value=10**12 * MICRO + 1, max_value=10**20 * MICRO))
def test_above_one_trillion_is_always_rejected(micro: int) -> None:
    whole, frac = divmod(micro, MICRO)
    with pytest.raises(AmountError):
        parse_amount(f"{whole}.{frac:06d}")


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.decimals())
def test_numbers_are_never_amounts(value: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(value)


# ---------------------------------------------------------------------------------
# format_amount
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "micro, text",
    [
        (300_000_000, "300.00"),
        (125_000, "0.125"),
        (1, "0.000001"),
        (10, "0.00001"),
        (100_000, "0.10"),
        (1_500_000, "1.50"),
        (123_456_789, "123.456789"),
        (0, "0.00"),
        (-1_500_000, "-1.50"),
        (MAX_AMOUNT_MICRO, "1000000000000.00"),
    ],
)
def test_format_amount_renders_at_least_two_decimals(micro: int, text: str) -> None:
    assert format_amount(micro) == text


def test_rendering_of_the_contract_examples() -> None:
    assert format_amount(parse_amount("300")) == "300.00"
    assert format_amount(parse_amount("0.125")) == "0.125"
    assert format_amount(parse_amount("300.000000")) == "300.00"


# ---------------------------------------------------------------------------------
# percentages
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part, total, expected",
    [
        ("300.00", "1000.00", "30.00"),
        ("333.33", "1000.00", "33.33"),
        ("100", "300", "33.33"),
        ("200", "300", "66.67"),  # half-up
        ("0.000001", "1000000000000", "0.00"),
        ("1000.00", "1000.00", "100.00"),
        ("0.005", "1", "0.50"),
        ("0.00005", "1", "0.01"),  # 0.005 % -> rounds half up to 0.01
    ],
)
def test_percentage_of_is_exact_and_rounded_half_up(part: str, total: str, expected: str) -> None:
    value = percentage_of(parse_amount(part), parse_amount(total))
    assert value == Decimal(expected)
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "given_pct, part, total, ok",
    [
        ("30", "300", "1000", True),
        ("33.33", "333.33", "1000", True),
        ("33.34", "333.33", "1000", True),  # exact 33.333: within 0.01 point
        ("33.32", "333.33", "1000", False),  # 0.013 off
        ("33.35", "333.33", "1000", False),
        ("33.3", "333.33", "1000", False),  # 0.033 off
        ("31", "300", "1000", False),
        ("29.99", "300", "1000", True),
        ("29.98", "300", "1000", False),
        ("0", "0.000001", "1000", True),
    ],
)
def test_percentage_agrees_within_one_hundredth_of_a_point(
    given_pct: str, part: str, total: str, ok: bool
) -> None:
    assert percentage_agrees(Decimal(given_pct), parse_amount(part), parse_amount(total)) is ok


@given(st.integers(1, MAX_AMOUNT_MICRO), st.data())
def test_the_computed_percentage_always_agrees(total: int, data: st.DataObject) -> None:
    part = data.draw(st.integers(1, total))
    pct = percentage_of(part, total)
    assert Decimal(0) <= pct <= Decimal(100)
    assert percentage_agrees(pct, part, total)
