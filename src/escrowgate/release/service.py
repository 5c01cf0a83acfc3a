"""Release: money from escrow to the merchant. Milestones go strictly in index
order, each when it is COMPLETED and one of these holds, and no dispute is open:
the order has autoRelease; the payer approved it (EIP-712 from the funding
address); or its dispute window (from completion) has passed. The merchant alone
cannot release money to itself."""

from __future__ import annotations

from eth_utils.crypto import keccak
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain import milestones as rules
from ..domain.money import format_amount
from ..errors import InvalidStatus
from ..escrow import repository as escrow_repo
from ..escrow.render import milestone_data
from ..events.service import emit, emit_order_event
from ..ledger import service as ledger
from ..models import ConditionalPayment, Milestone, PaymentIntent
from ..settlement.service import start_settlement
from .schedules import order_now

AUTO = "auto_release"
APPROVAL = "payer_approval"
WINDOW = "dispute_window"


def held(order: ConditionalPayment) -> int:
    return order.funded_amount - order.released_amount - order.refunded_amount


def cancel_milestone(session: AsyncSession, order: ConditionalPayment, m: Milestone) -> None:
    """The money behind a milestone is gone (refunded): it becomes CANCELLED and no
    longer counts toward the order's milestone total (it still counts toward the
    100-milestone limit, and its index stays taken)."""
    m.status = rules.CANCELLED
    m.updated_at = order_now(order)
    order.milestone_total -= m.amount
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.cancelled",
        obj=milestone_data(m),
    )


def check_not_disputed(order: ConditionalPayment) -> None:
    if order.order_status == "DISPUTED":
        raise InvalidStatus("Cannot release funds while a dispute is open")


def _release_reason(order: ConditionalPayment, m: Milestone, at: int) -> str | None:
    if order.auto_release:
        return AUTO
    if m.approved_at is not None:
        return APPROVAL
    if m.completed_at is not None and m.completed_at + order.dispute_window <= at:
        return WINDOW
    return None


async def release_ready_milestones(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    rows: list[Milestone] | None = None,
) -> list[Milestone]:
    """Release, in index order, every milestone whose release condition holds;
    stop at the first that is not ready. The order row is locked by the caller,
    who may pass the order's milestones it already loaded under that lock."""
    if order.order_status == "DISPUTED" or order.funded_at is None:
        return []
    at = order_now(order)
    released: list[Milestone] = []
    if rows is None:
        rows = await escrow_repo.milestones_of(session, order.id)
    for m in rows:
        if m.status in (rules.RELEASED, rules.CANCELLED):
            continue
        if m.status != rules.COMPLETED:
            break
        reason = _release_reason(order, m, at)
        if reason is None:
            break
        await _release_milestone(session, settings, intent, order, m, reason, at)
        released.append(m)
    return released


async def _release_milestone(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    m: Milestone,
    reason: str,
    at: int,
) -> None:
    if m.amount > held(order):  # refunds took the money: nothing left to release
        cancel_milestone(session, order, m)
        return
    m.status = rules.RELEASED
    m.released_at = at
    m.released_by = reason
    m.release_tx_hash = "0x" + keccak(text=f"release:{m.id}").hex()
    m.updated_at = at
    order.released_amount += m.amount
    order.released_at = at
    order.updated_at = at
    where = ledger.Posting(order.merchant_id, order.mode, order.currency, intent.id, order.id)
    ledger.post(session, where, ledger.RELEASE, m.amount, reference_id=m.id)
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.released",
        obj=milestone_data(m),
    )
    await _after_release(session, settings, intent, order, m.amount, milestone_id=m.id)


async def release_order_in_full(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    *,
    reason: str,
) -> int:
    """Release everything still held (delivery proof, time lock, dispute won)."""
    amount = held(order)
    if amount <= 0:
        return 0
    at = order_now(order)
    order.released_amount += amount
    order.released_at = at
    order.updated_at = at
    where = ledger.Posting(order.merchant_id, order.mode, order.currency, intent.id, order.id)
    ledger.post(session, where, ledger.RELEASE, amount, reference_id=order.id)
    event = "time_lock.released" if reason == "time_lock" else "escrow_order.released"
    emit_order_event(
        session,
        order,
        event,
        amount=format_amount(amount),
        currency=order.currency,
        reason=reason,
    )
    await _after_release(session, settings, intent, order, amount, milestone_id=None)
    return amount


async def _after_release(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    amount: int,
    *,
    milestone_id: str | None,
) -> None:
    if held(order) == 0 and order.order_status != "DISPUTED":
        order.order_status = "COMPLETED"
    await start_settlement(session, settings, intent, order, amount, milestone_id=milestone_id)
