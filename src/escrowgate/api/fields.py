"""Reusable request field types. Validation messages are ours (type "escrowgate"),
so the error envelope can name the field and say exactly what is wrong."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel as _BaseModel
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from ..domain import money
from ..domain.formats import ADDRESS_RE, BYTES32_RE


def fail(message: str, *, code: str | None = None) -> PydanticCustomError:
    """A validation failure with our own message (and, optionally, error code)."""
    return PydanticCustomError(
        "escrowgate", message.replace("{", "(").replace("}", ")"), {"code": code} if code else None
    )


class RequestModel(_BaseModel):
    """Request bodies: unknown fields are rejected, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)


def _amount(value: Any) -> str:
    try:
        money.parse_amount(value)
    except money.AmountError as exc:
        raise fail(str(exc)) from exc
    return str(value)


_AMOUNT_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": r"^[0-9]+(\.[0-9]{1,6})?$",
        "description": "Decimal string > 0, at most 6 decimals, at most 1e12",
        "examples": ["300.00"],
    }
)
Amount = Annotated[str, BeforeValidator(_amount), _AMOUNT_SCHEMA]
# An amount that may be left out (its field defaults to None: "all held"). A null sent
# is not left out: it is checked as any other value, and refused, so that a client's
# missing value never refunds everything.
OmittableAmount = Annotated[str | None, BeforeValidator(_amount), _AMOUNT_SCHEMA]


def one_of(values: Sequence[str], message: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in values:
            raise fail(message)
        return value

    return check


def _text(max_length: int, *, allow_empty: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise fail("must be a string")
        if not allow_empty and not value.strip():
            raise fail("must not be empty")
        if len(value) > max_length:
            raise fail(f"must be at most {max_length} characters")
        if "\x00" in value:
            raise fail("must not contain NUL characters")
        return value

    return check


def _named(check: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    def named(value: Any) -> Any:
        try:
            return check(value)
        except PydanticCustomError as exc:
            raise fail(f"{name} {exc.message()}") from exc

    return named


def text_field(name: str, max_length: int) -> Any:
    return Annotated[
        str,
        BeforeValidator(_named(_text(max_length), name)),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": max_length}),
    ]


def _pattern(regex: Any, message: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise fail(message)
        return value

    return check


def bytes32_field(name: str) -> Any:
    return Annotated[
        str,
        BeforeValidator(_pattern(BYTES32_RE, f"{name} must be a valid bytes32 hex string")),
        WithJsonSchema({"type": "string", "pattern": BYTES32_RE.pattern}),
    ]


def address_field(name: str) -> Any:
    return Annotated[
        str,
        BeforeValidator(_pattern(ADDRESS_RE, f"{name} must be an Ethereum address (0x + 40 hex)")),
        WithJsonSchema({"type": "string", "pattern": ADDRESS_RE.pattern}),
    ]


def _percentage(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise fail("percentage must be a number between 0 and 100")
    number = Decimal(value)
    if not number.is_finite() or number < 0 or number > 100:
        raise fail("percentage must be a number between 0 and 100")
    return number


Percentage = Annotated[
    Decimal,
    BeforeValidator(_percentage),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100}),
]


__all__ = ["Field", "RequestModel"]
