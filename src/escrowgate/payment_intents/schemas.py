from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from ..api.fields import (
    Amount,
    RequestModel,
    address_field,
    bytes32_field,
    fail,
    one_of,
    text_field,
)
from ..db.engine import json_dumps
from ..domain import intents

MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 8 * 1024
MAX_METADATA_EXPONENT = 308  # the range of a JSON number every client can read (double)


def _payment_type(value: Any) -> str:
    if isinstance(value, str) and value in intents.TYPE_ALIASES:
        return intents.TYPE_ALIASES[value]
    if not isinstance(value, str) or value not in intents.TYPES:
        raise fail("Invalid payment type. Must be CONDITIONAL or DELIVERY_VS_PAYMENT")
    return value


def _metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail("metadata must be a JSON object")
    if len(value) > MAX_METADATA_KEYS:
        raise fail(f"metadata can have at most {MAX_METADATA_KEYS} keys")
    for key in value:
        if len(key) > 40 or not key:
            raise fail("metadata keys must be 1 to 40 characters")
    _check_numbers(value)
    text = json_dumps(value)
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise fail(f"metadata must be at most {MAX_METADATA_BYTES} bytes when serialized")
    # The body parser reads fractions as Decimal; keep what is stored (plain JSON numbers)
    # so that every answer, the first included, shows the same metadata and can render it.
    return dict(json.loads(text))


def _check_numbers(value: Any) -> None:
    """Reject numbers no client could read back. (1e10000000 is 12 bytes of JSON whose
    integer value would take minutes to build.)"""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif (
            isinstance(item, Decimal)
            and item != 0
            and (abs(item.adjusted()) > MAX_METADATA_EXPONENT)
        ):
            raise fail(
                f"metadata numbers must be between 1e-{MAX_METADATA_EXPONENT} and "
                f"1e{MAX_METADATA_EXPONENT} in magnitude"
            )


def _whole_seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise fail("deliveryPeriod must be a positive whole number of seconds")
    return value


def _bool(name: str) -> Any:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise fail(f"{name} must be a boolean")
        return value

    return check


Currency = Annotated[
    str,
    BeforeValidator(one_of(intents.CURRENCIES, "Invalid currency. Must be USDC, USDT or DAI")),
    WithJsonSchema({"type": "string", "enum": list(intents.CURRENCIES)}),
]
PaymentType = Annotated[
    str,
    BeforeValidator(_payment_type),
    WithJsonSchema({"type": "string", "enum": [*intents.TYPES, *intents.TYPE_ALIASES]}),
]
SettlementMethod = Annotated[
    str,
    BeforeValidator(
        one_of(
            intents.SETTLEMENT_METHODS,
            "Invalid settlementMethod. Must be one of " + ", ".join(intents.SETTLEMENT_METHODS),
        )
    ),
    WithJsonSchema({"type": "string", "enum": list(intents.SETTLEMENT_METHODS)}),
]
Metadata = Annotated[
    dict[str, Any],
    BeforeValidator(_metadata),
    WithJsonSchema({"type": "object", "maxProperties": MAX_METADATA_KEYS}),
]


class CreatePaymentIntent(RequestModel):
    amount: Amount
    currency: Currency
    type: PaymentType
    settlementMethod: SettlementMethod
    settlementDestination: text_field("settlementDestination", 255)  # type: ignore[valid-type]
    description: text_field("description", 1000) | None = None  # type: ignore[valid-type]
    metadata: Metadata | None = None
    deliveryPeriod: (
        Annotated[
            int,
            BeforeValidator(_whole_seconds),
            WithJsonSchema({"type": "integer", "minimum": 1}),
        ]
        | None
    ) = None
    expectedDeliveryHash: bytes32_field("expectedDeliveryHash") | None = None  # type: ignore[valid-type]
    autoRelease: (
        Annotated[bool, BeforeValidator(_bool("autoRelease")), WithJsonSchema({"type": "boolean"})]
        | None
    ) = None
    deliveryOracle: address_field("deliveryOracle") | None = None  # type: ignore[valid-type]
