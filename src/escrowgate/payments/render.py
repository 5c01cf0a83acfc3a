"""Wire shapes of the payment aggregate: the intent, its conditional payment and
the order's children, as the API and the events show them. The `*_wire` and
`*_envelope` functions build the response models (wire.py). An intent's and a
milestone's shape is built once, as their `*_object` (the wire JSON object, keys in the
model's order): the payload of an event about them, the item a list validates, and,
wrapped by `*_envelope_object`, the answer about one of them, written without its model
(tests hold those answers to the models byte for byte). Other events carry a `*_wire`
model (events/service.py `emit` serializes either in one step)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, TypeVar

from ..config import Settings
from ..domain.clock import iso, unix_str
from ..domain.money import format_amount
from ..domain.typed_data import intent_typed_data, release_approval_typed_data
from ..models import ConditionalPayment, DeliveryProof, Dispute, Milestone, PaymentIntent, Refund
from ..wire import WireDict
from . import wire
from .model import OrderStatus, held, in_index_order


def on_chain_order_id(intent_id: str) -> str:
    # As the reference backend: the intent id's ASCII bytes as hex, first 64 digits.
    return str(int(intent_id.encode().hex()[:64], 16))


def percentage_value(bp: int) -> int | float:
    # Display only (a share, not money): 3000 -> 30, 3333 -> 33.33.
    return bp // 100 if bp % 100 == 0 else bp / 100


def milestone_object(m: Milestone, *, currency: str | None = None) -> WireDict:
    """The milestone's wire object (an event's payload; what `milestone_wire`
    validates). `currency`: the order's (a fiat amount is shown with its minor units)."""
    return WireDict(
        id=m.id,
        object="milestone",
        conditionalPaymentId=m.conditional_payment_id,
        escrowOrderId=m.conditional_payment_id,
        paymentIntentId=m.payment_intent_id,
        milestoneIndex=m.milestone_index,
        description=m.description,
        amount=format_amount(m.amount, currency or m.currency),
        percentage=percentage_value(m.percentage_bp),
        status=m.status,
        completionProof=m.completion_proof,
        completionProofURI=m.completion_proof_uri,
        completedAt=unix_str(m.completed_at),
        completedBy=m.completed_by,
        releasedAt=unix_str(m.released_at),
        releasedBy=m.released_by,
        releaseTxHash=m.release_tx_hash,
        createdAt=iso(m.created_at),
        updatedAt=iso(m.updated_at),
    )


def milestone_wire(
    m: Milestone, settings: Settings | None = None, *, currency: str | None = None
) -> wire.MilestoneData:
    """With `settings`, also the milestone's `approvalTypedData`."""
    data = wire.MilestoneData.model_validate(milestone_object(m, currency=currency))
    if settings is not None:
        data.approvalTypedData = typed_data_model(
            wire.ReleaseApprovalTypedData, milestone_approval_typed_data(m, settings)
        )
    return data


Typed = TypeVar("Typed", wire.IntentTypedData, wire.ReleaseApprovalTypedData)
_TEMPLATES: dict[tuple[Any, ...], Any] = {}


def typed_data_model(cls: type[Typed], typed: dict[str, Any]) -> Typed:
    """EIP-712 typed data (domain/typed_data.py) as its wire model. Two of one primary
    type under one domain differ only in their message (the types are fixed per primary
    type): the types and domain are validated once and shared, the message each time.
    (Validating the whole was about a third of a milestone answer's rendering.)"""
    signing_domain: dict[str, Any] = typed["domain"]
    key = (cls, typed["primaryType"], *signing_domain.values())
    template: Typed | None = _TEMPLATES.get(key)
    if template is None:
        template = cls.model_validate(typed)
        if len(_TEMPLATES) < 64:  # one per kind and domain: never grows without bound
            _TEMPLATES[key] = template
        return template
    message = type(template.message).model_validate(typed["message"])
    return template.model_copy(update={"message": message})


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


def proof_wire(p: DeliveryProof) -> wire.DeliveryProofData:
    return wire.DeliveryProofData(
        id=p.id,
        object="delivery_proof",
        conditionalPaymentId=p.conditional_payment_id,
        escrowOrderId=p.conditional_payment_id,
        paymentIntentId=p.payment_intent_id,
        proofHash=p.proof_hash,
        proofURI=p.proof_uri,
        submittedBy=p.submitted_by,
        submittedAt=unix_str(p.submitted_at),
        submitTxHash=p.submit_tx_hash,
        createdAt=iso(p.created_at),
    )


def proof_envelope(p: DeliveryProof) -> wire.DeliveryProofEnvelope:
    return wire.DeliveryProofEnvelope(id=p.id, object="delivery_proof", data=proof_wire(p))


def order_wire(
    order: ConditionalPayment,
    settings: Settings,
    *,
    milestones: list[Milestone],
    proofs: list[DeliveryProof],
    dispute: Dispute | None = None,
    object_name: Literal["conditional_payment", "escrow_order"] = "conditional_payment",
) -> wire.OrderData:
    held_now = held(order)
    return wire.OrderData(
        id=order.id,
        object=object_name,
        paymentIntentId=order.payment_intent_id,
        merchantId=order.merchant_id,
        orderId=on_chain_order_id(order.payment_intent_id),
        contractAddress=settings.contract_address,
        tokenAddress=settings.token_address,
        buyerAddress=order.buyer_address,
        currency=order.currency,
        amount=format_amount(order.amount, order.currency),
        fundedAmount=format_amount(order.funded_amount, order.currency),
        releasedAmount=format_amount(order.released_amount, order.currency),
        refundedAmount=format_amount(order.refunded_amount, order.currency),
        heldAmount=format_amount(held_now, order.currency),
        settledAmount=format_amount(order.settled_amount, order.currency),
        fundedAt=unix_str(order.funded_at),
        releaseType=order.release_type,
        autoRelease=order.auto_release,
        autoReleaseOnProof=order.auto_release,
        timeLockUntil=unix_str(order.time_lock_until),
        deliveryPeriod=order.delivery_period,
        deliveryDeadline=unix_str(order.delivery_deadline),
        expectedDeliveryHash=order.expected_delivery_hash,
        actualDeliveryHash=order.actual_delivery_hash,
        deliveryOracle=order.delivery_oracle,
        orderStatus=order.order_status,
        settlementStatus=order.settlement_status,
        disputeWindow=str(order.dispute_window),
        disputeId=dispute.id if dispute else None,
        disputeRaisedAt=unix_str(dispute.raised_at) if dispute else None,
        disputeReason=dispute.reason if dispute else None,
        disputeRaisedBy=dispute.raised_by if dispute else None,
        disputeResolvedAt=unix_str(dispute.resolved_at) if dispute else None,
        disputeResolution=dispute.resolution if dispute else None,
        releasedAt=unix_str(order.released_at),
        deliveredAt=unix_str(order.delivered_at),
        approvalTypedData=(
            typed_data_model(
                wire.ReleaseApprovalTypedData, order_approval_typed_data(order, settings)
            )
            if order.order_status == OrderStatus.DELIVERED
            else None
        ),
        milestones=[milestone_wire(m, currency=order.currency) for m in in_index_order(milestones)],
        deliveryProofs=[proof_wire(p) for p in proofs],
        createdAt=iso(order.created_at),
        updatedAt=iso(order.updated_at),
    )


def order_envelope(
    order: ConditionalPayment,
    settings: Settings,
    *,
    milestones: list[Milestone],
    proofs: list[DeliveryProof],
    dispute: Dispute | None,
    object_name: Literal["conditional_payment", "escrow_order"] = "conditional_payment",
) -> wire.OrderEnvelope:
    """`object_name`: "escrow_order" for GET .../escrow, as the older docs."""
    data = order_wire(
        order,
        settings,
        milestones=milestones,
        proofs=proofs,
        dispute=dispute,
        object_name=object_name,
    )
    return wire.OrderEnvelope(id=order.id, object=object_name, data=data)


def milestone_envelope_object(
    m: Milestone, settings: Settings | None = None, *, status: str | None = None
) -> WireDict:
    """A milestone answer (`wire.MilestoneEnvelope`) as its wire object, keys in the
    model's order: written in one step, not validated (as an intent's answer,
    `intent_envelope_object`). With `settings`, the milestone's `approvalTypedData`; with
    `status` (the complete and approve answers), that top-level status. Held to the
    model, byte for byte, by tests/api/test_answer_objects.py."""
    data = milestone_object(m)
    if settings is not None:
        data["approvalTypedData"] = milestone_approval_typed_data(m, settings)
    envelope = WireDict(id=m.id, object="milestone")
    if status is not None:
        envelope["status"] = status
    envelope["data"] = data
    return envelope


def dispute_wire(d: Dispute, order: ConditionalPayment) -> wire.DisputeData:
    return wire.DisputeData(
        id=d.id,
        object="dispute",
        conditionalPaymentId=d.conditional_payment_id,
        paymentIntentId=d.payment_intent_id,
        reason=d.reason,
        raisedBy=d.raised_by,
        disputeWindow=str(d.window_seconds),
        raisedAt=unix_str(d.raised_at),
        status=d.status,
        resolution=d.resolution,
        refundAmount=format_amount(d.refund_amount, order.currency) if d.refund_amount else None,
        resolvedAt=unix_str(d.resolved_at),
        resolvedBy=d.resolved_by,
        orderStatus=order.order_status,
    )


def dispute_envelope(
    d: Dispute, order: ConditionalPayment, status: Literal["raised", "resolved"]
) -> wire.DisputeEnvelope:
    return wire.DisputeEnvelope(
        id=d.id, object="dispute", status=status, data=dispute_wire(d, order)
    )


def refund_wire(refund: Refund, currency: str) -> wire.RefundData:
    return wire.RefundData(
        id=refund.id,
        object="refund",
        amount=format_amount(refund.amount, currency),
        currency=currency,
        paymentIntentId=refund.payment_intent_id,
        conditionalPaymentId=refund.conditional_payment_id,
        reason=refund.reason,
        status="succeeded",
        created=refund.created_at,
    )


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
    """escrowgate's own hosted page, unless PAYMENT_PAGE_URL names another one."""
    if settings.payment_page_url:
        return f"{settings.payment_page_url.rstrip('/')}/?intent={intent_id}"
    return f"{settings.base_url}/pay/{intent_id}"


def intent_object(intent: PaymentIntent, settings: Settings) -> WireDict:
    """The intent's wire object (an event's payload; what `intent_wire` validates).
    The card-funding fields are set only when a card payment was attempted."""
    obj = WireDict(
        id=intent.id,
        object="payment_intent",
        merchantId=intent.merchant_id,
        livemode=intent.mode == "live",
        status=intent.status,
        amount=format_amount(intent.amount, intent.currency),
        currency=intent.currency,
        type=intent.type,
        description=intent.description,
        settlementMethod=intent.settlement_method,
        settlementDestination=intent.settlement_destination,
        settlementStatus=intent.settlement_status,
        contractAddress=settings.contract_address,
        transactionHash=intent.transaction_hash,
        chainId=settings.chain_id,
        typedData=_typed_data_object(
            intent.id, intent.amount, settings.chain_id, settings.contract_address
        ),
        signature=intent.signature,
        signerAddress=intent.signer_address,
        phases=[_phase_object(p) for p in intent.phases],
        metadata=intent.metadata_json,
        paymentUrl=payment_url(intent.id, settings),
        estimatedFee="0.00",
        estimatedDeliveryTime="15s",
        lastPaymentError=_payment_error_object(intent.last_payment_error),
        created=intent.created_at,
        updated=intent.updated_at,
    )
    funding = intent.funding
    if funding:
        for name in FUNDING_FIELDS:
            if name in funding:
                obj[name] = funding[name]
    return obj


def intent_wire(intent: PaymentIntent, settings: Settings) -> wire.IntentData:
    obj = intent_object(intent, settings)
    # The typed data as the model kept for this intent (not validated again).
    obj["typedData"] = _intent_typed_data(intent, settings)
    return wire.IntentData.model_validate(obj)


def _phase_object(phase: dict[str, Any]) -> dict[str, Any]:
    return {"phase": phase["phase"], "status": phase["status"], "timestamp": phase["timestamp"]}


def _payment_error_object(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"code": error["code"], "message": error["message"], "cardLast4": error["cardLast4"]}


# The card-funding fields of an intent, in its wire order: the model's only optional
# fields (every other field of a wire model is required: wire.WireModel).
FUNDING_FIELDS = tuple(
    name for name, field in wire.IntentData.model_fields.items() if not field.is_required()
)


# The card-funding fields a payer may see (not the processors' references).
PUBLIC_FUNDING_FIELDS = (
    "fiatPaymentStatus",
    "paymentProcessorType",
    "onRampStatus",
    "stablecoinAmount",
    "stablecoinCurrency",
    "cardLast4",
)


def _intent_typed_data(intent: PaymentIntent, settings: Settings) -> wire.IntentTypedData:
    return _typed_data(intent.id, intent.amount, settings.chain_id, settings.contract_address)


@lru_cache(maxsize=4096)
def _typed_data(
    intent_id: str, amount: int, chain_id: int, contract_address: str
) -> wire.IntentTypedData:
    """A function of its four arguments (a keccak hash and a validated model, about a
    tenth of an intent's rendering): kept for the intents rendered most recently.
    Shared between answers, so never changed after it is made."""
    return typed_data_model(
        wire.IntentTypedData, _typed_data_object(intent_id, amount, chain_id, contract_address)
    )


@lru_cache(maxsize=4096)
def _typed_data_object(
    intent_id: str, amount: int, chain_id: int, contract_address: str
) -> dict[str, Any]:
    """The same as a JSON object (already in wire order), shared: never changed."""
    return intent_typed_data(
        intent_id, amount, chain_id=chain_id, contract_address=contract_address
    )


def _envelope(intent: PaymentIntent, data: Any) -> WireDict:
    return WireDict(
        id=intent.id,
        object="payment_intent",
        status=intent.status,
        data=data,
        created=intent.created_at,
        updated=intent.updated_at,
    )


def intent_envelope_object(
    intent: PaymentIntent, settings: Settings, *, with_metadata: bool = False
) -> WireDict:
    """An intent answer (`wire.IntentEnvelope`) as its wire object, unvalidated, written
    by pydantic-core in one step as an event's payload is (`with_metadata`: the create
    answer, which repeats `metadata` at the top level). Validating it again cost a GET
    about a seventh of its CPU. The model stays its contract, held in tests:
    tests/api/intents/test_direct_read.py and tests/api/test_answer_objects.py compare
    its bytes with the validated renderer's (`intent_wire`), the golden file holds the
    walk's answers, schemathesis checks every answer."""
    envelope = _envelope(intent, intent_object(intent, settings))
    if with_metadata:  # the create answer's: last, as in the model
        envelope["metadata"] = intent.metadata_json
    return envelope


def public_intent_envelope(
    intent: PaymentIntent,
    settings: Settings,
    *,
    merchant_name: str | None,
    order: ConditionalPayment | None,
    milestones: list[Milestone],
) -> wire.PublicIntentEnvelope:
    """What a hosted payment page needs, and nothing else (no key required)."""
    return wire.PublicIntentEnvelope(
        id=intent.id,
        object="payment_intent",
        status=intent.status,
        data=public_intent_wire(
            intent, settings, merchant_name=merchant_name, order=order, milestones=milestones
        ),
        created=intent.created_at,
        updated=intent.updated_at,
    )


def public_intent_wire(
    intent: PaymentIntent,
    settings: Settings,
    *,
    merchant_name: str | None,
    order: ConditionalPayment | None,
    milestones: list[Milestone],
) -> wire.PublicIntentData:
    funding = intent.funding or {}
    return wire.PublicIntentData(
        id=intent.id,
        object="payment_intent",
        livemode=intent.mode == "live",
        status=intent.status,
        amount=format_amount(intent.amount, intent.currency),
        currency=intent.currency,
        type=intent.type,
        description=intent.description,
        settlementStatus=intent.settlement_status,
        typedData=_intent_typed_data(intent, settings),
        contractAddress=settings.contract_address,
        transactionHash=intent.transaction_hash,
        chainId=settings.chain_id,
        paymentUrl=payment_url(intent.id, settings),
        phases=[_phase_object(p) for p in intent.phases],
        estimatedFee="0.00",
        estimatedDeliveryTime="15s",
        lastPaymentError=_payment_error_object(intent.last_payment_error),
        created=intent.created_at,
        updated=intent.updated_at,
        merchantName=merchant_name,
        milestones=[
            wire.PublicMilestone(
                milestoneIndex=m.milestone_index,
                description=m.description,
                amount=format_amount(m.amount, intent.currency),
                percentage=percentage_value(m.percentage_bp),
                status=m.status,
            )
            for m in in_index_order(milestones)
        ],
        # The release terms the payer agrees to by paying.
        releaseTerms=(
            None
            if order is None
            else wire.ReleaseTerms(
                releaseType=order.release_type,
                autoRelease=order.auto_release,
                disputeWindow=str(order.dispute_window),
                timeLockUntil=str(order.time_lock_until) if order.time_lock_until else None,
                deliveryPeriod=order.delivery_period,
            )
        ),
        **{k: funding[k] for k in PUBLIC_FUNDING_FIELDS if k in funding},
    )


def payer_view(
    intent: PaymentIntent,
    settings: Settings,
    *,
    merchant_name: str | None,
    order: ConditionalPayment | None,
    milestones: list[Milestone],
    proofs: list[DeliveryProof],
    dispute: Dispute | None,
    refunds: list[Refund],
) -> wire.PayerView:
    return wire.PayerView(
        id=intent.id,
        object="payer_view",
        intent=public_intent_wire(
            intent, settings, merchant_name=merchant_name, order=order, milestones=milestones
        ),
        order=(
            None
            if order is None
            else order_wire(order, settings, milestones=milestones, proofs=proofs, dispute=dispute)
        ),
        refunds=[refund_wire(r, intent.currency) for r in refunds],
    )
