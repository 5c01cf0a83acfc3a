"""The payment aggregate's rules (escrowgate.payments.model) as tables, with no
database and no HTTP: plain objects stand in for the rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from escrowgate.domain.errors import DomainError, Forbidden
from escrowgate.domain.money import MAX_AMOUNT_MICRO, MICRO
from escrowgate.errors import from_domain
from escrowgate.payments import model
from escrowgate.payments.model import (
    Action,
    IntentStatus,
    JobKind,
    MilestoneStatus,
    OrderStatus,
    ReleaseReason,
    Resolution,
    Resolver,
)

M = MICRO
IS, OS, MS = IntentStatus, OrderStatus, MilestoneStatus


@dataclass
class Order:
    currency: str = "USDC"
    amount: int = 1000 * M
    funded_amount: int = 1000 * M
    released_amount: int = 0
    refunded_amount: int = 0
    milestone_total: int = 0
    milestone_count: int = 0
    release_type: str = "MILESTONE_LOCKED"
    auto_release: bool = False
    order_status: str = "PENDING"
    funded_at: int | None = 1_000
    dispute_window: int = 100
    clock_offset: int = 0
    buyer_address: str | None = "0x" + "ab" * 20


@dataclass
class Ms:
    milestone_index: int
    status: str = "PENDING"
    amount: int = 100 * M
    completed_at: int | None = None
    approved_at: int | None = None
    approved_by: str | None = None
    added_after_funding: bool = False
    tag: str = field(default="", compare=False)


def unfunded(**kw: object) -> Order:
    return Order(funded_amount=0, funded_at=None, **kw)  # type: ignore[arg-type]


def with_rows(rows: list[Ms], **kw: object) -> Order:
    o = unfunded(**kw)
    o.milestone_total = sum(r.amount for r in rows)
    o.milestone_count = len(rows)
    return o


def raises(fn, message: str | None = None, *, code: str = "invalid_request", param=None):  # type: ignore[no-untyped-def]
    """The rule refuses with a 400 of the one envelope (mapped at the edge)."""
    with pytest.raises(DomainError) as info:
        fn()
    err = from_domain(info.value)
    assert err.status_code == 400
    assert err.error_type == "invalid_request_error"
    assert err.code == code
    if message is not None:
        assert err.message == message
    if param is not None:
        assert err.param == param
    return err


# --- state machines ------------------------------------------------------------

INTENT_MOVES = [
    (IS.INITIATED, IS.PROCESSING, True),
    (IS.INITIATED, IS.CANCELED, True),
    # A declined card keeps the intent INITIATED (lastPaymentError); nothing from
    # INITIATED needs action.
    (IS.INITIATED, IS.REQUIRES_ACTION, False),
    (IS.INITIATED, IS.SUCCEEDED, False),
    (IS.PROCESSING, IS.SUCCEEDED, True),
    (IS.PROCESSING, IS.REQUIRES_ACTION, True),
    (IS.PROCESSING, IS.CANCELED, False),
    (IS.SUCCEEDED, IS.SETTLED, True),
    (IS.SUCCEEDED, IS.CANCELED, False),
    (IS.REQUIRES_ACTION, IS.PROCESSING, True),
    (IS.REQUIRES_ACTION, IS.CANCELED, True),
    (IS.SETTLED, IS.REQUIRES_ACTION, False),
    (IS.CANCELED, IS.PROCESSING, False),
]


@pytest.mark.parametrize(("current", "target", "allowed"), INTENT_MOVES)
def test_intent_transitions(current: IntentStatus, target: IntentStatus, allowed: bool) -> None:
    if allowed:
        assert model.check_transition(model.INTENT_TRANSITIONS, current, target) == target
    else:
        raises(
            lambda: model.check_transition(model.INTENT_TRANSITIONS, current, target),
            f"Cannot transition from {current} to {target}",
            code="invalid_state_transition",
        )


ORDER_MOVES = [
    (OS.PENDING, OS.DELIVERED, True),
    (OS.PENDING, OS.DISPUTED, True),
    (OS.PENDING, OS.COMPLETED, True),
    (OS.PENDING, OS.CANCELLED, True),
    (OS.DELIVERED, OS.DISPUTED, True),
    (OS.DELIVERED, OS.COMPLETED, True),
    (OS.DELIVERED, OS.PENDING, False),
    (OS.DISPUTED, OS.PENDING, True),
    (OS.DISPUTED, OS.DELIVERED, True),
    (OS.DISPUTED, OS.COMPLETED, False),  # a resolution first restores the status
    (OS.COMPLETED, OS.PENDING, False),
    (OS.CANCELLED, OS.PENDING, False),
]


@pytest.mark.parametrize(("current", "target", "allowed"), ORDER_MOVES)
def test_order_transitions(current: OrderStatus, target: OrderStatus, allowed: bool) -> None:
    ok = target in model.ORDER_TRANSITIONS[current]
    assert ok == allowed
    if not allowed:
        raises(
            lambda: model.check_transition(model.ORDER_TRANSITIONS, current, target),
            code="invalid_state_transition",
        )


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (MS.PENDING, MS.COMPLETED, True),
        (MS.PENDING, MS.RELEASED, False),  # strictly PENDING -> COMPLETED -> RELEASED
        (MS.COMPLETED, MS.RELEASED, True),
        (MS.COMPLETED, MS.PENDING, False),
        (MS.RELEASED, MS.CANCELLED, False),
        (MS.PENDING, MS.CANCELLED, True),
        (MS.COMPLETED, MS.CANCELLED, True),
    ],
)
def test_milestone_transitions(current: str, target: MilestoneStatus, allowed: bool) -> None:
    assert (target in model.MILESTONE_TRANSITIONS[MilestoneStatus(current)]) == allowed


def test_every_status_has_a_row_and_every_job_kind_a_name() -> None:
    assert set(model.INTENT_TRANSITIONS) == set(IntentStatus)
    assert set(model.ORDER_TRANSITIONS) == set(OrderStatus)
    assert set(model.MILESTONE_TRANSITIONS) == set(MilestoneStatus)
    assert len({k.value for k in JobKind}) == len(JobKind)


# --- money and clock -------------------------------------------------------------


@pytest.mark.parametrize(
    ("funded", "released", "refunded", "held"),
    [(1000, 0, 0, 1000), (1000, 300, 0, 700), (1000, 300, 700, 0), (0, 0, 0, 0)],
)
def test_held_is_funded_minus_released_minus_refunded(
    funded: int, released: int, refunded: int, held: int
) -> None:
    o = Order(funded_amount=funded, released_amount=released, refunded_amount=refunded)
    assert model.held(o) == held


def test_the_order_clock_is_wall_time_plus_its_offset() -> None:
    o = Order(clock_offset=604_800)
    assert model.order_now(o, 1_000) == 605_800
    assert model.wall_time(o, 605_800) == 1_000


# --- dispute guard: one rule, one message per action ----------------------------


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (Action.CREATE_MILESTONE, "Cannot create milestone for order with status: DISPUTED"),
        (Action.COMPLETE_MILESTONE, "Cannot complete a milestone while a dispute is open"),
        (Action.RELEASE, "Cannot release funds while a dispute is open"),
        (Action.REFUND, "Cannot refund while a dispute is open; resolve the dispute"),
    ],
)
def test_an_open_dispute_freezes_each_action_with_its_message(action: Action, message: str) -> None:
    raises(
        lambda: model.check_not_disputed(Order(order_status="DISPUTED"), action),
        message,
        code="invalid_status",
    )
    model.check_not_disputed(Order(), action)  # no dispute: nothing to say


# --- milestone creation (the Create Milestone page) -----------------------------


def check(o: Order, rows: list[Ms], index: int, amount: int, pct: str | None = None) -> int:
    return model.check_new_milestone(
        o, rows, index=index, amount=amount, percentage=None if pct is None else Decimal(pct)
    )


@pytest.mark.parametrize("release_type", ["DELIVERY_PROOF", "TIME_LOCKED", "AUTO_RELEASE"])
def test_only_milestone_locked_orders_take_milestones(release_type: str) -> None:
    raises(
        lambda: check(unfunded(release_type=release_type), [], 0, 100 * M),
        f"Cannot create milestone for order with release type: {release_type}",
    )


@pytest.mark.parametrize("status", ["CANCELLED", "COMPLETED", "DISPUTED"])
def test_no_milestone_on_a_cancelled_completed_or_disputed_order(status: str) -> None:
    err = raises(
        lambda: check(unfunded(order_status=status), [], 0, 100 * M), code="invalid_status"
    )
    assert err.message == f"Cannot create milestone for order with status: {status}"


@pytest.mark.parametrize("status", ["PENDING", "DELIVERED"])
def test_milestones_allowed_on_open_orders(status: str) -> None:
    assert check(unfunded(order_status=status), [], 0, 300 * M) == 3000


@pytest.mark.parametrize("index", [0, 7, 999])
def test_duplicate_index_message_interpolates_the_index(index: int) -> None:
    rows = [Ms(index)]
    raises(
        lambda: check(with_rows(rows), rows, index, 1 * M),
        f"Milestone with index {index} already exists",
        param="milestoneIndex",
    )


def test_total_may_equal_but_never_exceed_the_order_amount() -> None:
    rows = [Ms(0, amount=700 * M)]
    assert check(with_rows(rows), rows, 1, 300 * M) == 3000
    raises(
        lambda: check(with_rows(rows), rows, 1, 300 * M + 1),
        "Total milestone amounts exceed escrow order amount",
        param="amount",
    )


def test_refunded_money_cannot_be_planned_again() -> None:
    raises(
        lambda: check(unfunded(refunded_amount=500 * M), [], 0, 600 * M),
        "Total milestone amounts exceed escrow order amount",
    )
    assert check(unfunded(refunded_amount=500 * M), [], 0, 500 * M) == 5000


def test_at_most_one_hundred_milestones() -> None:
    rows = [Ms(i, amount=1 * M) for i in range(100)]
    raises(
        lambda: check(with_rows(rows), rows, 100, 1 * M),
        "An order can have at most 100 milestones",
        param="milestoneIndex",
    )
    assert check(with_rows(rows[:99]), rows[:99], 99, 1 * M) == 10


def test_an_index_below_a_completed_milestone_is_rejected() -> None:
    rows = [Ms(0), Ms(2, "COMPLETED")]
    raises(
        lambda: check(with_rows(rows), rows, 1, 1 * M),
        "Milestone index 1 is below already completed milestone index 2",
        param="milestoneIndex",
    )
    assert check(with_rows(rows), rows, 3, 1 * M) == 10
    released = [Ms(5, "RELEASED")]
    raises(lambda: check(with_rows(released), released, 4, 1 * M), param="milestoneIndex")


def test_percentage_is_computed_when_omitted_and_checked_when_given() -> None:
    assert check(unfunded(), [], 0, 333_330_000) == 3333  # 33.33 %
    assert check(unfunded(), [], 0, 333_330_000, "33.333") == 3333
    assert check(unfunded(), [], 0, 300 * M, "30") == 3000
    raises(
        lambda: check(unfunded(), [], 0, 300 * M, "40"),
        "percentage 40 does not match amount 300.00 of order amount 1000.00 (expected 30.00)",
        param="percentage",
    )


def test_rule_order_release_type_first_then_duplicate_then_total() -> None:
    rows = [Ms(0, amount=1000 * M)]
    raises(
        lambda: check(with_rows(rows, release_type="DELIVERY_PROOF"), rows, 0, 5000 * M),
        "Cannot create milestone for order with release type: DELIVERY_PROOF",
    )
    raises(
        lambda: check(with_rows(rows), rows, 0, 5000 * M), "Milestone with index 0 already exists"
    )


# --- completion and release, strictly in index order ----------------------------


def test_completion_rules_and_messages() -> None:
    rows = [Ms(0), Ms(1), Ms(2, "COMPLETED"), Ms(3, "RELEASED")]
    o = Order()
    raises(lambda: model.check_can_complete(o, rows, rows[2]), "Milestone already completed")
    raises(lambda: model.check_can_complete(o, rows, rows[3]), "Milestone already released")
    raises(
        lambda: model.check_can_complete(o, rows, rows[1]),
        "Previous milestone (index 0) must be completed first",
    )
    model.check_can_complete(o, rows, rows[0])  # the first one may go
    raises(
        lambda: model.check_can_complete(o, [Ms(0, "CANCELLED")], Ms(0, "CANCELLED")),
        "Milestone is cancelled",
        code="invalid_status",
    )


def test_completion_needs_funding_and_no_dispute() -> None:
    rows = [Ms(0)]
    raises(
        lambda: model.check_can_complete(unfunded(), rows, rows[0]),
        "Conditional payment is not funded yet",
        code="invalid_status",
    )
    raises(
        lambda: model.check_can_complete(Order(order_status="DISPUTED"), rows, rows[0]),
        "Cannot complete a milestone while a dispute is open",
        code="invalid_status",
    )


def test_the_previous_check_does_not_depend_on_row_order() -> None:
    # Rows as a database returns them, unsorted: the model sorts what it reads.
    rows = [Ms(5), Ms(1, "RELEASED"), Ms(3)]
    raises(
        lambda: model.check_can_complete(Order(), rows, rows[0]),
        "Previous milestone (index 3) must be completed first",
    )


def test_cancelled_milestones_do_not_block_and_are_never_released() -> None:
    rows = [Ms(0, "CANCELLED"), Ms(1, "COMPLETED", completed_at=0)]
    model.check_can_complete(Order(), [Ms(0, "CANCELLED"), Ms(1)], Ms(1))
    released = list(model.releasable(Order(auto_release=True), rows, at=0))
    assert [(m.milestone_index, why) for m, why in released] == [(1, ReleaseReason.AUTO)]


RELEASE_TABLE = [
    # (order settings, rows as (index, status, completed_at, approved_at), at, expected)
    ({"auto_release": True}, [(0, "COMPLETED", 0, None)], 0, [(0, "auto_release")]),
    ({}, [(0, "COMPLETED", 0, 5)], 10, [(0, "payer_approval")]),
    ({}, [(0, "COMPLETED", 0, None)], 99, []),  # window (100) not over yet
    ({}, [(0, "COMPLETED", 0, None)], 100, [(0, "dispute_window")]),
    # 1 is not done, so 2 waits, even approved
    ({}, [(2, "COMPLETED", 0, 1), (0, "RELEASED", 0, 1), (1, "PENDING", None, None)], 500, []),
    # released and cancelled ones are skipped; stop at the first not ready
    (
        {},
        [
            (3, "COMPLETED", 450, None),
            (1, "RELEASED", 0, None),
            (2, "COMPLETED", 0, None),
            (0, "CANCELLED", None, None),
        ],
        500,
        [(2, "dispute_window")],
    ),
    (
        {},
        [(1, "COMPLETED", 0, None), (0, "COMPLETED", 0, 7), (2, "COMPLETED", 0, 8)],
        100,
        [(0, "payer_approval"), (1, "dispute_window"), (2, "payer_approval")],
    ),
    ({"order_status": "DISPUTED", "auto_release": True}, [(0, "COMPLETED", 0, None)], 0, []),
    ({"funded_at": None, "auto_release": True}, [(0, "COMPLETED", 0, None)], 0, []),
]


@pytest.mark.parametrize(("settings_", "rows", "at", "expected"), RELEASE_TABLE)
def test_releasable_is_strict_index_order_and_sorts_itself(
    settings_: dict[str, object], rows: list[tuple], at: int, expected: list[tuple[int, str]]
) -> None:
    o = Order(**settings_)  # type: ignore[arg-type]
    ms = [Ms(i, s, completed_at=c, approved_at=a) for i, s, c, a in rows]
    got = [(m.milestone_index, str(why)) for m, why in model.releasable(o, ms, at)]
    assert got == expected


# A milestone added after funding (the payer never saw it): never by time or by
# autoRelease alone; the payer's approval or an operator's releases it.
# (order settings, (completed_at, approved_at, approved_by), at, expected reason)
AFTER_FUNDING_TABLE = [
    ({}, (0, None, None), 100, None),  # the window passed: not enough
    ({}, (0, None, None), 10**9, None),  # however long
    ({"auto_release": True}, (0, None, None), 0, None),  # autoRelease: not enough
    ({}, (0, 5, "payer_client_secret"), 6, "payer_approval"),
    ({}, (0, 5, "payer_signature"), 6, "payer_approval"),
    ({"auto_release": True}, (0, 5, "payer_signature"), 6, "payer_approval"),
    ({}, (0, 5, "operator"), 6, "operator_approval"),
]


@pytest.mark.parametrize(("settings_", "row", "at", "expected"), AFTER_FUNDING_TABLE)
def test_a_milestone_added_after_funding_needs_an_approval(
    settings_: dict[str, object], row: tuple, at: int, expected: str | None
) -> None:
    o = Order(**settings_)  # type: ignore[arg-type]
    completed, approved, by = row
    m = Ms(0, "COMPLETED", completed_at=completed, approved_at=approved, approved_by=by,
           added_after_funding=True)
    reason = model.milestone_release_reason(o, m, at)
    assert (None if reason is None else str(reason)) == expected
    # ... and it holds back every later milestone (strict order), window or not
    later = Ms(1, "COMPLETED", completed_at=0)
    got = [str(why) for _, why in model.releasable(o, [later, m], at)]
    later_reason = model.milestone_release_reason(o, later, at)
    if expected is None:
        assert got == []
    else:
        assert got == [expected] + ([] if later_reason is None else [str(later_reason)])


def test_added_after_funding_is_decided_by_the_order_being_funded() -> None:
    assert model.added_after_funding(Order()) is True
    assert model.added_after_funding(unfunded()) is False
    # A milestone planned before funding keeps the window (the payer saw it).
    m = Ms(0, "COMPLETED", completed_at=0)
    assert model.milestone_release_reason(Order(), m, 100) == ReleaseReason.WINDOW


def test_approval_rules() -> None:
    raises(
        lambda: model.check_can_approve_milestone(Order(), Ms(0, "RELEASED")),
        "Milestone already released",
    )
    raises(
        lambda: model.check_can_approve_milestone(Order(), Ms(0)),
        "Milestone must be COMPLETED to approve (status: PENDING)",
        code="invalid_status",
    )
    raises(
        lambda: model.check_can_approve_milestone(Order(buyer_address=None), Ms(0, "COMPLETED")),
        "This order has no payer address to approve with",
        code="invalid_status",
    )
    assert model.check_can_approve_milestone(Order(), Ms(0, "COMPLETED")) == "0x" + "ab" * 20


# --- refund coverage -------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "rows", "lost"),
    [
        (1000, [(0, 300), (1, 300), (2, 400)], []),
        (700, [(0, 300), (1, 300), (2, 400)], [2]),  # uncovered money goes first
        (500, [(2, 100), (0, 300), (1, 300)], [1, 2]),  # after the first loss, all later
        (0, [(0, 1), (1, 1)], [0, 1]),
        (600, [(0, 300), (1, 400), (2, 1)], [1, 2]),  # 2 would fit, strict order says no
    ],
)
def test_refunds_take_the_money_of_the_highest_indexes(
    held: int, rows: list[tuple[int, int]], lost: list[int]
) -> None:
    o = Order(funded_amount=held)
    ms = [Ms(i, amount=a) for i, a in rows]
    assert [m.milestone_index for m in model.uncovered_milestones(o, ms)] == lost


def test_released_and_cancelled_milestones_need_no_cover() -> None:
    ms = [Ms(0, "RELEASED", amount=500), Ms(1, "CANCELLED", amount=500), Ms(2, amount=100)]
    assert model.uncovered_milestones(Order(funded_amount=100), ms) == []


@pytest.mark.parametrize(
    ("order", "requested", "answer"),
    [
        (Order(), None, 1000 * M),
        (Order(), 5 * M, 5 * M),
        (Order(), 1000 * M + 1, "Refund amount exceeds the held amount of 1000.00"),
        (Order(funded_amount=0), None, "Nothing is held for this payment intent"),
        (
            Order(order_status="DISPUTED"),
            None,
            "Cannot refund while a dispute is open; resolve the dispute",
        ),
    ],
)
def test_refund_amounts(order: Order, requested: int | None, answer: int | str) -> None:
    if isinstance(answer, int):
        assert model.check_refund(order, requested) == answer
    else:
        code = "invalid_request" if "exceeds" in answer else "invalid_status"
        raises(lambda: model.check_refund(order, requested), answer, code=code)


# --- disputes: who may resolve how, and what each resolution does ----------------

AUTHORITY = [
    (Resolver.OPERATOR, Resolution.MERCHANT_WON, True),
    (Resolver.OPERATOR, Resolution.BUYER_WON, True),
    (Resolver.OPERATOR, Resolution.PARTIAL_REFUND, True),
    (Resolver.MERCHANT, Resolution.BUYER_WON, True),
    (Resolver.MERCHANT, Resolution.MERCHANT_WON, False),
    (Resolver.MERCHANT, Resolution.PARTIAL_REFUND, False),
    (Resolver.TIMEOUT, Resolution.BUYER_WON, True),
]


@pytest.mark.parametrize(("resolver", "resolution", "allowed"), AUTHORITY)
def test_the_merchant_alone_cannot_release_money_to_itself(
    resolver: Resolver, resolution: Resolution, allowed: bool
) -> None:
    if allowed:
        model.check_resolver(resolver, resolution)
        return
    with pytest.raises(Forbidden) as info:
        model.check_resolver(resolver, resolution)
    err = from_domain(info.value)
    assert (err.status_code, err.code, err.param) == (403, "forbidden", "resolution")
    assert err.error_type == "authentication_error"
    assert err.message.startswith("Only an operator can resolve a dispute")


@pytest.mark.parametrize(
    ("release_type", "resolution", "refund", "outcome"),
    [
        ("MILESTONE_LOCKED", Resolution.BUYER_WON, None, (700, False, False, False)),
        ("DELIVERY_PROOF", Resolution.BUYER_WON, None, (700, False, False, False)),
        ("MILESTONE_LOCKED", Resolution.PARTIAL_REFUND, 200, (200, True, True, False)),
        ("TIME_LOCKED", Resolution.PARTIAL_REFUND, 200, (200, True, True, False)),
        ("MILESTONE_LOCKED", Resolution.MERCHANT_WON, None, (0, False, False, True)),
        ("DELIVERY_PROOF", Resolution.MERCHANT_WON, None, (0, False, True, False)),
    ],
)
def test_resolution_outcomes(
    release_type: str, resolution: Resolution, refund: int | None, outcome: tuple
) -> None:
    o = Order(release_type=release_type, funded_amount=1000, released_amount=300)
    got = model.resolution_outcome(o, resolution, refund)
    assert (got.refund, got.cancel_open_milestones, got.release_rest, got.resume_milestones) == (
        outcome
    )


def test_resolution_checks() -> None:
    o = Order(funded_amount=1000 * M, released_amount=300 * M)
    raises(
        lambda: model.check_resolution(
            o, dispute_open=False, resolution=Resolution.BUYER_WON, refund_amount=None
        ),
        "No open dispute for this order",
        code="invalid_status",
    )
    raises(
        lambda: model.check_resolution(
            o, dispute_open=True, resolution=Resolution.PARTIAL_REFUND, refund_amount=None
        ),
        "refundAmount is required for PARTIAL_REFUND",
        param="refundAmount",
    )
    raises(
        lambda: model.check_resolution(
            o, dispute_open=True, resolution=Resolution.PARTIAL_REFUND, refund_amount=700 * M + 1
        ),
        "refundAmount exceeds the held amount of 700.00",
        param="refundAmount",
    )
    raises(
        lambda: model.check_resolution(
            o, dispute_open=True, resolution=Resolution.MERCHANT_WON, refund_amount=1
        ),
        "refundAmount is only valid with PARTIAL_REFUND",
        param="refundAmount",
    )


@pytest.mark.parametrize(
    ("status", "raised", "funded", "message"),
    [
        ("COMPLETED", False, True, "Cannot raise dispute: order is already completed"),
        ("CANCELLED", False, True, "Cannot raise dispute: order is cancelled"),
        ("PENDING", True, True, "Dispute already raised for this order"),
        ("PENDING", False, False, "Conditional payment is not funded yet"),
        ("DELIVERED", False, True, None),
    ],
)
def test_who_can_raise_a_dispute(
    status: str, raised: bool, funded: bool, message: str | None
) -> None:
    o = Order(order_status=status) if funded else unfunded(order_status=status)
    if message is None:
        model.check_can_raise_dispute(o, already_raised=raised)
    else:
        code = "invalid_request" if "already raised" in message else "invalid_status"
        raises(lambda: model.check_can_raise_dispute(o, already_raised=raised), message, code=code)


# --- timers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "until", "at", "due"),
    [
        ("PENDING", 100, 100, True),
        ("PENDING", 100, 99, False),
        ("DELIVERED", 100, 200, True),
        ("DISPUTED", 100, 200, False),  # a dispute decides the money
        ("COMPLETED", 100, 200, False),
        ("CANCELLED", 100, 200, False),
        ("PENDING", None, 200, False),
    ],
)
def test_time_lock_due(status: str, until: int | None, at: int, due: bool) -> None:
    assert model.time_lock_due(Order(order_status=status), until, at) is due


@pytest.mark.parametrize(
    ("status", "funded", "deadline", "at", "missed"),
    [
        ("PENDING", 1000, 50, 50, True),
        ("PENDING", 1000, 50, 49, False),
        ("DELIVERED", 1000, 50, 60, False),  # a proof came in time
        ("PENDING", 0, 50, 60, False),  # nothing held
        ("PENDING", 1000, None, 60, False),
    ],
)
def test_delivery_deadline(
    status: str, funded: int, deadline: int | None, at: int, missed: bool
) -> None:
    o = Order(order_status=status, funded_amount=funded)
    assert model.delivery_deadline_missed(o, deadline, at) is missed


@pytest.mark.parametrize(
    ("status", "delivered_at", "at", "passed"),
    [
        ("DELIVERED", 10, 110, True),
        ("DELIVERED", 10, 109, False),
        ("DISPUTED", 10, 500, False),
        ("DELIVERED", None, 500, False),
    ],
)
def test_delivery_window(status: str, delivered_at: int | None, at: int, passed: bool) -> None:
    assert model.delivery_window_passed(Order(order_status=status), delivered_at, at) is passed


@pytest.mark.parametrize(
    ("status", "order_funded", "message"),
    [
        (IS.SUCCEEDED, 0, "Cannot cancel a funded payment intent; refund it instead"),
        (IS.SETTLED, 0, "Cannot cancel a funded payment intent; refund it instead"),
        (IS.PROCESSING, 0, "Cannot transition from PROCESSING to CANCELED"),
        (IS.CANCELED, 0, "Cannot transition from CANCELED to CANCELED"),
        (IS.INITIATED, 5, "Cannot cancel a funded payment intent; refund it instead"),
        (IS.INITIATED, 0, None),
        (IS.REQUIRES_ACTION, 0, None),
    ],
)
def test_cancel_only_before_money_arrived(
    status: IntentStatus, order_funded: int, message: str | None
) -> None:
    o = Order(funded_amount=order_funded)
    if message is None:
        model.check_can_cancel(status, o)
    else:
        code = "invalid_state_transition" if "transition" in message else "invalid_request"
        raises(lambda: model.check_can_cancel(status, o), message, code=code)


# --- random creation sequences against an independent model ---------------------

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
    accepted: list[Ms] = []
    for index, amount, pct in sequence:
        o = with_rows(accepted, amount=total)
        duplicate = any(m.milestone_index == index for m in accepted)
        over = sum(m.amount for m in accepted) + amount > total
        exact = Decimal(amount) * 100 / Decimal(total)
        pct_bad = pct is not None and abs(exact - pct) > Decimal("0.01")
        try:
            bp = model.check_new_milestone(
                o, list(accepted), index=index, amount=amount, percentage=pct
            )
        except DomainError as exc:
            err = from_domain(exc)
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
        accepted.append(Ms(index, amount=amount))
        assert sum(m.amount for m in accepted) <= total
        assert len({m.milestone_index for m in accepted}) == len(accepted)


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=100))
def test_milestones_filling_the_order_exactly_are_all_accepted(parts: list[int]) -> None:
    total = sum(parts)
    assume(total <= MAX_AMOUNT_MICRO)
    accepted: list[Ms] = []
    for i, amount in enumerate(parts):
        model.check_new_milestone(
            with_rows(accepted, amount=total), accepted, index=i, amount=amount, percentage=None
        )
        accepted.append(Ms(i, amount=amount))
    raises(
        lambda: model.check_new_milestone(
            with_rows(accepted, amount=total),
            accepted,
            index=len(parts),
            amount=1,
            percentage=None,
        ),
    )


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["PENDING", "COMPLETED", "RELEASED", "CANCELLED"]), st.booleans()
        ),
        max_size=12,
    ),
    st.permutations(range(12)),
)
def test_releasable_never_skips_an_unreleased_milestone(
    statuses: list[tuple[str, bool]], order_: list[int]
) -> None:
    """Whatever order the rows come in, what is released is a prefix (by index) of
    the milestones not yet released or cancelled, every one of them COMPLETED."""
    rows = [
        Ms(order_[i], status, completed_at=0, approved_at=1 if approved else None)
        for i, (status, approved) in enumerate(statuses)
    ]
    got = [m.milestone_index for m, _ in model.releasable(Order(), rows, at=0)]
    waiting = sorted(m.milestone_index for m in rows if m.status in ("PENDING", "COMPLETED"))
    assert got == waiting[: len(got)]
    by_index = {m.milestone_index: m for m in rows}
    assert all(by_index[i].status == "COMPLETED" and by_index[i].approved_at for i in got)
    if len(got) < len(waiting):
        nxt = by_index[waiting[len(got)]]
        assert nxt.status == "PENDING" or nxt.approved_at is None
