"""Every event type escrowgate emits: the one list that endpoint validation
(`enabledEvents`), `escrowgate webhooks trigger` and docs/webhooks.md follow."""

from __future__ import annotations

from ..domain.errors import InvalidRequest
from ..domain.formats import clip

EVENT_TYPES: dict[str, str] = {
    "payment_intent.created": "A payment intent was created.",
    "payment_intent.status_changed": "An intent changed status (`previous_status` in the object).",
    "payment_intent.blockchain_tx_submitted": "The payer's transaction hash was recorded.",
    "payment_intent.blockchain_tx_confirmed": "The chain confirmed the payer's transaction.",
    "payment_intent.settlement_initiated": "A payout of released money to the merchant started.",
    "payment_intent.settlement_completed": "A payout reached the settlement destination.",
    "escrow_order.created": "A conditional payment (escrow order) was created.",
    "escrow_order.released": "Money held by an order was released to the merchant.",
    "escrow_order.cancelled": "An order was cancelled (nothing left to release).",
    "milestone.created": "A milestone was added to an order.",
    "milestone.completed": "The merchant marked a milestone complete.",
    "milestone.approved": "The payer approved a completed milestone.",
    "milestone.released": "A milestone's amount was released to the merchant.",
    "milestone.cancelled": "A milestone was cancelled (its money refunded or never covered).",
    "delivery_proof.submitted": "A delivery proof was recorded on an order.",
    "time_lock.released": "An order's time lock passed and its money was released.",
    "dispute.raised": "A dispute froze an order.",
    "dispute.resolved": "A dispute was resolved.",
    "refund.created": "Money held in escrow went back to the payer.",
    "webhook_endpoint.disabled": "An endpoint was disabled after failing (410, or 3 days).",
}

WILDCARD = "*"


def is_known(event_type: str) -> bool:
    return event_type in EVENT_TYPES


def check_known(event_type: str, param: str) -> None:
    """The one refusal of a type not in the catalogue (a filter, an endpoint's list)."""
    if not is_known(event_type):
        raise InvalidRequest(f"Unknown event type: {clip(event_type)}", param=param)


def matches(enabled_events: list[str], event_type: str) -> bool:
    return WILDCARD in enabled_events or event_type in enabled_events
