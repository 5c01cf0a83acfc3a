"""Settlement: each release is paid out to the intent's settlementDestination by its
settlementMethod. In sandbox every method is a mock rail that confirms after
OFF_RAMP_MOCK_DELAY seconds (0: at once, in the releasing transaction)."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain import ids
from ..domain.clock import now
from ..domain.money import format_amount
from ..events.service import emit
from ..ledger import service as ledger
from ..models import ConditionalPayment, PaymentIntent, Settlement
from ..worker.jobs import schedule
from . import model, repository
from .lifecycle import move_intent, set_phase


def _mock_tx_id(method: str) -> str:
    # As the reference backend: method without its first underscore, base36 ms, random.
    stamp = _base36(int(time.time() * 1000))
    return f"{method.replace('_', '', 1)}-{stamp}-{ids.random_hex(4)}"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


async def start_settlement(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment | None,
    amount: int,
    *,
    milestone_id: str | None = None,
) -> Settlement:
    """Create the payout of `amount` (already in merchant_pending) and either
    settle it now (delay 0) or schedule its confirmation."""
    settlement = Settlement(
        id=ids.new_id(ids.SETTLEMENT),
        payment_intent_id=intent.id,
        conditional_payment_id=order.id if order else None,
        milestone_id=milestone_id,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        amount=amount,
        currency=intent.currency,
        method=intent.settlement_method,
        destination=intent.settlement_destination,
        status=model.PayoutStatus.PENDING,
        created_at=now(),
    )
    session.add(settlement)
    intent.settlement_status = model.SettlementStatus.IN_PROGRESS
    emit(
        session,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        type="payment_intent.settlement_initiated",
        obj=_settlement_event(intent, settlement),
    )
    if order is not None:
        order.settlement_status = model.OrderSettlementStatus.SCHEDULED
    delay = settings.off_ramp_mock_delay_seconds
    if delay <= 0:
        await complete_settlement(session, settings, settlement, intent, order)
    else:
        offset = order.clock_offset if order else 0
        schedule(
            session,
            kind=model.JobKind.SETTLE,
            merchant_id=intent.merchant_id,
            mode=intent.mode,
            target_id=settlement.id,
            order_id=order.id if order else None,
            due_at=now() + delay - offset,
        )
    return settlement


async def complete_settlement(
    session: AsyncSession,
    settings: Settings,
    settlement: Settlement,
    intent: PaymentIntent,
    order: ConditionalPayment | None,
) -> None:
    if settlement.status != model.PayoutStatus.PENDING:
        return
    settlement.status = model.PayoutStatus.COMPLETED
    settlement.external_tx_id = _mock_tx_id(settlement.method)
    settlement.completed_at = now()
    where = ledger.Posting(
        intent.merchant_id, intent.mode, intent.currency, intent.id, order.id if order else None
    )
    ledger.post(session, where, ledger.SETTLE, settlement.amount, reference_id=settlement.id)
    if order is not None:
        order.settled_amount += settlement.amount
        order.settlement_status = model.order_settlement_status(
            order.settled_amount, order.released_amount
        )
        order.updated_at = now()
    emit(
        session,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        type="payment_intent.settlement_completed",
        obj=_settlement_event(intent, settlement),
    )
    await maybe_mark_settled(session, settings, intent, order)


async def maybe_mark_settled(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment | None,
) -> None:
    """SETTLED once nothing is held and every released amount is settled."""
    if intent.status not in (model.IntentStatus.SUCCEEDED, model.IntentStatus.REQUIRES_ACTION):
        return
    if order is not None:
        if model.held(order) != 0 or order.settled_amount != order.released_amount:
            return
    elif await repository.has_pending_settlement(session, intent.id):
        return
    intent.settlement_status = model.SettlementStatus.COMPLETED
    set_phase(intent, model.Phase.SETTLEMENT, model.PhaseStatus.COMPLETED)
    move_intent(session, settings, intent, model.IntentStatus.SETTLED)


def _settlement_event(intent: PaymentIntent, settlement: Settlement) -> dict[str, object]:
    return {
        "id": intent.id,
        "object": "payment_intent",
        "settlementId": settlement.id,
        "amount": format_amount(settlement.amount, settlement.currency),
        "currency": settlement.currency,
        "settlementTxId": settlement.external_tx_id,
    }
