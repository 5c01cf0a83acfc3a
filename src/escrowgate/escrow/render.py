"""Wire shapes of a conditional payment and its children."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..domain.clock import iso, unix_str
from ..domain.money import format_amount
from ..models import ConditionalPayment, DeliveryProof, Dispute, Milestone
from ..payment_intents.typed_data import release_approval_typed_data


def on_chain_order_id(intent_id: str) -> str:
    # As the reference backend: the intent id's ASCII bytes as hex, first 64 digits.
    return str(int(intent_id.encode().hex()[:64], 16))


def percentage_value(bp: int) -> int | float:
    # Display only (a share, not money): 3000 -> 30, 3333 -> 33.33.
    return bp // 100 if bp % 100 == 0 else bp / 100


def milestone_data(m: Milestone, settings: Settings | None = None) -> dict[str, Any]:
    data = {
        "id": m.id,
        "object": "milestone",
        "conditionalPaymentId": m.conditional_payment_id,
        "escrowOrderId": m.conditional_payment_id,
        "paymentIntentId": m.payment_intent_id,
        "milestoneIndex": m.milestone_index,
        "description": m.description,
        "amount": format_amount(m.amount),
        "percentage": percentage_value(m.percentage_bp),
        "status": m.status,
        "completionProof": m.completion_proof,
        "completionProofURI": m.completion_proof_uri,
        "completedAt": unix_str(m.completed_at),
        "completedBy": m.completed_by,
        "releasedAt": unix_str(m.released_at),
        "releasedBy": m.released_by,
        "releaseTxHash": m.release_tx_hash,
        "createdAt": iso(m.created_at),
        "updatedAt": iso(m.updated_at),
    }
    if settings is not None:
        # What the payer signs to approve this milestone's release.
        data["approvalTypedData"] = release_approval_typed_data(
            m.payment_intent_id,
            m.id,
            m.amount,
            chain_id=settings.chain_id,
            contract_address=settings.contract_address,
        )
    return data


def proof_data(p: DeliveryProof) -> dict[str, Any]:
    return {
        "id": p.id,
        "object": "delivery_proof",
        "conditionalPaymentId": p.conditional_payment_id,
        "escrowOrderId": p.conditional_payment_id,
        "paymentIntentId": p.payment_intent_id,
        "proofHash": p.proof_hash,
        "proofURI": p.proof_uri,
        "submittedBy": p.submitted_by,
        "submittedAt": unix_str(p.submitted_at),
        "submitTxHash": p.submit_tx_hash,
        "createdAt": iso(p.created_at),
    }


def order_data(
    order: ConditionalPayment,
    settings: Settings,
    *,
    milestones: list[Milestone],
    proofs: list[DeliveryProof],
    dispute: Dispute | None = None,
) -> dict[str, Any]:
    held = order.funded_amount - order.released_amount - order.refunded_amount
    return {
        "id": order.id,
        "object": "conditional_payment",
        "paymentIntentId": order.payment_intent_id,
        "merchantId": order.merchant_id,
        "orderId": on_chain_order_id(order.payment_intent_id),
        "contractAddress": settings.contract_address,
        "tokenAddress": settings.token_address,
        "buyerAddress": order.buyer_address,
        "currency": order.currency,
        "amount": format_amount(order.amount),
        "fundedAmount": format_amount(order.funded_amount),
        "releasedAmount": format_amount(order.released_amount),
        "refundedAmount": format_amount(order.refunded_amount),
        "heldAmount": format_amount(held),
        "settledAmount": format_amount(order.settled_amount),
        "fundedAt": unix_str(order.funded_at),
        "releaseType": order.release_type,
        "autoRelease": order.auto_release,
        "autoReleaseOnProof": order.auto_release,
        "timeLockUntil": unix_str(order.time_lock_until),
        "deliveryPeriod": order.delivery_period,
        "deliveryDeadline": unix_str(order.delivery_deadline),
        "expectedDeliveryHash": order.expected_delivery_hash,
        "actualDeliveryHash": order.actual_delivery_hash,
        "deliveryOracle": order.delivery_oracle,
        "orderStatus": order.order_status,
        "settlementStatus": order.settlement_status,
        "disputeWindow": str(order.dispute_window),
        "disputeId": dispute.id if dispute else None,
        "disputeRaisedAt": unix_str(dispute.raised_at) if dispute else None,
        "disputeReason": dispute.reason if dispute else None,
        "disputeRaisedBy": dispute.raised_by if dispute else None,
        "disputeResolvedAt": unix_str(dispute.resolved_at) if dispute else None,
        "disputeResolution": dispute.resolution if dispute else None,
        "releasedAt": unix_str(order.released_at),
        "deliveredAt": unix_str(order.delivered_at),
        "approvalTypedData": (
            release_approval_typed_data(
                order.payment_intent_id,
                order.id,
                held,
                chain_id=settings.chain_id,
                contract_address=settings.contract_address,
            )
            if order.order_status == "DELIVERED"
            else None
        ),
        "milestones": [milestone_data(m) for m in milestones],
        "deliveryProofs": [proof_data(p) for p in proofs],
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
    }
