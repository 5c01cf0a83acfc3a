"""Request bodies of the payment aggregate's routes: what the wire accepts, with
each field's own 400 message. Response shapes are in render.py."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from ..api.fields import (
    Amount,
    OmittableAmount,
    Percentage,
    RequestModel,
    address_field,
    bytes32_field,
    fail,
    one_of,
    text_field,
)
from ..db.engine import json_dumps
from ..domain import currencies, durations
from . import model

MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 8 * 1024
MAX_PERIOD = 10 * 365 * 86_400
MAX_METADATA_EXPONENT = 308  # the range of a JSON number every client can read (double)


def _payment_type(value: Any) -> str:
    if isinstance(value, str) and value in model.TYPE_ALIASES:
        return model.TYPE_ALIASES[value]
    if not isinstance(value, str) or value not in tuple(model.IntentType):
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


# An integer written out in digits from 1e309 up is past every client's double, as
# 1e309 is (past 4,000 digits the body parser gives a Decimal, checked as one).
_TOO_LARGE_INT = 10 ** (MAX_METADATA_EXPONENT + 1)


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
        ) or (isinstance(item, int) and abs(item) >= _TOO_LARGE_INT):
            raise fail(
                f"metadata numbers must be between 1e-{MAX_METADATA_EXPONENT} and "
                f"1e{MAX_METADATA_EXPONENT} in magnitude"
            )


def _period(name: str, high: int) -> Any:
    """A period field: whole seconds or a duration ("3600s", "30m", "24h", "7d"),
    greater than 0 (the same messages as the metadata keys, payments/terms.py)."""

    def check(value: Any) -> int:
        seconds = durations.parse_seconds(value)
        if seconds is None:
            raise fail(durations.must_be(name))
        if not 0 <= seconds <= high:
            raise fail(f"{name} must be between 0 and {high}")
        if seconds == 0:
            raise fail(f"{name} must be greater than 0")
        return seconds

    return check


DURATION_SCHEMA = {
    "oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]{1,12}[smhd]?$"}]
}


def _bool(name: str) -> Any:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise fail(f"{name} must be a boolean")
        return value

    return check


def _currency(value: Any) -> str:
    code = currencies.normalize(value)
    if code is None:
        raise fail(currencies.INVALID_CURRENCY_MESSAGE)
    return code


Currency = Annotated[
    str,
    BeforeValidator(_currency),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Upper-cased on input; fiat currencies are card-funded only",
            "enum": list(currencies.CURRENCIES),
        }
    ),
]
PaymentType = Annotated[
    str,
    BeforeValidator(_payment_type),
    WithJsonSchema({"type": "string", "enum": [*tuple(model.IntentType), *model.TYPE_ALIASES]}),
]
SettlementMethod = Annotated[
    str,
    BeforeValidator(
        one_of(
            model.SETTLEMENT_METHODS,
            "Invalid settlementMethod. Must be one of " + ", ".join(model.SETTLEMENT_METHODS),
        )
    ),
    WithJsonSchema({"type": "string", "enum": list(model.SETTLEMENT_METHODS)}),
]
Metadata = Annotated[
    dict[str, Any],
    BeforeValidator(_metadata),
    # A string-keyed map of any JSON values (typed clients: Record<string, unknown>).
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_METADATA_KEYS,
            "additionalProperties": True,
            "description": "Merchant-defined JSON object (free-form), returned as given",
            "examples": [{"releaseType": "MILESTONE_LOCKED", "orderRef": "A-1001"}],
        }
    ),
]


class CreatePaymentIntent(RequestModel):
    amount: Amount
    currency: Currency
    type: PaymentType
    # Optional (the hackathon collection marks them so): test mode defaults them,
    # live mode requires them (intents.create_intent).
    settlementMethod: SettlementMethod | None = None
    settlementDestination: text_field("settlementDestination", 255) | None = None  # type: ignore[valid-type]
    description: text_field("description", 1000) | None = None  # type: ignore[valid-type]
    metadata: Metadata | None = None
    deliveryPeriod: (
        Annotated[
            int,
            BeforeValidator(_period("deliveryPeriod", MAX_PERIOD)),
            WithJsonSchema(DURATION_SCHEMA),
        ]
        | None
    ) = None
    expectedDeliveryHash: bytes32_field("expectedDeliveryHash") | None = None  # type: ignore[valid-type]
    autoRelease: (
        Annotated[bool, BeforeValidator(_bool("autoRelease")), WithJsonSchema({"type": "boolean"})]
        | None
    ) = None
    deliveryOracle: address_field("deliveryOracle") | None = None  # type: ignore[valid-type]


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


def _milestone_index(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= model.MAX_MILESTONE_INDEX
    ):
        raise fail(f"milestoneIndex must be an integer from 0 to {model.MAX_MILESTONE_INDEX}")
    return value


MilestoneIndex = Annotated[
    int,
    BeforeValidator(_milestone_index),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": model.MAX_MILESTONE_INDEX}),
]


class CreateMilestone(RequestModel):
    milestoneIndex: MilestoneIndex
    description: text_field("description", 1000) | None = None  # type: ignore[valid-type]
    amount: Amount
    percentage: Percentage | None = None


class CompleteMilestone(RequestModel):
    completedBy: text_field("completedBy", 255)  # type: ignore[valid-type]
    completionProof: text_field("completionProof", 2000) | None = None  # type: ignore[valid-type]
    completionProofURI: text_field("completionProofURI", 2000) | None = None  # type: ignore[valid-type]


class SubmitDeliveryProof(RequestModel):
    proofHash: bytes32_field("proofHash")  # type: ignore[valid-type]
    submittedBy: text_field("submittedBy", 255)  # type: ignore[valid-type]
    proofURI: text_field("proofURI", 2000) | None = None  # type: ignore[valid-type]
    submitTxHash: bytes32_field("submitTxHash") | None = None  # type: ignore[valid-type]


RESOLUTIONS = tuple(model.Resolution)
MAX_WINDOW = 10 * 365 * 86_400


def _window(value: Any) -> int:
    """Seconds, as the docs' string ("604800"), an integer, or a duration ("7d")."""
    seconds = durations.parse_seconds(value)
    if seconds is None:
        raise fail(durations.must_be("disputeWindow"))
    if seconds == 0:  # as for metadata.disputeWindow: refused everywhere
        raise fail("disputeWindow must be greater than 0")
    if not 1 <= seconds <= MAX_WINDOW:
        raise fail(f"disputeWindow must be a whole number of seconds from 1 to {MAX_WINDOW}")
    return seconds


class RaiseDispute(RequestModel):
    reason: text_field("reason", 2000)  # type: ignore[valid-type]
    raisedBy: text_field("raisedBy", 255)  # type: ignore[valid-type]
    disputeWindow: (
        Annotated[
            int,
            BeforeValidator(_window),
            WithJsonSchema(DURATION_SCHEMA),
        ]
        | None
    ) = None


class ResolveDispute(RequestModel):
    resolution: Annotated[
        str,
        BeforeValidator(one_of(RESOLUTIONS, "resolution must be one of " + ", ".join(RESOLUTIONS))),
        WithJsonSchema({"type": "string", "enum": list(RESOLUTIONS)}),
    ]
    refundAmount: OmittableAmount = None


class CreateRefund(RequestModel):
    amount: OmittableAmount = None
    reason: text_field("reason", 64) | None = None  # type: ignore[valid-type]


class ApproveRelease(RequestModel):
    """The payer's EIP-712 approval of a milestone or of a delivered order."""

    signature: Signature


MAX_ADVANCE = 10 * 365 * 86_400


def _seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ADVANCE:
        raise fail(f"seconds must be an integer from 1 to {MAX_ADVANCE}")
    return value


class AdvanceClock(RequestModel):
    seconds: Annotated[
        int,
        BeforeValidator(_seconds),
        WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ADVANCE}),
    ]


class PayerDispute(RequestModel):
    """The payer's dispute through the client secret (raisedBy is always "payer")."""

    reason: text_field("reason", 2000)  # type: ignore[valid-type]
