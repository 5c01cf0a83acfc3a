from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from ..api.fields import RequestModel, address_field, fail, text_field

TX_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(
    name: str, low: int, high: int, message: str, code: str | None = None, *, luhn: bool = False
) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise fail(message, code=code)
        cleaned = value.replace(" ", "")
        if not cleaned.isascii() or not cleaned.isdigit() or not low <= len(cleaned) <= high:
            raise fail(message, code=code)
        if luhn and not _luhn_ok(cleaned):
            raise fail(message, code=code)
        return cleaned

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string"})]


def _expiry(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"(0[1-9]|1[0-2])/[0-9]{2}", value):
        raise fail("Card expiry must be MM/YY")
    return value


def _two_letters(name: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value):
            raise fail(f"{name} must be exactly 2 letters")
        return value

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string"})]


def _tx_hash(value: Any) -> str:
    if not isinstance(value, str) or not TX_HASH_RE.fullmatch(value):
        raise fail(
            "Transaction hash must be a valid 64-character hex string with 0x prefix",
            code="invalid_transaction_hash",
        )
    return value.lower()


class Card(RequestModel):
    cardNumber: _digits(  # type: ignore[valid-type]
        "cardNumber", 13, 19, "Your card number is invalid.", "invalid_card", luhn=True
    )
    expiry: Annotated[str, BeforeValidator(_expiry), WithJsonSchema({"type": "string"})]
    cvv: _digits("cvv", 3, 4, "Your card's security code is invalid.")  # type: ignore[valid-type]
    name: text_field("name", 200)  # type: ignore[valid-type]
    addressLine1: text_field("addressLine1", 200) | None = None  # type: ignore[valid-type]
    addressLine2: text_field("addressLine2", 200) | None = None  # type: ignore[valid-type]
    city: text_field("city", 100) | None = None  # type: ignore[valid-type]
    state: _two_letters("state") | None = None  # type: ignore[valid-type]
    zipCode: text_field("zipCode", 20) | None = None  # type: ignore[valid-type]
    country: _two_letters("country") | None = None  # type: ignore[valid-type]


class CardPayment(RequestModel):
    card: Card
    # Optional payer wallet: lets a card payer approve releases with EIP-712.
    payerAddress: address_field("payerAddress") | None = None  # type: ignore[valid-type]


def _signature(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{130}", value):
        raise fail("signature must be a 65-byte hex string (0x + 130 hex)")
    return value


Signature = Annotated[str, BeforeValidator(_signature), WithJsonSchema({"type": "string"})]


class ConfirmIntent(RequestModel):
    signature: Signature
    payerAddress: address_field("payerAddress")  # type: ignore[valid-type]
    transactionHash: (
        Annotated[str, BeforeValidator(_tx_hash), WithJsonSchema({"type": "string"})] | None
    ) = None


class TransactionHash(RequestModel):
    transactionHash: Annotated[str, BeforeValidator(_tx_hash), WithJsonSchema({"type": "string"})]
