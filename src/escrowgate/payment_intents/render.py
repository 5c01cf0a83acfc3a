"""Wire shapes of a payment intent (the docs' envelope and fields)."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..domain.money import format_amount
from ..models import PaymentIntent
from .typed_data import intent_typed_data


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
        "paymentUrl": f"{settings.payment_page_url.rstrip('/')}/?intent={intent.id}",
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
