"""Refunds: held money back to the payer. Money not covered by milestones goes
first; then unreleased milestones lose their money from the highest index down
and become CANCELLED (the model's `uncovered_milestones`). Never more than held."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..domain import ids
from ..events.service import emit
from ..ledger import service as ledger
from ..models import ConditionalPayment, PaymentIntent, Refund
from ..worker.jobs import cancel_jobs
from . import model, repository
from .lifecycle import move_order
from .release import cancel_milestone, order_now
from .render import refund_wire
from .settlement import maybe_mark_settled


async def refund(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    *,
    amount: int | None,
    reason: str | None,
) -> tuple[Refund, ConditionalPayment]:
    """The merchant returns `amount` (default: everything held) to the payer."""
    intent, order = await repository.owned_order(session, caller, intent_id, lock=True)
    to_refund = model.check_refund(order, amount)
    done = await refund_held(
        session, settings, intent, order, to_refund, reason=reason or "requested_by_merchant"
    )
    return done, order


async def refund_held(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    amount: int,
    *,
    reason: str,
) -> Refund:
    """Move `amount` (0 < amount <= held) from escrow back to the payer. The intent
    and order rows are locked by the caller."""
    assert 0 < amount <= model.held(order), "refund must be positive and within the held amount"
    at = order_now(order)
    order.refunded_amount += amount
    order.updated_at = at
    refund = Refund(
        id=ids.new_id(ids.REFUND),
        conditional_payment_id=order.id,
        payment_intent_id=intent.id,
        merchant_id=order.merchant_id,
        amount=amount,
        reason=reason,
        created_at=at,
    )
    session.add(refund)
    where = ledger.Posting(order.merchant_id, order.mode, order.currency, intent.id, order.id)
    ledger.post(session, where, ledger.REFUND, amount, reference_id=refund.id)
    rows = await repository.milestones_of(session, order.id)
    for m in model.uncovered_milestones(order, rows):
        cancel_milestone(session, order, m)
    if model.held(order) == 0:
        if not model.is_disputed(order):
            move_order(order, model.status_when_emptied(order), at)
        await cancel_jobs(session, order.id, model.RELEASE_TIMERS)
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="refund.created",
        obj=refund_wire(refund, order.currency),
    )
    await session.flush()
    await maybe_mark_settled(session, settings, intent, order)
    return refund
