"""Delivery proof and time lock release paths, and their worker jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..api.context import Ctx
from ..config import Settings
from ..domain import ids, signatures
from ..errors import InvalidRequest, InvalidStatus
from ..escrow.render import proof_data
from ..escrow.service import owned_order
from ..events.service import emit
from ..models import ConditionalPayment, DeliveryProof, Job, PaymentIntent
from ..payment_intents.lifecycle import set_phase
from ..payment_intents.typed_data import release_approval_typed_data
from ..refunds.service import refund_held
from ..release.jobs import lock_order
from ..release.milestone_actions import check_funded
from ..release.schedules import (
    DELIVERY_DEADLINE_JOB,
    ORDER_RELEASE_JOB,
    TIME_LOCK_JOB,
    order_now,
    schedule_for_order,
)
from ..release.service import check_not_disputed, held, release_order_in_full
from ..worker.jobs import cancel_jobs, handler
from .schemas import SubmitDeliveryProof

PROOF_TYPES = ("DELIVERY_PROOF", "AUTO_RELEASE")


def order_approval_typed_data(settings: Settings, order: ConditionalPayment) -> dict[str, Any]:
    return release_approval_typed_data(
        order.payment_intent_id,
        order.id,
        held(order),
        chain_id=settings.chain_id,
        contract_address=settings.contract_address,
    )


async def submit_proof(ctx: Ctx, intent_id: str, body: SubmitDeliveryProof) -> DeliveryProof:
    intent, order = await owned_order(ctx, intent_id, lock=True)
    if order.release_type not in PROOF_TYPES:
        raise InvalidRequest(
            f"Cannot submit delivery proof for order with release type: {order.release_type}"
        )
    check_funded(order)
    if order.order_status != "PENDING":
        raise InvalidStatus(
            f"Cannot submit delivery proof: order status is {order.order_status}, must be PENDING"
        )
    if order.delivery_deadline is not None and order_now(order) > order.delivery_deadline:
        raise InvalidStatus(
            "Cannot submit delivery proof: the delivery deadline has passed; "
            "the payer is being refunded"
        )
    if order.expected_delivery_hash and body.proofHash.lower() != order.expected_delivery_hash:
        raise InvalidRequest(
            "proofHash does not match the expectedDeliveryHash of this order", param="proofHash"
        )
    at = order_now(order)
    proof = DeliveryProof(
        id=ids.new_id(ids.DELIVERY_PROOF),
        conditional_payment_id=order.id,
        payment_intent_id=intent.id,
        proof_hash=body.proofHash.lower(),
        proof_uri=body.proofURI,
        submitted_by=body.submittedBy,
        submit_tx_hash=body.submitTxHash,
        submitted_at=at,
        created_at=at,
    )
    ctx.session.add(proof)
    order.order_status = "DELIVERED"
    order.actual_delivery_hash = proof.proof_hash
    order.delivered_at = at
    order.updated_at = at
    set_phase(intent, "AWAITING_DELIVERY_PROOF", "COMPLETED")
    await cancel_jobs(ctx.session, order.id, (DELIVERY_DEADLINE_JOB,))
    emit(
        ctx.session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="delivery_proof.submitted",
        obj=proof_data(proof),
    )
    if order.auto_release:
        await release_order_in_full(
            ctx.session, ctx.settings, intent, order, reason="delivery_proof"
        )
    else:
        schedule_for_order(
            ctx.session, order, ORDER_RELEASE_JOB, order.id, at + order.dispute_window
        )
    return proof


async def approve_delivery(ctx: Ctx, intent_id: str, signature: str) -> ConditionalPayment:
    intent, order = await owned_order(ctx, intent_id, lock=True)
    check_funded(order)
    check_not_disputed(order)
    if order.order_status != "DELIVERED":
        raise InvalidStatus(
            f"Cannot approve release: order status is {order.order_status}, must be DELIVERED"
        )
    if not order.buyer_address:
        raise InvalidStatus("This order has no payer address to approve with")
    signatures.verify(
        order_approval_typed_data(ctx.settings, order), signature, order.buyer_address
    )
    order.approved_at = order_now(order)
    await release_order_in_full(ctx.session, ctx.settings, intent, order, reason="payer_approval")
    return order


async def _locked(
    session: AsyncSession, job: Job
) -> tuple[PaymentIntent, ConditionalPayment] | None:
    return await lock_order(session, job.order_id) if job.order_id else None


@handler(ORDER_RELEASE_JOB)
async def _order_release(session: AsyncSession, settings: Settings, job: Job) -> None:
    """The dispute window after delivery passed without a dispute."""
    locked = await _locked(session, job)
    if locked is None:
        return
    intent, order = locked
    if order.order_status != "DELIVERED" or order.delivered_at is None:
        return
    if order.delivered_at + order.dispute_window > order_now(order):
        return
    await release_order_in_full(session, settings, intent, order, reason="dispute_window")


@handler(TIME_LOCK_JOB)
async def _time_lock(session: AsyncSession, settings: Settings, job: Job) -> None:
    locked = await _locked(session, job)
    if locked is None:
        return
    intent, order = locked
    if order.order_status in ("DISPUTED", "COMPLETED", "CANCELLED"):
        return  # a dispute decides the money; resolution releases or refunds it
    if order.time_lock_until is None or order.time_lock_until > order_now(order):
        return
    await release_order_in_full(session, settings, intent, order, reason="time_lock")


@handler(DELIVERY_DEADLINE_JOB)
async def _delivery_deadline(session: AsyncSession, settings: Settings, job: Job) -> None:
    """No proof by the deadline: the payer gets the held money back."""
    locked = await _locked(session, job)
    if locked is None:
        return
    intent, order = locked
    if order.order_status != "PENDING" or held(order) <= 0:
        return
    if order.delivery_deadline is None or order.delivery_deadline > order_now(order):
        return
    await refund_held(session, settings, intent, order, held(order), reason="delivery_deadline")
