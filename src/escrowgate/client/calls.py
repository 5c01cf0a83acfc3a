"""Every API call the client makes, written once as a `Call` (method, path, body,
query); the sync and async resources only send them. Keyword arguments are the
wire's fields in snake_case; None means "not sent"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

from ._core import Call, body


def seg(value: str) -> str:
    return quote(value, safe="")


def _amount(value: str | Decimal | None) -> str | None:
    """Amounts are decimal strings on the wire: a Decimal is sent as its string."""
    return None if value is None else str(value)


def intent(intent_id: str) -> str:
    return f"/payment-intents/{seg(intent_id)}"


def milestone(intent_id: str, milestone_id: str) -> str:
    return f"{intent(intent_id)}/escrow/milestones/{seg(milestone_id)}"


def create_intent(
    *,
    amount: str | Decimal,
    currency: str,
    type: str,
    settlement_method: str | None,
    settlement_destination: str | None,
    description: str | None,
    metadata: dict[str, Any] | None,
    delivery_period: int | str | None,
    expected_delivery_hash: str | None,
    auto_release: bool | None,
    delivery_oracle: str | None,
    idempotency_key: str | None,
) -> Call:
    return Call(
        "POST",
        "/payment-intents",
        body(
            amount=_amount(amount),
            currency=currency,
            type=type,
            settlementMethod=settlement_method,
            settlementDestination=settlement_destination,
            description=description,
            metadata=metadata,
            deliveryPeriod=delivery_period,
            expectedDeliveryHash=expected_delivery_hash,
            autoRelease=auto_release,
            deliveryOracle=delivery_oracle,
        ),
        idempotency_key=idempotency_key,
    )


def post(path: str, idempotency_key: str | None, **fields: Any) -> Call:
    return Call("POST", path, body(**fields), idempotency_key=idempotency_key)


def create_milestone(
    intent_id: str,
    *,
    milestone_index: int,
    amount: str | Decimal,
    description: str | None,
    percentage: int | Decimal | None,
    idempotency_key: str | None,
) -> Call:
    return post(
        f"{intent(intent_id)}/escrow/milestones",
        idempotency_key,
        milestoneIndex=milestone_index,
        description=description,
        amount=_amount(amount),
        percentage=percentage,
    )


def refund(
    intent_id: str,
    *,
    amount: str | Decimal | None,
    reason: str | None,
    idempotency_key: str | None,
) -> Call:
    return post(
        f"{intent(intent_id)}/refund", idempotency_key, amount=_amount(amount), reason=reason
    )


def resolve_dispute(
    intent_id: str,
    *,
    resolution: str,
    refund_amount: str | Decimal | None,
    idempotency_key: str | None,
) -> Call:
    return post(
        f"{intent(intent_id)}/conditional-payment/dispute/resolve",
        idempotency_key,
        resolution=resolution,
        refundAmount=_amount(refund_amount),
    )
