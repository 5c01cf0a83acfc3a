"""An event's payload is a renderer's wire object serialized as it is (no model);
the answer is the model validated from the same object. The two must be the same
JSON, byte for byte, or a webhook would show an object the API never answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic_core import to_json

from escrowgate.config import Settings
from escrowgate.domain.typed_data import intent_typed_data, release_approval_typed_data
from escrowgate.models import Milestone, PaymentIntent
from escrowgate.payments import render, wire

C = "0x" + "ab" * 20

SETTINGS = Settings(database_url="sqlite://", log_level="WARNING")

INTENT: dict[str, Any] = dict(
    id="intent_0001",
    merchant_id="merchant_1",
    mode="test",
    status="PROCESSING",
    type="DELIVERY_VS_PAYMENT",
    amount=1_234_567_000,
    currency="USDC",
    description="Caf\u00e9 \u2713",
    settlement_method="OFF_RAMP_MOCK",
    settlement_destination="bank_account_123",
    settlement_status="PENDING",
    metadata_json=None,
    phases=[
        {"phase": "SIGNATURE_VERIFICATION", "status": "COMPLETED", "timestamp": 1765000000},
        {"timestamp": 1765000001, "status": "IN_PROGRESS", "phase": "BLOCKCHAIN_CONFIRMATION"},
    ],
    transaction_hash=None,
    signature=None,
    signer_address=None,
    funding=None,
    last_payment_error=None,
    created_at=1765000000,
    updated_at=1765000002,
)
FUNDING = {  # not in wire order: the object puts it in order
    "cardLast4": "4242",
    "stablecoinCurrency": "USDC",
    "fiatPaymentStatus": "succeeded",
    "paymentProcessorType": "mock",
    "paymentProcessorTxId": "ch_1",
    "onRampStatus": "completed",
    "onRampTxId": "or_1",
    "stablecoinAmount": "1234.567",
}
INTENTS = [
    INTENT,
    {**INTENT, "metadata_json": {"order": "A-1", "qty": 2, "ratio": Decimal("1.50"), "n": None}},
    {**INTENT, "funding": FUNDING, "status": "SUCCEEDED", "transaction_hash": "0x" + "ab" * 32},
    {
        **INTENT,
        "status": "INITIATED",
        "funding": {**FUNDING, "fiatPaymentStatus": "failed", "onRampStatus": None},
        "last_payment_error": {"message": "declined", "code": "card_declined", "cardLast4": "0002"},
    },
]

MILESTONE: dict[str, Any] = dict(
    id="milestone_1",
    conditional_payment_id="conditional_payment_1",
    payment_intent_id="intent_0001",
    merchant_id="merchant_1",
    currency="USDC",
    milestone_index=0,
    description=None,
    amount=1_000_000_000,
    percentage_bp=3333,
    status="PENDING",
    completion_proof=None,
    completion_proof_uri=None,
    completed_at=None,
    completed_by=None,
    released_at=None,
    released_by=None,
    release_tx_hash=None,
    created_at=1765000000,
    updated_at=1765000000,
)
MILESTONES = [
    MILESTONE,
    {
        **MILESTONE,
        "description": "Design \u2713",
        "percentage_bp": 3000,
        "status": "RELEASED",
        "completion_proof": "0x" + "cd" * 32,
        "completion_proof_uri": "ipfs://Qm",
        "completed_at": 1765000100,
        "completed_by": "0x" + "ef" * 20,
        "released_at": 1765000100,
        "released_by": "AUTO_RELEASE",
        "release_tx_hash": "0x" + "12" * 32,
        "updated_at": 1765000100,
    },
]


@pytest.mark.parametrize("fields", INTENTS)
def test_intent_payload_is_the_answers_data(fields: dict[str, Any]) -> None:
    intent = PaymentIntent(**fields)
    payload = to_json(render.intent_object(intent, SETTINGS))
    answer = render.intent_wire(intent, SETTINGS).model_dump_json(exclude_unset=True)
    assert payload.decode() == answer


@pytest.mark.parametrize("fields", MILESTONES)
@pytest.mark.parametrize("currency", [None, "JPY"])
def test_milestone_payload_is_the_answers_data(fields: dict[str, Any], currency: str | None):
    m = Milestone(**fields)
    payload = to_json(render.milestone_object(m, currency=currency))
    answer = render.milestone_wire(m, currency=currency).model_dump_json(exclude_unset=True)
    assert payload.decode() == answer


@pytest.mark.parametrize(
    ("cls", "make"),
    [
        (
            wire.ReleaseApprovalTypedData,
            lambda n, chain: release_approval_typed_data(
                f"intent_{n}", f"milestone_{n}", n * 1_000_000, chain_id=chain, contract_address=C
            ),
        ),
        (
            wire.IntentTypedData,
            lambda n, chain: intent_typed_data(
                f"intent_{n}", n * 1_000_000, chain_id=chain, contract_address=C
            ),
        ),
    ],
)
def test_typed_data_model_is_the_validated_typed_data(cls: Any, make: Any) -> None:
    # The types and domain are validated once per kind and domain and shared; each
    # model still equals the whole typed data validated, message included.
    for chain in (1, 11155111):
        for n in (1, 2, 3):
            typed = make(n, chain)
            model = render.typed_data_model(cls, typed)
            assert model.model_dump_json(exclude_unset=True) == (
                cls.model_validate(typed).model_dump_json(exclude_unset=True)
            )
            assert model.message.model_dump() == typed["message"]
