"""Refunds: held money back to the payer. Money not covered by milestones goes
first; then unreleased milestones lose their money from the highest index down
and become CANCELLED. Never more than held."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain import ids
from ..domain import milestones as rules
from ..domain.money import format_amount
from ..escrow import repository as escrow_repo
from ..events.service import emit
from ..ledger import service as ledger
from ..models import ConditionalPayment, PaymentIntent, Refund
from ..release.schedules import order_now
from ..release.service import cancel_milestone, held
from ..settlement.service import maybe_mark_settled
from ..worker.jobs import cancel_jobs


def refund_data(refund: Refund, currency: str) -> dict[str, object]:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": format_amount(refund.amount),
        "currency": currency,
        "paymentIntentId": refund.payment_intent_id,
        "conditionalPaymentId": refund.conditional_payment_id,
        "reason": refund.reason,
        "status": "succeeded",
        "created": refund.created_at,
    }


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
    assert 0 < amount <= held(order), "refund must be positive and within the held amount"
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
    await _cancel_uncovered_milestones(session, order)
    if held(order) == 0:
        if order.order_status != "DISPUTED":
            order.order_status = "CANCELLED" if order.released_amount == 0 else "COMPLETED"
        await cancel_jobs(
            session,
            order.id,
            ("time_lock_release", "delivery_deadline", "order_release", "milestone_release"),
        )
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="refund.created",
        obj=refund_data(refund, order.currency),
    )
    await session.flush()
    await maybe_mark_settled(session, settings, intent, order)
    return refund


async def _cancel_uncovered_milestones(session: AsyncSession, order: ConditionalPayment) -> None:
    remaining = held(order)
    rows = await escrow_repo.milestones_of(session, order.id)
    open_rows = [m for m in rows if m.status in (rules.PENDING, rules.COMPLETED)]
    covered = 0
    for m in open_rows:  # index order: earlier milestones keep their money first
        if covered + m.amount <= remaining:
            covered += m.amount
            continue
        cancel_milestone(session, order, m)
        remaining = covered  # strict order: nothing after a cancelled one keeps money
