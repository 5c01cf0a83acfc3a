"""The payment aggregate's rules, pure: a payment intent and its conditional payment
(escrow order) with its milestones, delivery proof and dispute.

No framework, database or HTTP code: the functions read plain attributes (the
Protocols below; the ORM rows satisfy them) and either answer or raise a domain
error. Each rule lives here once; the use cases load and lock rows, ask these
functions, and write what they decide. Time is always passed in (`at`), never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol, TypeVar

from ..domain import currencies, money
from ..domain.errors import (
    Forbidden,
    InvalidRequest,
    InvalidStateTransition,
    InvalidStatus,
)
from ..domain.formats import clip

# --- statuses and their transition tables ---------------------------------------


class IntentStatus(StrEnum):
    INITIATED = "INITIATED"
    REQUIRES_SIGNATURE = "REQUIRES_SIGNATURE"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    SETTLED = "SETTLED"
    CANCELED = "CANCELED"
    REQUIRES_ACTION = "REQUIRES_ACTION"


INTENT_TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    IntentStatus.INITIATED: frozenset({IntentStatus.PROCESSING, IntentStatus.CANCELED}),
    IntentStatus.PROCESSING: frozenset({IntentStatus.SUCCEEDED, IntentStatus.REQUIRES_ACTION}),
    IntentStatus.SUCCEEDED: frozenset({IntentStatus.SETTLED, IntentStatus.REQUIRES_ACTION}),
    IntentStatus.REQUIRES_ACTION: frozenset(
        {IntentStatus.PROCESSING, IntentStatus.CANCELED, IntentStatus.SETTLED}
    ),
    IntentStatus.REQUIRES_SIGNATURE: frozenset(),
    IntentStatus.SETTLED: frozenset(),
    IntentStatus.CANCELED: frozenset(),
}
# Where money may arrive from. A declined card leaves the intent INITIATED (the
# decline is in its lastPaymentError); REQUIRES_ACTION follows a failed chain
# transaction or settlement, and the payer may pay again from it.
PAYABLE = (IntentStatus.INITIATED, IntentStatus.REQUIRES_ACTION)


class IntentType(StrEnum):
    DVP = "DELIVERY_VS_PAYMENT"
    CONDITIONAL = "CONDITIONAL"


TYPE_ALIASES = {"CONSENTED_PULL": IntentType.CONDITIONAL}
SETTLEMENT_METHODS = ("OFF_RAMP_MOCK", "OFF_RAMP_TO_RTP", "OFF_RAMP_TO_BANK")


class SettlementStatus(StrEnum):
    """The intent's payout progress (`settlementStatus` of an intent)."""

    PENDING = "PENDING"  # nothing paid out yet
    IN_PROGRESS = "IN_PROGRESS"  # money arrived; payouts running
    COMPLETED = "COMPLETED"  # everything released is paid out, nothing held


class OrderSettlementStatus(StrEnum):
    """The order's payout progress (`settlementStatus` of a conditional payment)."""

    NONE = "NONE"  # nothing released yet
    SCHEDULED = "SCHEDULED"  # a payout of released money is in flight
    CONFIRMED = "CONFIRMED"  # every released amount is paid out


class PayoutStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"


class Phase(StrEnum):
    """The steps of an intent's `phases` timeline."""

    SIGNATURE_VERIFICATION = "SIGNATURE_VERIFICATION"
    BLOCKCHAIN_CONFIRMATION = "BLOCKCHAIN_CONFIRMATION"
    ESCROW_LOCKED = "ESCROW_LOCKED"
    AWAITING_DELIVERY_PROOF = "AWAITING_DELIVERY_PROOF"
    SETTLEMENT = "SETTLEMENT"


class PhaseStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


def order_settlement_status(settled: int, released: int) -> OrderSettlementStatus:
    """After a payout: confirmed once every released amount is paid out."""
    if settled == released:
        return OrderSettlementStatus.CONFIRMED
    return OrderSettlementStatus.SCHEDULED


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DISPUTED = "DISPUTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


# A dispute returns the order to the status it had before (PENDING or DELIVERED);
# an order whose held money is gone ends COMPLETED (something was released) or
# CANCELLED (nothing was).
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.DELIVERED, OrderStatus.DISPUTED, OrderStatus.COMPLETED, OrderStatus.CANCELLED}
    ),
    OrderStatus.DELIVERED: frozenset(
        {OrderStatus.DISPUTED, OrderStatus.COMPLETED, OrderStatus.CANCELLED}
    ),
    OrderStatus.DISPUTED: frozenset({OrderStatus.PENDING, OrderStatus.DELIVERED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class MilestoneStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    RELEASED = "RELEASED"
    CANCELLED = "CANCELLED"  # the money behind it was refunded


MILESTONE_TRANSITIONS: dict[MilestoneStatus, frozenset[MilestoneStatus]] = {
    MilestoneStatus.PENDING: frozenset({MilestoneStatus.COMPLETED, MilestoneStatus.CANCELLED}),
    MilestoneStatus.COMPLETED: frozenset({MilestoneStatus.RELEASED, MilestoneStatus.CANCELLED}),
    MilestoneStatus.RELEASED: frozenset(),
    MilestoneStatus.CANCELLED: frozenset(),
}


class DisputeStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class Resolution(StrEnum):
    MERCHANT_WON = "MERCHANT_WON"
    BUYER_WON = "BUYER_WON"
    PARTIAL_REFUND = "PARTIAL_REFUND"


class ReleaseType(StrEnum):
    DELIVERY_PROOF = "DELIVERY_PROOF"
    TIME_LOCKED = "TIME_LOCKED"
    MILESTONE_LOCKED = "MILESTONE_LOCKED"
    AUTO_RELEASE = "AUTO_RELEASE"


# Release types that end with a delivery proof (and so have a delivery deadline).
PROOF_TYPES = (ReleaseType.DELIVERY_PROOF, ReleaseType.AUTO_RELEASE)


class ReleaseReason(StrEnum):
    """Why money left escrow for the merchant (a milestone's `releasedBy`, an
    order release event's `reason`)."""

    AUTO = "auto_release"
    APPROVAL = "payer_approval"
    WINDOW = "dispute_window"
    DELIVERY_PROOF = "delivery_proof"
    TIME_LOCK = "time_lock"
    DISPUTE_RESOLUTION = "dispute_resolution"
    OPERATOR = "operator_approval"


class Approver(StrEnum):
    """Who approved a milestone's release (a COMPLETED milestone's `approvedBy`)."""

    PAYER_SIGNATURE = "payer_signature"  # EIP-712 approval typed data
    PAYER_SECRET = "payer_client_secret"  # the payer's client secret (page or JSON)
    OPERATOR = "operator"


class JobKind(StrEnum):
    """Every kind of durable timer; one handler each (payments/jobs.py)."""

    CHAIN_CONFIRM = "chain_confirm"
    TIME_LOCK = "time_lock_release"
    DELIVERY_DEADLINE = "delivery_deadline"
    MILESTONE_RELEASE = "milestone_release"
    ORDER_RELEASE = "order_release"
    DISPUTE_TIMEOUT = "dispute_timeout"
    SETTLE = "settle"


# Timers that only release money: pointless once nothing is held.
RELEASE_TIMERS = (
    JobKind.TIME_LOCK,
    JobKind.DELIVERY_DEADLINE,
    JobKind.ORDER_RELEASE,
    JobKind.MILESTONE_RELEASE,
)

S = TypeVar("S", bound=StrEnum)


def check_transition(table: dict[S, frozenset[S]], current: str, target: S) -> S:
    """`target` if the table allows current -> target, else the documented 400."""
    allowed = table.get(current, frozenset())  # type: ignore[call-overload]
    if target not in allowed:
        raise InvalidStateTransition(current, target)
    return target


# --- what the rules read (ORM rows satisfy these) --------------------------------


class Order(Protocol):
    currency: str
    amount: int
    funded_amount: int
    released_amount: int
    refunded_amount: int
    milestone_total: int
    milestone_count: int
    release_type: str
    auto_release: bool
    order_status: str
    funded_at: int | None
    dispute_window: int
    clock_offset: int
    buyer_address: str | None


class MilestoneLike(Protocol):
    milestone_index: int
    status: str
    amount: int
    completed_at: int | None
    approved_at: int | None
    approved_by: str | None
    # Created while the order was already funded: the payer never saw it when paying.
    added_after_funding: bool


M = TypeVar("M", bound=MilestoneLike)

# --- money -----------------------------------------------------------------------


def check_precision(amount: int, currency: str, param: str) -> None:
    """A fiat amount may not be finer than its currency's minor unit (JPY "1000.5")."""
    problem = currencies.precision_error(amount, currency)
    if problem is not None:
        raise InvalidRequest(problem, param=param)


def show(amount: int, order: Order) -> str:
    return money.format_amount(amount, order.currency)


def held(order: Order) -> int:
    """Money in escrow for this order: funded - released - refunded (never < 0)."""
    return order.funded_amount - order.released_amount - order.refunded_amount


def status_when_emptied(order: Order) -> OrderStatus:
    """The end status of an order whose held money is gone."""
    return OrderStatus.COMPLETED if order.released_amount > 0 else OrderStatus.CANCELLED


# --- the order's clock -----------------------------------------------------------


def order_now(order: Order, wall_now: int) -> int:
    """The order's time: wall-clock time plus what the test clock moved it by."""
    return wall_now + order.clock_offset


def wall_time(order: Order, order_time: int) -> int:
    """An instant on the order's clock as a wall-clock due time."""
    return order_time - order.clock_offset


# --- guards, one message per action ----------------------------------------------


class Action(StrEnum):
    CREATE_MILESTONE = "create_milestone"
    COMPLETE_MILESTONE = "complete_milestone"
    RELEASE = "release"
    REFUND = "refund"


_DISPUTE_OPEN_MESSAGES = {
    Action.CREATE_MILESTONE: "Cannot create milestone for order with status: DISPUTED",
    Action.COMPLETE_MILESTONE: "Cannot complete a milestone while a dispute is open",
    Action.RELEASE: "Cannot release funds while a dispute is open",
    Action.REFUND: "Cannot refund while a dispute is open; resolve the dispute",
}


def is_disputed(order: Order) -> bool:
    return order.order_status == OrderStatus.DISPUTED


def check_not_disputed(order: Order, action: Action) -> None:
    """A dispute freezes every change of an order but its resolution."""
    if is_disputed(order):
        raise InvalidStatus(_DISPUTE_OPEN_MESSAGES[action])


def check_funded(order: Order) -> None:
    if order.funded_at is None:
        raise InvalidStatus("Conditional payment is not funded yet")


def check_payer_can_approve(order: Order) -> str:
    """The address whose EIP-712 signature approves a release."""
    if not order.buyer_address:
        raise InvalidStatus("This order has no payer address to approve with")
    return order.buyer_address


# --- milestones ------------------------------------------------------------------

MAX_MILESTONES_PER_ORDER = 100
MAX_MILESTONE_INDEX = 999


def check_new_milestone(
    order: Order,
    existing: Iterable[MilestoneLike],
    *,
    index: int,
    amount: int,
    percentage: Decimal | None,
) -> int:
    """Raise the documented 400 for a milestone that may not be created; return
    its percentage in hundredths of a percent. `existing` needs only the order's
    milestone with this index (if any) and its completed or released ones."""
    if order.release_type != ReleaseType.MILESTONE_LOCKED:
        raise InvalidRequest(
            f"Cannot create milestone for order with release type: {order.release_type}"
        )
    check_not_disputed(order, Action.CREATE_MILESTONE)
    if order.order_status in (OrderStatus.CANCELLED, OrderStatus.COMPLETED):
        raise InvalidStatus(f"Cannot create milestone for order with status: {order.order_status}")
    rows = list(existing)
    if any(m.milestone_index == index for m in rows):
        raise InvalidRequest(f"Milestone with index {index} already exists", param="milestoneIndex")
    if order.milestone_count >= MAX_MILESTONES_PER_ORDER:
        raise InvalidRequest(
            f"An order can have at most {MAX_MILESTONES_PER_ORDER} milestones",
            param="milestoneIndex",
        )
    done = [
        m.milestone_index
        for m in rows
        if m.status in (MilestoneStatus.COMPLETED, MilestoneStatus.RELEASED)
    ]
    if done and index < max(done):
        raise InvalidRequest(
            f"Milestone index {index} is below already completed milestone index {max(done)}",
            param="milestoneIndex",
        )
    check_precision(amount, order.currency, "amount")
    if order.milestone_total + amount > order.amount - order.refunded_amount:
        raise InvalidRequest("Total milestone amounts exceed escrow order amount", param="amount")
    if percentage is None:
        return int(money.percentage_of(amount, order.amount) * 100)
    if not money.percentage_agrees(percentage, amount, order.amount):
        expected = money.percentage_of(amount, order.amount)
        raise InvalidRequest(
            f"percentage {clip(percentage)} does not match amount {show(amount, order)} "
            f"of order amount {show(order.amount, order)} (expected {expected})",
            param="percentage",
        )
    return int(percentage.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def in_index_order(rows: Iterable[M]) -> list[M]:
    """Milestones in strict index order: the only order any rule looks at them in."""
    return sorted(rows, key=lambda m: m.milestone_index)


def _first_unfinished_before(rows: Iterable[MilestoneLike], index: int) -> int | None:
    """The lowest index before `index` that is neither completed nor released
    (cancelled milestones are skipped: their money is gone)."""
    for m in in_index_order(rows):
        if m.milestone_index >= index:
            return None
        if m.status == MilestoneStatus.PENDING:
            return m.milestone_index
    return None


def check_can_complete(order: Order, rows: Iterable[MilestoneLike], target: MilestoneLike) -> None:
    check_funded(order)
    check_not_disputed(order, Action.COMPLETE_MILESTONE)
    if target.status == MilestoneStatus.COMPLETED:
        raise InvalidRequest("Milestone already completed")
    if target.status == MilestoneStatus.RELEASED:
        raise InvalidRequest("Milestone already released")
    if target.status == MilestoneStatus.CANCELLED:
        raise InvalidStatus("Milestone is cancelled")
    blocking = _first_unfinished_before(rows, target.milestone_index)
    if blocking is not None:
        raise InvalidRequest(f"Previous milestone (index {blocking}) must be completed first")


def check_milestone_approvable(order: Order, target: MilestoneLike) -> None:
    """A COMPLETED milestone of a funded, undisputed order may be approved (by the
    payer's signature, the payer's client secret or an operator)."""
    check_funded(order)
    check_not_disputed(order, Action.RELEASE)
    if target.status == MilestoneStatus.RELEASED:
        raise InvalidRequest("Milestone already released")
    if target.status != MilestoneStatus.COMPLETED:
        raise InvalidStatus(f"Milestone must be COMPLETED to approve (status: {target.status})")


def check_can_approve_milestone(order: Order, target: MilestoneLike) -> str:
    """The payer may approve a COMPLETED milestone; returns the approving address."""
    check_milestone_approvable(order, target)
    return check_payer_can_approve(order)


def added_after_funding(order: Order) -> bool:
    """Is a milestone created now created after the payer paid (and so never seen
    by the payer when paying)? Decided under the order's lock at creation."""
    return order.funded_at is not None


def milestone_release_reason(order: Order, m: MilestoneLike, at: int) -> ReleaseReason | None:
    """Why a COMPLETED milestone may be released now (order time `at`), if it may.
    The merchant alone never releases: the terms (autoRelease), the payer, an
    operator, or time. Time (the dispute window's silence) releases only what the
    payer agreed to by paying: a milestone added after funding needs an approval,
    and so does autoRelease (the payer's terms never covered it)."""
    approval = None
    if m.approved_at is not None:
        operator = m.approved_by == Approver.OPERATOR
        approval = ReleaseReason.OPERATOR if operator else ReleaseReason.APPROVAL
    if m.added_after_funding:
        return approval
    if order.auto_release:
        return ReleaseReason.AUTO
    if approval is not None:
        return approval
    if m.completed_at is not None and m.completed_at + order.dispute_window <= at:
        return ReleaseReason.WINDOW
    return None


def releasable(order: Order, rows: Iterable[M], at: int) -> Iterator[tuple[M, ReleaseReason]]:
    """The milestones to release now, strictly in index order: skip released and
    cancelled ones, stop at the first that is not COMPLETED or not yet releasable.
    Nothing while a dispute is open or before funding. Lazy: the caller releases
    each before the next is looked at."""
    if is_disputed(order) or order.funded_at is None:
        return
    for m in in_index_order(rows):
        if m.status in (MilestoneStatus.RELEASED, MilestoneStatus.CANCELLED):
            continue
        if m.status != MilestoneStatus.COMPLETED:
            return
        reason = milestone_release_reason(order, m, at)
        if reason is None:
            return
        yield m, reason


def covered(order: Order, amount: int) -> bool:
    """Is `amount` still held (refunds may have taken the money behind a milestone)?"""
    return amount <= held(order)


def uncovered_milestones(order: Order, rows: Iterable[M]) -> list[M]:
    """After a refund: the open (PENDING/COMPLETED) milestones the held money no
    longer covers. Earlier indexes keep their money first; after the first that
    loses it, every later one does too (strict order)."""
    remaining = held(order)
    covered_so_far = 0
    lost: list[M] = []
    for m in in_index_order(rows):
        if m.status not in (MilestoneStatus.PENDING, MilestoneStatus.COMPLETED):
            continue
        if not lost and covered_so_far + m.amount <= remaining:
            covered_so_far += m.amount
            continue
        lost.append(m)
    return lost


def open_milestones(rows: Iterable[M]) -> list[M]:
    return [
        m
        for m in in_index_order(rows)
        if m.status in (MilestoneStatus.PENDING, MilestoneStatus.COMPLETED)
    ]


# --- delivery, time lock ---------------------------------------------------------


def check_can_submit_proof(
    order: Order, *, deadline: int | None, at: int, expected_hash: str | None, proof_hash: str
) -> None:
    if order.release_type not in PROOF_TYPES:
        raise InvalidRequest(
            f"Cannot submit delivery proof for order with release type: {order.release_type}"
        )
    check_funded(order)
    if order.order_status != OrderStatus.PENDING:
        raise InvalidStatus(
            f"Cannot submit delivery proof: order status is {order.order_status}, must be PENDING"
        )
    if deadline is not None and at > deadline:
        raise InvalidStatus(
            "Cannot submit delivery proof: the delivery deadline has passed; "
            "the payer is being refunded"
        )
    if expected_hash and proof_hash.lower() != expected_hash:
        raise InvalidRequest(
            "proofHash does not match the expectedDeliveryHash of this order", param="proofHash"
        )


def check_delivery_approvable(order: Order) -> None:
    check_funded(order)
    check_not_disputed(order, Action.RELEASE)
    if order.order_status != OrderStatus.DELIVERED:
        raise InvalidStatus(
            f"Cannot approve release: order status is {order.order_status}, must be DELIVERED"
        )


def check_can_approve_delivery(order: Order) -> str:
    check_delivery_approvable(order)
    return check_payer_can_approve(order)


def delivery_window_passed(order: Order, delivered_at: int | None, at: int) -> bool:
    """A delivered order's dispute window ended without a dispute."""
    return (
        order.order_status == OrderStatus.DELIVERED
        and delivered_at is not None
        and delivered_at + order.dispute_window <= at
    )


def time_lock_due(order: Order, time_lock_until: int | None, at: int) -> bool:
    """The time lock releases everything held, unless a dispute decides the money
    (its resolution releases or refunds it) or the order is over."""
    if order.order_status in (OrderStatus.DISPUTED, OrderStatus.COMPLETED, OrderStatus.CANCELLED):
        return False
    return time_lock_until is not None and time_lock_until <= at


def delivery_deadline_missed(order: Order, deadline: int | None, at: int) -> bool:
    """No proof by the deadline: the payer gets the held money back."""
    return (
        order.order_status == OrderStatus.PENDING
        and held(order) > 0
        and deadline is not None
        and deadline <= at
    )


# --- disputes --------------------------------------------------------------------


def check_can_raise_dispute(order: Order, *, already_raised: bool) -> None:
    if order.order_status == OrderStatus.COMPLETED:
        raise InvalidStatus("Cannot raise dispute: order is already completed")
    if order.order_status == OrderStatus.CANCELLED:
        raise InvalidStatus("Cannot raise dispute: order is cancelled")
    if already_raised:
        raise InvalidRequest("Dispute already raised for this order")
    check_funded(order)


class Resolver(StrEnum):
    """Who resolved a dispute (the dispute's `resolvedBy`)."""

    OPERATOR = "operator"
    MERCHANT = "merchant"
    TIMEOUT = "timeout"


# Who may choose each resolution. The merchant may only concede: MERCHANT_WON pays
# it, and PARTIAL_REFUND releases the rest of the held money to it (a tiny
# refundAmount would release almost everything, skipping every release condition).
RESOLUTION_AUTHORITY: dict[Resolution, frozenset[Resolver]] = {
    Resolution.BUYER_WON: frozenset({Resolver.OPERATOR, Resolver.MERCHANT, Resolver.TIMEOUT}),
    Resolution.MERCHANT_WON: frozenset({Resolver.OPERATOR}),
    Resolution.PARTIAL_REFUND: frozenset({Resolver.OPERATOR}),
}
_REFUSED_RESOLUTION = {
    Resolution.MERCHANT_WON: "Only an operator can resolve a dispute in the merchant's favour",
    Resolution.PARTIAL_REFUND: "Only an operator can resolve a dispute with PARTIAL_REFUND: "
    "it releases the rest of the held money to the merchant",
}


def check_resolver(resolver: Resolver, resolution: Resolution) -> None:
    if resolver not in RESOLUTION_AUTHORITY[resolution]:
        raise Forbidden(_REFUSED_RESOLUTION[resolution], param="resolution")


def check_resolution(
    order: Order,
    *,
    dispute_open: bool,
    resolution: Resolution,
    refund_amount: int | None,
) -> None:
    """The resolution's own rules, once the resolver may choose it."""
    if not dispute_open:
        raise InvalidStatus("No open dispute for this order")
    if resolution == Resolution.PARTIAL_REFUND:
        if refund_amount is None:
            raise InvalidRequest(
                "refundAmount is required for PARTIAL_REFUND", param="refundAmount"
            )
        check_precision(refund_amount, order.currency, "refundAmount")
        if refund_amount > held(order):
            raise InvalidRequest(
                f"refundAmount exceeds the held amount of {show(held(order), order)}",
                param="refundAmount",
            )
    elif refund_amount is not None:
        raise InvalidRequest("refundAmount is only valid with PARTIAL_REFUND", param="refundAmount")


@dataclass(frozen=True)
class Settlement:
    """What a resolution does with the held money, in this order."""

    refund: int  # refunded to the payer first
    cancel_open_milestones: bool
    release_rest: bool  # release everything still held to the merchant
    resume_milestones: bool  # milestone release paths continue where they were


def resolution_outcome(
    order: Order, resolution: Resolution, refund_amount: int | None
) -> Settlement:
    if resolution == Resolution.BUYER_WON:
        return Settlement(held(order), False, False, False)
    if resolution == Resolution.PARTIAL_REFUND:
        return Settlement(refund_amount or 0, True, True, False)
    if order.release_type == ReleaseType.MILESTONE_LOCKED:
        return Settlement(0, False, False, True)  # dismissed: milestones resume
    return Settlement(0, False, True, False)


# --- refunds and cancellation ----------------------------------------------------


def check_refund(order: Order, requested: int | None) -> int:
    """The amount a merchant refund moves: `requested` or everything held."""
    check_not_disputed(order, Action.REFUND)
    available = held(order)
    if available <= 0:
        raise InvalidStatus("Nothing is held for this payment intent")
    amount = available if requested is None else requested
    check_precision(amount, order.currency, "amount")
    if amount > available:
        raise InvalidRequest(
            f"Refund amount exceeds the held amount of {show(available, order)}",
            param="amount",
        )
    return amount


FUNDED_CANCEL_MESSAGE = "Cannot cancel a funded payment intent; refund it instead"


def check_can_cancel(intent_status: str, order: Order | None) -> None:
    """Only before any money arrived."""
    if intent_status in (IntentStatus.SUCCEEDED, IntentStatus.SETTLED):
        raise InvalidRequest(FUNDED_CANCEL_MESSAGE)
    if intent_status not in PAYABLE:
        check_transition(INTENT_TRANSITIONS, intent_status, IntentStatus.CANCELED)
    if order is not None and order.funded_amount > 0:
        raise InvalidRequest(FUNDED_CANCEL_MESSAGE)
