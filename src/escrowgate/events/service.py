"""Events are written in the same transaction as the state change they describe."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.rows import add_row
from ..domain import ids
from ..domain.clock import now
from ..domain.origin import current_origin
from ..models import Event
from .wire import EventData, EventList, EventRequest, EventWire

__all__ = ["EventData", "EventList", "EventRequest", "EventWire", "emit", "render"]

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
