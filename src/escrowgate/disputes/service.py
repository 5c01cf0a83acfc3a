"""Disputes freeze every release path of an order until resolved: by an operator
(any outcome), by the merchant (only in the payer's favour), or by the end of the
dispute window (BUYER_WON for the held money). Released milestones stay released."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..api.context import Ctx
from ..config import Settings
from ..domain import ids
from ..domain import milestones as rules
from ..domain.clock import unix_str
from ..domain.money import format_amount, parse_amount
from ..errors import ApiError, InvalidRequest, InvalidStatus
from ..escrow import repository as escrow_repo
from ..escrow.service import owned_order
from ..events.service import emit
from ..models import ConditionalPayment, Dispute, Job, PaymentIntent
from ..refunds.service import refund_held
from ..release.jobs import lock_order
from ..release.schedules import DISPUTE_TIMEOUT_JOB, order_now, schedule_for_order
from ..release.service import (
    cancel_milestone,
    held,
    release_order_in_full,
    release_ready_milestones,
)
from ..worker.jobs import cancel_jobs, handler
from .schemas import RaiseDispute, ResolveDispute


def dispute_data(d: Dispute, order: ConditionalPayment) -> dict[str, object]:
    return {
        "id": d.id,
        "object": "dispute",
        "conditionalPaymentId": d.conditional_payment_id,
        "paymentIntentId": d.payment_intent_id,
        "reason": d.reason,
        "raisedBy": d.raised_by,
        "disputeWindow": str(d.window_seconds),
        "raisedAt": unix_str(d.raised_at),
        "status": d.status,
        "resolution": d.resolution,
        "refundAmount": format_amount(d.refund_amount) if d.refund_amount else None,
        "resolvedAt": unix_str(d.resolved_at),
        "resolvedBy": d.resolved_by,
        "orderStatus": order.order_status,
    }


async def _dispute_of(session: AsyncSession, order_id: str) -> Dispute | None:
    stmt = select(Dispute).where(Dispute.conditional_payment_id == order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def raise_dispute(
    ctx: Ctx, intent_id: str, body: RaiseDispute
) -> tuple[Dispute, ConditionalPayment]:
    _, order = await owned_order(ctx, intent_id, lock=True)
    if order.order_status == "COMPLETED":
        raise InvalidStatus("Cannot raise dispute: order is already completed")
    if order.order_status == "CANCELLED":
        raise InvalidStatus("Cannot raise dispute: order is cancelled")
    if await _dispute_of(ctx.session, order.id) is not None:
        raise InvalidRequest("Dispute already raised for this order")
    if order.funded_at is None:
        raise InvalidStatus("Conditional payment is not funded yet")
    at = order_now(order)
    window = body.disputeWindow or order.dispute_window
    dispute = Dispute(
        id=ids.new_id(ids.DISPUTE),
        conditional_payment_id=order.id,
        payment_intent_id=order.payment_intent_id,
        reason=body.reason,
        raised_by=body.raisedBy,
        window_seconds=window,
        raised_at=at,
        status="OPEN",
    )
    ctx.session.add(dispute)
    order.status_before_dispute = order.order_status
    order.order_status = "DISPUTED"
    order.updated_at = at
    schedule_for_order(ctx.session, order, DISPUTE_TIMEOUT_JOB, dispute.id, at + window)
    emit(
        ctx.session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="dispute.raised",
        obj=dispute_data(dispute, order),
    )
    return dispute, order


async def resolve_dispute(
    ctx: Ctx, intent_id: str, body: ResolveDispute
) -> tuple[Dispute, ConditionalPayment]:
    assert ctx.principal is not None
    intent, order = await owned_order(ctx, intent_id, lock=True)
    if not ctx.principal.is_operator and body.resolution != "BUYER_WON":
        # The merchant may only concede: MERCHANT_WON pays it, and PARTIAL_REFUND
        # releases the rest of the held money to it (a tiny refundAmount would
        # release almost everything, skipping every release condition).
        raise ApiError(
            "Only an operator can resolve a dispute in the merchant's favour"
            if body.resolution == "MERCHANT_WON"
            else "Only an operator can resolve a dispute with PARTIAL_REFUND: "
            "it releases the rest of the held money to the merchant",
            code="forbidden",
            status_code=403,
            error_type="authentication_error",
            param="resolution",
        )
    dispute = await _dispute_of(ctx.session, order.id)
    if dispute is None or dispute.status != "OPEN":
        raise InvalidStatus("No open dispute for this order")
    refund_amount = None
    if body.resolution == "PARTIAL_REFUND":
        if body.refundAmount is None:
            raise InvalidRequest(
                "refundAmount is required for PARTIAL_REFUND", param="refundAmount"
            )
        refund_amount = parse_amount(body.refundAmount)
        if refund_amount > held(order):
            raise InvalidRequest(
                f"refundAmount exceeds the held amount of {format_amount(held(order))}",
                param="refundAmount",
            )
    elif body.refundAmount is not None:
        raise InvalidRequest("refundAmount is only valid with PARTIAL_REFUND", param="refundAmount")
    by = "operator" if ctx.principal.is_operator else "merchant"
    await settle_dispute(
        ctx.session,
        ctx.settings,
        intent,
        order,
        dispute,
        body.resolution,
        refund_amount=refund_amount,
        resolved_by=by,
    )
    return dispute, order


async def settle_dispute(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    dispute: Dispute,
    resolution: str,
    *,
    refund_amount: int | None,
    resolved_by: str,
) -> None:
    at = order_now(order)
    dispute.status = "RESOLVED"
    dispute.resolution = resolution
    dispute.refund_amount = refund_amount
    dispute.resolved_at = at
    dispute.resolved_by = resolved_by
    order.order_status = order.status_before_dispute or "PENDING"
    order.updated_at = at
    await cancel_jobs(session, order.id, (DISPUTE_TIMEOUT_JOB,))
    if resolution == "BUYER_WON":
        if held(order) > 0:
            await refund_held(session, settings, intent, order, held(order), reason="dispute_lost")
    elif resolution == "PARTIAL_REFUND":
        if refund_amount:
            await refund_held(
                session, settings, intent, order, refund_amount, reason="dispute_partial_refund"
            )
        await _cancel_open_milestones(session, order)
        await release_order_in_full(session, settings, intent, order, reason="dispute_resolution")
    elif order.release_type == "MILESTONE_LOCKED":
        # Dismissed: milestone release paths resume where they were.
        await release_ready_milestones(session, settings, intent, order)
    else:
        await release_order_in_full(session, settings, intent, order, reason="dispute_resolution")
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="dispute.resolved",
        obj=dispute_data(dispute, order),
    )


async def _cancel_open_milestones(session: AsyncSession, order: ConditionalPayment) -> None:
    for m in await escrow_repo.milestones_of(session, order.id):
        if m.status in (rules.PENDING, rules.COMPLETED):
            cancel_milestone(session, order, m)


@handler(DISPUTE_TIMEOUT_JOB)
async def _dispute_timeout(session: AsyncSession, settings: Settings, job: Job) -> None:
    if job.order_id is None:
        return
    locked = await lock_order(session, job.order_id)
    if locked is None:
        return
    intent, order = locked
    dispute = await _dispute_of(session, order.id)
    if dispute is None or dispute.status != "OPEN":
        return
    await settle_dispute(
        session,
        settings,
        intent,
        order,
        dispute,
        "BUYER_WON",
        refund_amount=None,
        resolved_by="timeout",
    )
