"""Pure rules: exact money (escrowgate.domain.money) and the milestone rules
(escrowgate.domain.milestones). No database, no HTTP."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from escrowgate.domain import milestones as rules
from escrowgate.domain.money import (
    MAX_AMOUNT_MICRO,
    MICRO,
    AmountError,
    format_amount,
    parse_amount,
    percentage_agrees,
    percentage_of,
)
from escrowgate.errors import ApiError

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


# ---------------------------------------------------------------------------------
# Milestone rules (domain/milestones.py)
# ---------------------------------------------------------------------------------

M = MICRO


def order(
    *,
    release_type: str = "MILESTONE_LOCKED",
    status: str = "PENDING",
    amount: int = 1000 * M,
    refunded: int = 0,
    rows: list[rules.MilestoneView] | None = None,
) -> rules.OrderView:
    rows = rows or []
    return rules.OrderView(
        release_type=release_type,
        order_status=status,
        amount=amount,
        refunded_amount=refunded,
        milestone_total=sum(r.amount for r in rows),
        milestone_count=len(rows),
    )


def pending(index: int, amount: int = 100 * M) -> rules.MilestoneView:
    return rules.MilestoneView(index, rules.PENDING, amount)


def check(
    o: rules.OrderView,
    rows: list[rules.MilestoneView],
    index: int,
    amount: int,
    pct: str | None = None,
) -> int:
    return rules.check_new_milestone(
        o, rows, index=index, amount=amount, percentage=None if pct is None else Decimal(pct)
    )


def raises(
    fn,
    message: str | None = None,
    *,
    code: str = "invalid_request",  # type: ignore[no-untyped-def]
    param: str | None = None,
) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn()
    err = info.value
    assert err.status_code == 400
    assert err.error_type == "invalid_request_error"
    assert err.code == code
    if message is not None:
        assert err.message == message
    if param is not None:
        assert err.param == param
    return err


@pytest.mark.parametrize("release_type", ["DELIVERY_PROOF", "TIME_LOCKED", "AUTO_RELEASE"])
def test_only_milestone_locked_orders_take_milestones(release_type: str) -> None:
    raises(
        lambda: check(order(release_type=release_type), [], 0, 100 * M),
        f"Cannot create milestone for order with release type: {release_type}",
    )


@pytest.mark.parametrize("status", ["CANCELLED", "COMPLETED", "DISPUTED"])
def test_no_milestone_on_a_cancelled_completed_or_disputed_order(status: str) -> None:
    # the docs' code for a conflict with the order's status (as for disputes)
    err = raises(lambda: check(order(status=status), [], 0, 100 * M), code="invalid_status")
    assert status in err.message


@pytest.mark.parametrize("status", ["PENDING", "DELIVERED"])
def test_milestones_allowed_on_open_orders(status: str) -> None:
    assert check(order(status=status), [], 0, 300 * M) == 3000


@pytest.mark.parametrize("index", [0, 7, 999])
def test_duplicate_index_message_interpolates_the_index(index: int) -> None:
    rows = [pending(index)]
    raises(
        lambda: check(order(rows=rows), rows, index, 1 * M),
        f"Milestone with index {index} already exists",
        param="milestoneIndex",
    )


def test_total_may_equal_but_never_exceed_the_order_amount() -> None:
    rows = [pending(0, 700 * M)]
    assert check(order(rows=rows), rows, 1, 300 * M) == 3000
    raises(
        lambda: check(order(rows=rows), rows, 1, 300 * M + 1),
        "Total milestone amounts exceed escrow order amount",
    )


def test_refunded_money_cannot_be_planned_again() -> None:
    raises(
        lambda: check(order(refunded=500 * M), [], 0, 600 * M),
        "Total milestone amounts exceed escrow order amount",
    )
    assert check(order(refunded=500 * M), [], 0, 500 * M) == 5000


def test_at_most_one_hundred_milestones() -> None:
    rows = [pending(i, 1 * M) for i in range(100)]
    err = raises(lambda: check(order(rows=rows), rows, 100, 1 * M), param="milestoneIndex")
    assert "100" in err.message
    assert check(order(rows=rows[:99]), rows[:99], 99, 1 * M) == 10


def test_an_index_below_a_completed_milestone_is_rejected() -> None:
    rows = [pending(0), rules.MilestoneView(2, rules.COMPLETED, 100 * M)]
    raises(lambda: check(order(rows=rows), rows, 1, 1 * M), param="milestoneIndex")
    assert check(order(rows=rows), rows, 3, 1 * M) == 10
    released = [rules.MilestoneView(5, rules.RELEASED, 100 * M)]
    raises(lambda: check(order(rows=released), released, 4, 1 * M), param="milestoneIndex")


def test_percentage_is_computed_when_omitted_and_checked_when_given() -> None:
    assert check(order(), [], 0, 333_330_000) == 3333  # 33.33 %
    assert check(order(), [], 0, 333_330_000, "33.333") == 3333
    assert check(order(), [], 0, 300 * M, "30") == 3000
    err = raises(lambda: check(order(), [], 0, 300 * M, "40"), param="percentage")
    assert err.code == "invalid_request"


def test_rule_order_release_type_first_then_duplicate_then_total() -> None:
    rows = [pending(0, 1000 * M)]
    raises(
        lambda: check(order(release_type="DELIVERY_PROOF", rows=rows), rows, 0, 5000 * M),
        "Cannot create milestone for order with release type: DELIVERY_PROOF",
    )
    raises(
        lambda: check(order(rows=rows), rows, 0, 5000 * M),
        "Milestone with index 0 already exists",
    )


def test_completion_rules_and_messages() -> None:
    rows = [
        pending(0),
        pending(1),
        rules.MilestoneView(2, rules.COMPLETED, 1),
        rules.MilestoneView(3, rules.RELEASED, 1),
    ]
    raises(lambda: rules.check_can_complete(rows, rows[2]), "Milestone already completed")
    raises(lambda: rules.check_can_complete(rows, rows[3]), "Milestone already released")
    raises(
        lambda: rules.check_can_complete(rows, rows[1]),
        "Previous milestone (index 0) must be completed first",
    )
    rules.check_can_complete(rows, rows[0])  # the first one may go


def test_cancelled_milestones_do_not_block_and_are_never_released() -> None:
    rows = [rules.MilestoneView(0, rules.CANCELLED, 1), rules.MilestoneView(1, rules.COMPLETED, 1)]
    assert rules.previous_unfinished(rows, 1, need=(rules.COMPLETED, rules.RELEASED)) is None
    nxt = rules.next_releasable(rows)
    assert nxt is not None and nxt.index == 1


def test_release_is_strictly_in_index_order() -> None:
    rows = [
        rules.MilestoneView(2, rules.COMPLETED, 1),
        rules.MilestoneView(0, rules.RELEASED, 1),
        rules.MilestoneView(1, rules.PENDING, 1),
    ]
    assert rules.next_releasable(rows) is None  # 1 is not done, so 2 waits
    rows[2] = rules.MilestoneView(1, rules.COMPLETED, 1)
    nxt = rules.next_releasable(rows)
    assert nxt is not None and nxt.index == 1
    assert rules.next_releasable([rules.MilestoneView(0, rules.RELEASED, 1)]) is None


# Random sequences of creation attempts against one order, checked against a model.
attempts = st.lists(
    st.tuples(
        st.integers(0, 12),  # index: small range so duplicates happen
        st.integers(1, 400 * M),  # amount
        st.none() | st.decimals(min_value=0, max_value=100, places=2),
    ),
    max_size=30,
)


@settings(max_examples=200)
@given(st.integers(1 * M, 1000 * M), attempts)
def test_random_milestone_sequences_keep_sum_and_index_invariants(
    total: int, sequence: list[tuple[int, int, Decimal | None]]
) -> None:
    accepted: list[rules.MilestoneView] = []
    for index, amount, pct in sequence:
        o = order(amount=total, rows=accepted)
        duplicate = any(m.index == index for m in accepted)
        over = sum(m.amount for m in accepted) + amount > total
        exact = Decimal(amount) * 100 / Decimal(total)
        pct_bad = pct is not None and abs(exact - pct) > Decimal("0.01")
        try:
            bp = rules.check_new_milestone(
                o, list(accepted), index=index, amount=amount, percentage=pct
            )
        except ApiError as err:
            assert err.status_code == 400
            assert duplicate or over or pct_bad, (err.message, index, amount, pct)
            if duplicate:
                assert err.message == f"Milestone with index {index} already exists"
            elif over:
                assert err.message == "Total milestone amounts exceed escrow order amount"
            else:
                assert err.param == "percentage"
            continue
        assert not (duplicate or over or pct_bad)
        assert 0 <= bp <= 10_000
        accepted.append(rules.MilestoneView(index, rules.PENDING, amount))
        assert sum(m.amount for m in accepted) <= total
        assert len({m.index for m in accepted}) == len(accepted)


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=100))
def test_milestones_filling_the_order_exactly_are_all_accepted(parts: list[int]) -> None:
    total = sum(parts)
    assume(total <= MAX_AMOUNT_MICRO)
    accepted: list[rules.MilestoneView] = []
    for i, amount in enumerate(parts):
        rules.check_new_milestone(
            order(amount=total, rows=accepted), accepted, index=i, amount=amount, percentage=None
        )
        accepted.append(pending(i, amount))
    raises(
        lambda: rules.check_new_milestone(
            order(amount=total, rows=accepted),
            accepted,
            index=len(parts),
            amount=1,
            percentage=None,
        ),
    )
