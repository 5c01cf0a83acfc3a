"""Events are written in the same transaction as the state change they describe."""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import Field
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.rows import add_row
from ..domain import ids
from ..domain.clock import now
from ..domain.origin import current_origin
from ..models import Event
from ..wire import ListEnvelope, WireModel

_EVENTS = cast(Table, Event.__table__)


def emit(
    session: AsyncSession, *, merchant_id: str, mode: str, type: str, obj: dict[str, Any]
) -> str:
    """Write the event (its id is returned) in the session's transaction: a plain row,
    inserted with the transaction's other events in one statement (`db/rows.py`)."""
    origin = current_origin.get()
    event_id = ids.new_id(ids.EVENT)
    add_row(
        session,
        _EVENTS,
        {
            "id": event_id,
            "merchant_id": merchant_id,
            "mode": mode,
            "type": type,
            "object_id": str(obj.get("id", "")),
            "payload": obj,
            "created_at": now(),
            "request_id": origin.request_id if origin else None,
            "idempotency_key": origin.idempotency_key if origin else None,
        },
    )
    return event_id


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


def render(event: Event) -> EventWire:
    return EventWire(
        id=event.id,
        object="event",
        type=event.type,
        livemode=event.mode == "live",
        data=EventData(object=event.payload),
        created=event.created_at,
        request=(
            EventRequest(id=event.request_id, idempotencyKey=event.idempotency_key)
            if event.request_id
            else None
        ),
    )
