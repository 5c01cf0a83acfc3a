"""Milestone rules (pure): creation checks, and the strict index order of
completion and release. PENDING -> COMPLETED -> RELEASED; CANCELLED when the
money behind it was refunded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ..errors import InvalidRequest, InvalidStatus
from . import money

PENDING = "PENDING"
COMPLETED = "COMPLETED"
RELEASED = "RELEASED"
CANCELLED = "CANCELLED"
MAX_PER_ORDER = 100
MAX_INDEX = 999


@dataclass(frozen=True)
class OrderView:
    release_type: str
    order_status: str
    amount: int
    refunded_amount: int
    milestone_total: int
    milestone_count: int


@dataclass(frozen=True)
class MilestoneView:
    index: int
    status: str
    amount: int


def check_new_milestone(
    order: OrderView,
    existing: Iterable[MilestoneView],
    *,
    index: int,
    amount: int,
    percentage: Decimal | None,
) -> int:
    """Raise the documented 400 for a milestone that may not be created; return
    its percentage in hundredths of a percent."""
    if order.release_type != "MILESTONE_LOCKED":
        raise InvalidRequest(
            f"Cannot create milestone for order with release type: {order.release_type}"
        )
    if order.order_status in ("CANCELLED", "COMPLETED", "DISPUTED"):
        raise InvalidStatus(f"Cannot create milestone for order with status: {order.order_status}")
    rows = list(existing)
    if any(m.index == index for m in rows):
        raise InvalidRequest(f"Milestone with index {index} already exists", param="milestoneIndex")
    if order.milestone_count >= MAX_PER_ORDER:
        raise InvalidRequest(
            f"An order can have at most {MAX_PER_ORDER} milestones", param="milestoneIndex"
        )
    done = [m.index for m in rows if m.status in (COMPLETED, RELEASED)]
    if done and index < max(done):
        raise InvalidRequest(
            f"Milestone index {index} is below already completed milestone index {max(done)}",
            param="milestoneIndex",
        )
    if order.milestone_total + amount > order.amount - order.refunded_amount:
        raise InvalidRequest("Total milestone amounts exceed escrow order amount", param="amount")
    if percentage is None:
        return int(money.percentage_of(amount, order.amount) * 100)
    if not money.percentage_agrees(percentage, amount, order.amount):
        expected = money.percentage_of(amount, order.amount)
        raise InvalidRequest(
            f"percentage {percentage} does not match amount {money.format_amount(amount)} "
            f"of order amount {money.format_amount(order.amount)} (expected {expected})",
            param="percentage",
        )
    return int(percentage.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def previous_unfinished(
    rows: Iterable[MilestoneView], index: int, *, need: tuple[str, ...]
) -> int | None:
    """The lowest index before `index` whose status is not in `need` (cancelled
    milestones are skipped: their money is gone)."""
    blocking = [
        m.index for m in rows if m.index < index and m.status != CANCELLED and m.status not in need
    ]
    return min(blocking) if blocking else None


def check_can_complete(rows: Iterable[MilestoneView], target: MilestoneView) -> None:
    if target.status == COMPLETED:
        raise InvalidRequest("Milestone already completed")
    if target.status == RELEASED:
        raise InvalidRequest("Milestone already released")
    if target.status == CANCELLED:
        raise InvalidStatus("Milestone is cancelled")
    blocking = previous_unfinished(rows, target.index, need=(COMPLETED, RELEASED))
    if blocking is not None:
        raise InvalidRequest(f"Previous milestone (index {blocking}) must be completed first")


def next_releasable(rows: Iterable[MilestoneView]) -> MilestoneView | None:
    """The next milestone to release in strict index order, if it is COMPLETED."""
    ordered = sorted((m for m in rows if m.status != CANCELLED), key=lambda m: m.index)
    for m in ordered:
        if m.status == RELEASED:
            continue
        return m if m.status == COMPLETED else None
    return None
