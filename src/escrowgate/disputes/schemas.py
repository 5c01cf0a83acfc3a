from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from ..api.fields import Amount, RequestModel, fail, one_of, text_field

RESOLUTIONS = ("MERCHANT_WON", "BUYER_WON", "PARTIAL_REFUND")
MAX_WINDOW = 10 * 365 * 86_400


def _window(value: Any) -> int:
    """Seconds, as the docs' string ("604800") or an integer."""
    if isinstance(value, bool):
        raise fail("disputeWindow must be a whole number of seconds")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value):
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_WINDOW:
        raise fail(f"disputeWindow must be a whole number of seconds from 1 to {MAX_WINDOW}")
    return value


class RaiseDispute(RequestModel):
    reason: text_field("reason", 2000)  # type: ignore[valid-type]
    raisedBy: text_field("raisedBy", 255)  # type: ignore[valid-type]
    disputeWindow: (
        Annotated[
            int,
            BeforeValidator(_window),
            WithJsonSchema({"oneOf": [{"type": "string"}, {"type": "integer"}]}),
        ]
        | None
    ) = None


class ResolveDispute(RequestModel):
    resolution: Annotated[
        str,
        BeforeValidator(one_of(RESOLUTIONS, "resolution must be one of " + ", ".join(RESOLUTIONS))),
        WithJsonSchema({"type": "string", "enum": list(RESOLUTIONS)}),
    ]
    refundAmount: Amount | None = None
