"""Events are written in the same transaction as the state change they describe."""

from __future__ import annotations

from typing import Any, cast

from pydantic_core import to_json
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import JSONText, json_dumps
from ..db.rows import add_row
from ..domain import ids
from ..domain.clock import now
from ..domain.origin import current_origin
from ..models import Event
from ..wire import WireDict, WireModel
from .wire import EventData, EventList, EventRequest, EventWire

__all__ = ["EventData", "EventList", "EventRequest", "EventWire", "emit", "render"]

_EVENTS = cast(Table, Event.__table__)


def emit(
    session: AsyncSession,
    *,
    merchant_id: str,
    mode: str,
    type: str,
    obj: WireModel | WireDict | dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> str:
    """Write the event (its id is returned) in the session's transaction: a plain row,
    inserted with the transaction's other events in one statement (`db/rows.py`).
    `obj` is the object the event is about: a wire model (its payload is the JSON of
    its `wire()`), a renderer's wire object, or a plain dict; `extra`: keys the payload
    adds after the object's."""
    origin = current_origin.get()
    event_id = ids.new_id(ids.EVENT)
    payload: JSONText | dict[str, Any]
    if isinstance(obj, WireModel):
        object_id = str(getattr(obj, "id", ""))
        payload = _with_extra(obj.model_dump_json(exclude_unset=True), extra)
    elif isinstance(obj, WireDict):
        object_id = str(obj.get("id", ""))
        payload = _with_extra(to_json(obj).decode(), extra)
    else:
        object_id = str(obj.get("id", ""))
        payload = {**obj, **extra} if extra else obj
    add_row(
        session,
        _EVENTS,
        {
            "id": event_id,
            "merchant_id": merchant_id,
            "mode": mode,
            "type": type,
            "object_id": object_id,
            "payload": payload,
            "created_at": now(),
            "request_id": origin.request_id if origin else None,
            "idempotency_key": origin.idempotency_key if origin else None,
        },
    )
    return event_id


def _with_extra(text: str, extra: dict[str, Any] | None) -> JSONText:
    # A wire model or object is written by pydantic-core in one step (no model dump to a
    # dict, no json module): a complete + release writes five payloads.
    if extra:
        more = json_dumps(extra)[1:]  # '"key":value,...}'
        text = text[:-1] + ("," if text != "{}" else "") + more
    return JSONText(text)


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
