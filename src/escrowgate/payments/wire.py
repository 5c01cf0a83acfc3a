"""Response bodies of the payment aggregate as Pydantic models: what the OpenAPI
document shows and what the wire carries (built in render.py; the account's and
the events' own models are in ledger/routes.py and events/service.py).

Absent is not null. A key that only some answers carry (the card-funding fields of
an intent, a milestone's `approvalTypedData`, the create answer's top-level
`metadata`, a milestone envelope's `status`) is an optional field without a value
of its own; every other field is required, nullable ones included, so the render
functions pass each of them explicitly. Bodies are dumped with `exclude_unset`
(`WireModel.wire()`, api/docs.py): a key is on the wire exactly when it was given,
null stays null, and the keys come in field order, which is the order below.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..wire import AmountStr, IsoTime, ListEnvelope, UnixStr, WireModel

# --- EIP-712 typed data --------------------------------------------------------------


class TypedDataField(WireModel):
    name: str
    type: str


class TypedDataDomain(WireModel):
    name: str
    version: str
    chainId: int
    verifyingContract: str


class IntentTypes(WireModel):
    EIP712Domain: list[TypedDataField]
    PaymentIntent: list[TypedDataField]


class IntentMessage(WireModel):
    intentId: str = Field(description="keccak256 of the intent id, 0x-hex")
    amount: str = Field(description="Micro-units (6 decimals), decimal string")
    nonce: str


class IntentTypedData(WireModel):
    """What the payer signs (EIP-712) to fund an intent."""

    types: IntentTypes
    primaryType: Literal["PaymentIntent"]
    domain: TypedDataDomain
    message: IntentMessage


class ReleaseApprovalTypes(WireModel):
    EIP712Domain: list[TypedDataField]
    ReleaseApproval: list[TypedDataField]


class ReleaseApprovalMessage(WireModel):
    intentId: str = Field(description="keccak256 of the intent id, 0x-hex")
    subjectId: str = Field(description="keccak256 of the milestone or order id, 0x-hex")
    amount: str = Field(description="Micro-units (6 decimals), decimal string")


class ReleaseApprovalTypedData(WireModel):
    """What the payer signs (EIP-712) to approve a release."""

    types: ReleaseApprovalTypes
    primaryType: Literal["ReleaseApproval"]
    domain: TypedDataDomain
    message: ReleaseApprovalMessage


# --- payment intents -------------------------------------------------------------------


class Phase(WireModel):
    phase: str
    status: str
    timestamp: int


class PaymentError(WireModel):
    """The last declined card payment of an intent (cleared by a successful one)."""

    code: str
    message: str
    cardLast4: str | None


class IntentData(WireModel):
    """A payment intent. `metadata` is the merchant's own JSON object, returned as
    given (hence free-form). The card-funding fields, from `fiatPaymentStatus` to
    `cardLast4`, are present only once a card payment was attempted."""

    id: str
    object: Literal["payment_intent"]
    merchantId: str
    livemode: bool
    status: str
    amount: AmountStr
    currency: str
    type: str
    description: str | None
    settlementMethod: str
    settlementDestination: str | None
    settlementStatus: str | None
    contractAddress: str
    transactionHash: str | None
    chainId: int
    typedData: IntentTypedData
    signature: str | None
    signerAddress: str | None
    phases: list[Phase]
    metadata: dict[str, Any] | None = Field(
        description="Merchant-defined JSON object (free-form), as created"
    )
    paymentUrl: str
    estimatedFee: str
    estimatedDeliveryTime: str
    lastPaymentError: PaymentError | None
    created: int
    updated: int
    fiatPaymentStatus: str | None = None
    paymentProcessorType: str | None = None
    paymentProcessorTxId: str | None = None
    onRampStatus: str | None = None
    onRampTxId: str | None = None
    stablecoinAmount: AmountStr | None = None
    stablecoinCurrency: str | None = None
    cardLast4: str | None = None


class IntentEnvelope(WireModel):
    """An intent answer. The create answer (201) also carries the merchant's
    `metadata` at the top level (free-form, as given)."""

    id: str
    object: Literal["payment_intent"]
    status: str
    data: IntentData
    created: int
    updated: int
    metadata: dict[str, Any] | None = Field(
        default=None, description="Create answer only: the merchant-defined metadata"
    )


class PublicMilestone(WireModel):
    milestoneIndex: int
    description: str | None
    amount: AmountStr
    percentage: int | float
    status: str


class ReleaseTerms(WireModel):
    releaseType: str
    autoRelease: bool
    disputeWindow: str
    timeLockUntil: UnixStr | None
    deliveryPeriod: int | None


class PublicIntentData(WireModel):
    """The intent as its payer may see it: every documented field of the intent
    except the merchant's own (`merchantId`, `settlementMethod`,
    `settlementDestination`, `metadata`), the wallet's (`signature`,
    `signerAddress`) and the processors' references (`paymentProcessorTxId`,
    `onRampTxId`). The card-funding fields are present once a card payment was
    attempted, as on the intent."""

    id: str
    object: Literal["payment_intent"]
    livemode: bool
    status: str
    amount: AmountStr
    currency: str
    type: str
    description: str | None
    settlementStatus: str | None
    typedData: IntentTypedData
    contractAddress: str
    transactionHash: str | None
    chainId: int
    paymentUrl: str
    phases: list[Phase]
    estimatedFee: str
    estimatedDeliveryTime: str
    lastPaymentError: PaymentError | None
    created: int
    updated: int
    merchantName: str | None
    milestones: list[PublicMilestone]
    releaseTerms: ReleaseTerms | None
    fiatPaymentStatus: str | None = None
    paymentProcessorType: str | None = None
    onRampStatus: str | None = None
    stablecoinAmount: AmountStr | None = None
    stablecoinCurrency: str | None = None
    cardLast4: str | None = None


class PublicIntentEnvelope(WireModel):
    """What a hosted payment page needs, and nothing else."""

    id: str
    object: Literal["payment_intent"]
    status: str
    data: PublicIntentData
    created: int
    updated: int


# --- the conditional payment and its children ------------------------------------------


class MilestoneData(WireModel):
    """A milestone. `approvalTypedData` (what the payer signs to approve its
    release) is on the answers about one milestone, not in lists or orders."""

    id: str
    object: Literal["milestone"]
    conditionalPaymentId: str
    escrowOrderId: str
    paymentIntentId: str
    milestoneIndex: int
    description: str | None
    amount: AmountStr
    percentage: int | float = Field(description="Share in percent: 30, or 33.33")
    status: str
    completionProof: str | None
    completionProofURI: str | None
    completedAt: UnixStr | None
    completedBy: str | None
    releasedAt: UnixStr | None
    releasedBy: str | None
    releaseTxHash: str | None
    createdAt: IsoTime
    updatedAt: IsoTime
    approvalTypedData: ReleaseApprovalTypedData | None = None


class MilestoneEnvelope(WireModel):
    """`status` (completed, released, ...) is on the complete and approve answers."""

    id: str
    object: Literal["milestone"]
    status: str | None = None
    data: MilestoneData


class DeliveryProofData(WireModel):
    id: str
    object: Literal["delivery_proof"]
    conditionalPaymentId: str
    escrowOrderId: str
    paymentIntentId: str
    proofHash: str
    proofURI: str | None
    submittedBy: str | None
    submittedAt: UnixStr | None
    submitTxHash: str | None
    createdAt: IsoTime


class DeliveryProofEnvelope(WireModel):
    id: str
    object: Literal["delivery_proof"]
    data: DeliveryProofData


class OrderData(WireModel):
    """The conditional payment (escrow order) of an intent. `object` is
    "escrow_order" on GET .../escrow (the older docs and the hackathon collection),
    "conditional_payment" everywhere else."""

    id: str
    object: Literal["conditional_payment", "escrow_order"]
    paymentIntentId: str
    merchantId: str
    orderId: str
    contractAddress: str
    tokenAddress: str
    buyerAddress: str | None
    currency: str
    amount: AmountStr
    fundedAmount: AmountStr
    releasedAmount: AmountStr
    refundedAmount: AmountStr
    heldAmount: AmountStr
    settledAmount: AmountStr
    fundedAt: UnixStr | None
    releaseType: str
    autoRelease: bool
    autoReleaseOnProof: bool
    timeLockUntil: UnixStr | None
    deliveryPeriod: int | None
    deliveryDeadline: UnixStr | None
    expectedDeliveryHash: str | None
    actualDeliveryHash: str | None
    deliveryOracle: str | None
    orderStatus: str
    settlementStatus: str | None
    disputeWindow: str
    disputeId: str | None
    disputeRaisedAt: UnixStr | None
    disputeReason: str | None
    disputeRaisedBy: str | None
    disputeResolvedAt: UnixStr | None
    disputeResolution: str | None
    releasedAt: UnixStr | None
    deliveredAt: UnixStr | None
    approvalTypedData: ReleaseApprovalTypedData | None = Field(
        description="Set while the order is DELIVERED: what the payer signs to approve"
    )
    milestones: list[MilestoneData]
    deliveryProofs: list[DeliveryProofData]
    createdAt: IsoTime
    updatedAt: IsoTime


class OrderEnvelope(WireModel):
    id: str
    object: Literal["conditional_payment", "escrow_order"]
    data: OrderData


class DisputeData(WireModel):
    id: str
    object: Literal["dispute"]
    conditionalPaymentId: str
    paymentIntentId: str
    reason: str
    raisedBy: str
    disputeWindow: str
    raisedAt: UnixStr | None
    status: str
    resolution: str | None
    refundAmount: AmountStr | None
    resolvedAt: UnixStr | None
    resolvedBy: str | None
    orderStatus: str


class DisputeEnvelope(WireModel):
    id: str
    object: Literal["dispute"]
    status: Literal["raised", "resolved"]
    data: DisputeData


class RefundData(WireModel):
    id: str
    object: Literal["refund"]
    amount: AmountStr
    currency: str
    paymentIntentId: str
    conditionalPaymentId: str | None
    reason: str | None
    status: Literal["succeeded"]
    created: int


class IntentList(ListEnvelope[IntentData]):
    pass


class MilestoneList(ListEnvelope[MilestoneData]):
    pass


# --- the payer's side (client secret) -------------------------------------------------


class PayerView(WireModel):
    """What the holder of an intent's client secret sees: the intent as the payment
    page shows it, the conditional payment (milestones, proofs, dispute) and refunds."""

    id: str
    object: Literal["payer_view"]
    intent: PublicIntentData
    order: OrderData | None
    refunds: list[RefundData]


class PaidIntentEnvelope(WireModel):
    """A successful payment by the payer: the intent, and the payer's client secret
    (shown once; never to the merchant)."""

    id: str
    object: Literal["payment_intent"]
    status: str
    data: PublicIntentData  # the public view: a keyless answer shows nothing more
    created: int
    updated: int
    clientSecret: str | None = Field(
        default=None, description="The payer's client secret (successful payments only)"
    )
