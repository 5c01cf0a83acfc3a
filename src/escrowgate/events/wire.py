"""The wire shapes of events (Pydantic only: the API client imports them too)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..wire import ListEnvelope, WireModel


class EventData(WireModel):
    object: dict[str, Any] = Field(
        description=(
            "The object the event is about, as it was then: a payment intent, conditional "
            "payment, milestone, delivery proof, dispute, refund or settlement (its `object` "
            "key says which; some events add a field such as `previous_status`). One of "
            "several shapes, stored as emitted, hence a free-form object here."
        )
    )


class EventRequest(WireModel):
    """The API request that caused the event (null for the worker's)."""

    id: str
    idempotencyKey: str | None


class EventWire(WireModel):
    id: str
    object: Literal["event"]
    type: str
    livemode: bool
    data: EventData
    created: int
    request: EventRequest | None


class EventList(ListEnvelope[EventWire]):
    pass
