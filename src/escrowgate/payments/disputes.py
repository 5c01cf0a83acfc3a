"""Disputes freeze every release path of an order until resolved: by an operator
(any outcome), by the merchant (only in the payer's favour), or by the end of the
dispute window (BUYER_WON for the held money). Released milestones stay released.
Who may choose what, and what each resolution does, is the model's."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..domain import ids
from ..events.service import emit
from ..models import ConditionalPayment, Dispute, PaymentIntent
from ..worker.jobs import cancel_jobs
from . import model, repository
from .lifecycle import move_order
from .refunds import refund_held
from .release import (
    cancel_milestone,
    order_now,
    release_order_in_full,
    release_ready_milestones,
    schedule_for_order,
)
from .render import dispute_wire


async def raise_dispute(
    session: AsyncSession,
    caller: Principal,
    intent_id: str,
    *,
    reason: str,
    raised_by: str,
    window: int | None,
) -> tuple[Dispute, ConditionalPayment]:
    _, order = await repository.owned_order(session, caller, intent_id, lock=True)
    dispute = await open_dispute(session, order, reason=reason, raised_by=raised_by, window=window)
    return dispute, order


async def open_dispute(
    session: AsyncSession,
    order: ConditionalPayment,
    *,
    reason: str,
    raised_by: str,
    window: int | None,
) -> Dispute:
    """Raise the order's one dispute (the caller holds the intent and order locks and
    has checked who may raise it)."""
    existing = await repository.dispute_of(session, order.id)
    model.check_can_raise_dispute(order, already_raised=existing is not None)
    at = order_now(order)
    window = window or order.dispute_window
    dispute = Dispute(
        id=ids.new_id(ids.DISPUTE),
        conditional_payment_id=order.id,
        payment_intent_id=order.payment_intent_id,
        reason=reason,
        raised_by=raised_by,
        window_seconds=window,
        raised_at=at,
        status=model.DisputeStatus.OPEN,
    )
    session.add(dispute)
    order.status_before_dispute = order.order_status
    move_order(order, model.OrderStatus.DISPUTED, at)
    schedule_for_order(session, order, model.JobKind.DISPUTE_TIMEOUT, dispute.id, at + window)
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="dispute.raised",
        obj=dispute_wire(dispute, order),
    )
    return dispute


def resolver_of(caller: Principal) -> model.Resolver:
    return model.Resolver.OPERATOR if caller.is_operator else model.Resolver.MERCHANT


async def resolve_dispute(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    *,
    resolution: model.Resolution,
    refund_amount: int | None,
) -> tuple[Dispute, ConditionalPayment]:
    intent, order = await repository.owned_order(session, caller, intent_id, lock=True)
    resolver = resolver_of(caller)
    model.check_resolver(resolver, resolution)
    dispute = await repository.dispute_of(session, order.id)
    model.check_resolution(
        order,
        dispute_open=dispute is not None and dispute.status == model.DisputeStatus.OPEN,
        resolution=resolution,
        refund_amount=refund_amount,
    )
    assert dispute is not None
    await settle_dispute(
        session, settings, intent, order, dispute, resolution, refund_amount, resolver
    )
    return dispute, order


async def settle_dispute(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    dispute: Dispute,
    resolution: model.Resolution,
    refund_amount: int | None,
    resolver: model.Resolver,
) -> None:
    """Close the dispute, return the order to its status before it, then move the
    held money as the model's resolution outcome says."""
    at = order_now(order)
    dispute.status = model.DisputeStatus.RESOLVED
    dispute.resolution = resolution
    dispute.refund_amount = refund_amount
    dispute.resolved_at = at
    dispute.resolved_by = resolver
    before = model.OrderStatus(order.status_before_dispute or model.OrderStatus.PENDING)
    move_order(order, before, at)
    await cancel_jobs(session, order.id, (model.JobKind.DISPUTE_TIMEOUT,))
    outcome = model.resolution_outcome(order, resolution, refund_amount)
    if outcome.refund > 0:
        reason = (
            "dispute_partial_refund"
            if resolution == model.Resolution.PARTIAL_REFUND
            else "dispute_lost"
        )
        await refund_held(session, settings, intent, order, outcome.refund, reason=reason)
    if outcome.cancel_open_milestones:
        for m in model.open_milestones(await repository.milestones_of(session, order.id)):
            cancel_milestone(session, order, m)
    if outcome.release_rest:
        await release_order_in_full(
            session, settings, intent, order, reason=model.ReleaseReason.DISPUTE_RESOLUTION
        )
    if outcome.resume_milestones:
        await release_ready_milestones(session, settings, intent, order)
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="dispute.resolved",
        obj=dispute_wire(dispute, order),
    )


async def dispute_timed_out(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, order: ConditionalPayment
) -> None:
    """The dispute window ended unresolved: as BUYER_WON."""
    dispute = await repository.dispute_of(session, order.id)
    if dispute is None or dispute.status != model.DisputeStatus.OPEN:
        return
    await settle_dispute(
        session,
        settings,
        intent,
        order,
        dispute,
        model.Resolution.BUYER_WON,
        None,
        model.Resolver.TIMEOUT,
    )
