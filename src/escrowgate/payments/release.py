"""Release: money from escrow to the merchant, and the timers funding sets in
motion. What may be released, and why, is the model's (`releasable`); this module
writes it: the milestone or order rows, the RELEASE posting, the event, the payout.
The intent and order rows are locked by the caller."""

from __future__ import annotations

from eth_utils.crypto import keccak
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain.clock import now
from ..domain.money import format_amount
from ..ledger import service as ledger
from ..models import ConditionalPayment, Milestone, PaymentIntent
from ..worker.jobs import schedule
from . import model, repository
from .lifecycle import emit_order_event, move_milestone, move_order
from .settlement import start_settlement


def order_now(order: ConditionalPayment) -> int:
    return model.order_now(order, now())


def schedule_for_order(
    session: AsyncSession,
    order: ConditionalPayment,
    kind: model.JobKind,
    target_id: str,
    order_time: int,
) -> None:
    """A timer due at `order_time` on the order's clock."""
    schedule(
        session,
        kind=kind,
        merchant_id=order.merchant_id,
        mode=order.mode,
        target_id=target_id,
        order_id=order.id,
        due_at=model.wall_time(order, order_time),
    )


async def schedule_after_funding(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, order: ConditionalPayment
) -> None:
    if order.release_type == model.ReleaseType.TIME_LOCKED and order.time_lock_until is not None:
        if order.time_lock_until <= order_now(order):
            await release_order_in_full(
                session, settings, intent, order, reason=model.ReleaseReason.TIME_LOCK
            )
        else:
            schedule_for_order(
                session, order, model.JobKind.TIME_LOCK, order.id, order.time_lock_until
            )
    elif order.release_type in model.PROOF_TYPES and order.delivery_deadline:
        schedule_for_order(
            session, order, model.JobKind.DELIVERY_DEADLINE, order.id, order.delivery_deadline
        )


def cancel_milestone(session: AsyncSession, order: ConditionalPayment, m: Milestone) -> None:
    """The money behind a milestone is gone (refunded): it becomes CANCELLED and no
    longer counts toward the order's milestone total (it still counts toward the
    100-milestone limit, and its index stays taken)."""
    move_milestone(
        session, order, m, model.MilestoneStatus.CANCELLED, order_now(order), "milestone.cancelled"
    )
    order.milestone_total -= m.amount


async def release_ready_milestones(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    rows: list[Milestone] | None = None,
) -> None:
    """Release every milestone the model says is releasable now, in index order.
    The caller may pass the order's milestones it already loaded under the lock."""
    if rows is None:
        rows = await repository.milestones_of(session, order.id)
    at = order_now(order)
    for m, reason in model.releasable(order, rows, at):
        if not model.covered(order, m.amount):  # refunds took the money behind it
            cancel_milestone(session, order, m)
            continue
        await _release_milestone(session, settings, intent, order, m, reason, at)


async def _release_milestone(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    m: Milestone,
    reason: model.ReleaseReason,
    at: int,
) -> None:
    m.released_at = at
    m.released_by = reason
    m.release_tx_hash = "0x" + keccak(text=f"release:{m.id}").hex()
    order.released_amount += m.amount
    order.released_at = at
    order.updated_at = at
    where = ledger.Posting(order.merchant_id, order.mode, order.currency, intent.id, order.id)
    ledger.post(session, where, ledger.RELEASE, m.amount, reference_id=m.id)
    move_milestone(session, order, m, model.MilestoneStatus.RELEASED, at, "milestone.released")
    await _after_release(session, settings, intent, order, m.amount, milestone_id=m.id)


async def release_order_in_full(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    *,
    reason: model.ReleaseReason,
) -> int:
    """Release everything still held (delivery proof, time lock, dispute decision)."""
    amount = model.held(order)
    if amount <= 0:
        return 0
    at = order_now(order)
    order.released_amount += amount
    order.released_at = at
    order.updated_at = at
    where = ledger.Posting(order.merchant_id, order.mode, order.currency, intent.id, order.id)
    ledger.post(session, where, ledger.RELEASE, amount, reference_id=order.id)
    event = (
        "time_lock.released" if reason == model.ReleaseReason.TIME_LOCK else "escrow_order.released"
    )
    emit_order_event(
        session,
        order,
        event,
        amount=format_amount(amount, order.currency),
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
    if model.held(order) == 0 and not model.is_disputed(order):
        move_order(order, model.OrderStatus.COMPLETED, order.updated_at)
    await start_settlement(session, settings, intent, order, amount, milestone_id=milestone_id)
