"""Events are written in the same transaction as the state change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import ids
from ..domain.clock import now
from ..domain.origin import current_origin
from ..models import Event
from .wire import EventData, EventList, EventRequest, EventWire

__all__ = ["EventData", "EventList", "EventRequest", "EventWire", "emit", "render"]


def emit(
    session: AsyncSession, *, merchant_id: str, mode: str, type: str, obj: dict[str, Any]
) -> Event:
    origin = current_origin.get()
    event = Event(
        id=ids.new_id(ids.EVENT),
        merchant_id=merchant_id,
        mode=mode,
        type=type,
        object_id=str(obj.get("id", "")),
        payload=obj,
        created_at=now(),
        request_id=origin.request_id if origin else None,
        idempotency_key=origin.idempotency_key if origin else None,
    )
    session.add(event)
    return event


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
