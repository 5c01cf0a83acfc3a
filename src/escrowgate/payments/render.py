"""Wire shapes of the payment aggregate: the intent, its conditional payment and
the order's children, as the API and the events show them."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..domain.clock import iso, unix_str
from ..domain.money import format_amount
from ..domain.typed_data import intent_typed_data, release_approval_typed_data
from ..models import ConditionalPayment, DeliveryProof, Dispute, Milestone, PaymentIntent, Refund
from .model import OrderStatus, held, in_index_order


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
        data["approvalTypedData"] = milestone_approval_typed_data(m, settings)
    return data


def milestone_approval_typed_data(m: Milestone, settings: Settings) -> dict[str, Any]:
    """What the payer signs to approve this milestone's release."""
    return release_approval_typed_data(
        m.payment_intent_id,
        m.id,
        m.amount,
        chain_id=settings.chain_id,
        contract_address=settings.contract_address,
    )


def order_approval_typed_data(order: ConditionalPayment, settings: Settings) -> dict[str, Any]:
    """What the payer signs to approve the release of a delivered order."""
    return release_approval_typed_data(
        order.payment_intent_id,
        order.id,
        held(order),
        chain_id=settings.chain_id,
        contract_address=settings.contract_address,
    )


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
    held_now = held(order)
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
        "heldAmount": format_amount(held_now),
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
            order_approval_typed_data(order, settings)
            if order.order_status == OrderStatus.DELIVERED
            else None
        ),
        "milestones": [milestone_data(m) for m in in_index_order(milestones)],
        "deliveryProofs": [proof_data(p) for p in proofs],
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
    }


def order_envelope(
    order: ConditionalPayment,
    settings: Settings,
    *,
    milestones: list[Milestone],
    proofs: list[DeliveryProof],
    dispute: Dispute | None,
) -> dict[str, Any]:
    data = order_data(order, settings, milestones=milestones, proofs=proofs, dispute=dispute)
    return {"id": order.id, "object": "conditional_payment", "data": data}


def milestone_envelope(m: Milestone, settings: Settings | None = None) -> dict[str, Any]:
    return {"id": m.id, "object": "milestone", "data": milestone_data(m, settings)}


def dispute_data(d: Dispute, order: ConditionalPayment) -> dict[str, Any]:
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


def refund_data(refund: Refund, currency: str) -> dict[str, Any]:
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


def order_event(order: ConditionalPayment, **fields: Any) -> dict[str, Any]:
    """The payload of an event about a conditional payment: its id and intent, plus
    `fields`."""
    return {
        "id": order.id,
        "object": "conditional_payment",
        "paymentIntentId": order.payment_intent_id,
        **fields,
    }


def payment_url(intent_id: str, settings: Settings) -> str:
    return f"{settings.payment_page_url.rstrip('/')}/?intent={intent_id}"


def intent_data(intent: PaymentIntent, settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": intent.id,
        "object": "payment_intent",
        "merchantId": intent.merchant_id,
        "livemode": intent.mode == "live",
        "status": intent.status,
        "amount": format_amount(intent.amount),
        "currency": intent.currency,
        "type": intent.type,
        "description": intent.description,
        "settlementMethod": intent.settlement_method,
        "settlementDestination": intent.settlement_destination,
        "settlementStatus": intent.settlement_status,
        "contractAddress": settings.contract_address,
        "transactionHash": intent.transaction_hash,
        "chainId": settings.chain_id,
        "typedData": intent_typed_data(
            intent.id,
            intent.amount,
            chain_id=settings.chain_id,
            contract_address=settings.contract_address,
        ),
        "signature": intent.signature,
        "signerAddress": intent.signer_address,
        "phases": intent.phases,
        "metadata": intent.metadata_json,
        "paymentUrl": payment_url(intent.id, settings),
        "estimatedFee": "0.00",
        "estimatedDeliveryTime": "15s",
        "created": intent.created_at,
        "updated": intent.updated_at,
    }
    if intent.funding:
        data.update(intent.funding)
    return data


def intent_envelope(intent: PaymentIntent, settings: Settings) -> dict[str, Any]:
    return {
        "id": intent.id,
        "object": "payment_intent",
        "status": intent.status,
        "data": intent_data(intent, settings),
        "created": intent.created_at,
        "updated": intent.updated_at,
    }


_PUBLIC_INTENT_FIELDS = (
    "id",
    "object",
    "status",
    "amount",
    "currency",
    "type",
    "description",
    "typedData",
    "contractAddress",
    "chainId",
    "paymentUrl",
    "phases",
    "created",
    "updated",
)
_PUBLIC_MILESTONE_FIELDS = ("milestoneIndex", "description", "amount", "percentage", "status")


def public_intent_envelope(
    intent: PaymentIntent,
    settings: Settings,
    *,
    merchant_name: str | None,
    order: ConditionalPayment | None,
    milestones: list[Milestone],
) -> dict[str, Any]:
    """What a hosted payment page needs, and nothing else (no key required)."""
    full = intent_data(intent, settings)
    data = {k: full[k] for k in _PUBLIC_INTENT_FIELDS}
    data["merchantName"] = merchant_name
    data["milestones"] = [
        {k: milestone_data(m)[k] for k in _PUBLIC_MILESTONE_FIELDS}
        for m in in_index_order(milestones)
    ]
    # The release terms the payer agrees to by paying.
    data["releaseTerms"] = (
        None
        if order is None
        else {
            "releaseType": order.release_type,
            "autoRelease": order.auto_release,
            "disputeWindow": str(order.dispute_window),
            "timeLockUntil": str(order.time_lock_until) if order.time_lock_until else None,
            "deliveryPeriod": order.delivery_period,
        }
    )
    return {
        "id": intent.id,
        "object": "payment_intent",
        "status": intent.status,
        "data": data,
        "created": intent.created_at,
        "updated": intent.updated_at,
    }
