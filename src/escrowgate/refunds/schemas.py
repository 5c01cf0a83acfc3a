from __future__ import annotations

from ..api.fields import Amount, RequestModel, text_field


class CreateRefund(RequestModel):
    amount: Amount | None = None
    reason: text_field("reason", 64) | None = None  # type: ignore[valid-type]
