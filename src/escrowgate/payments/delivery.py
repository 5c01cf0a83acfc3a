"""Delivery proof (DELIVERY_PROOF / AUTO_RELEASE orders) and the payer's approval
of a delivered order."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..domain import ids, signatures
from ..events.service import emit
from ..models import ConditionalPayment, DeliveryProof
from ..worker.jobs import cancel_jobs
from . import model, repository
from .lifecycle import move_order, set_phase
from .release import order_now, release_order_in_full, schedule_for_order
from .render import order_approval_typed_data, proof_wire


async def submit_proof(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    *,
    proof_hash: str,
    submitted_by: str,
    proof_uri: str | None,
    submit_tx_hash: str | None,
) -> DeliveryProof:
    intent, order = await repository.owned_order(session, caller, intent_id, lock=True)
    at = order_now(order)
    model.check_can_submit_proof(
        order,
        deadline=order.delivery_deadline,
        at=at,
        expected_hash=order.expected_delivery_hash,
        proof_hash=proof_hash,
    )
    proof = DeliveryProof(
        id=ids.new_id(ids.DELIVERY_PROOF),
        conditional_payment_id=order.id,
        payment_intent_id=intent.id,
        proof_hash=proof_hash.lower(),
        proof_uri=proof_uri,
        submitted_by=submitted_by,
        submit_tx_hash=submit_tx_hash,
        submitted_at=at,
        created_at=at,
    )
    session.add(proof)
    move_order(order, model.OrderStatus.DELIVERED, at)
    order.actual_delivery_hash = proof.proof_hash
    order.delivered_at = at
    set_phase(intent, model.Phase.AWAITING_DELIVERY_PROOF, model.PhaseStatus.COMPLETED)
    await cancel_jobs(session, order.id, (model.JobKind.DELIVERY_DEADLINE,))
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="delivery_proof.submitted",
        obj=proof_wire(proof),
    )
    if order.auto_release:
        await release_order_in_full(
            session, settings, intent, order, reason=model.ReleaseReason.DELIVERY_PROOF
        )
    else:
        schedule_for_order(
            session, order, model.JobKind.ORDER_RELEASE, order.id, at + order.dispute_window
        )
    return proof


async def approve_delivery(
    session: AsyncSession, settings: Settings, caller: Principal, intent_id: str, signature: str
) -> ConditionalPayment:
    """The payer's EIP-712 approval of a delivered order releases everything held."""
    intent, order = await repository.owned_order(session, caller, intent_id, lock=True)
    payer = model.check_can_approve_delivery(order)
    signatures.verify(order_approval_typed_data(order, settings), signature, payer)
    await release_order_in_full(
        session, settings, intent, order, reason=model.ReleaseReason.APPROVAL
    )
    return order
