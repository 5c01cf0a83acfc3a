"""Events are written in the same transaction as the state change they describe."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import ids
from ..domain.clock import now
from ..models import Event

_seq_lock = threading.Lock()
_seq_last = [0, 0]  # (milliseconds, random part) of the last id made in this process


def sequential_id(prefix: str) -> str:
    """An id in the form of `ids.new_id` (12 hex digits of milliseconds, then 16 hex
    digits) that is strictly increasing within the process, so rows written one
    after the other in the same millisecond (the events of one transaction, the legs
    of one posting) still list in the order they were made."""
    ms = int(time.time() * 1000)
    with _seq_lock:
        if ms <= _seq_last[0]:
            ms, rand = _seq_last[0], _seq_last[1] + 1
        else:
            rand = secrets.randbits(62)  # room to count up within one millisecond
        _seq_last[0], _seq_last[1] = ms, rand
    return f"{prefix}{ms:012x}{rand:016x}"


def emit(
    session: AsyncSession, *, merchant_id: str, mode: str, type: str, obj: dict[str, Any]
) -> Event:
    event = Event(
        id=sequential_id(ids.EVENT),
        merchant_id=merchant_id,
        mode=mode,
        type=type,
        object_id=str(obj.get("id", "")),
        payload=obj,
        created_at=now(),
    )
    session.add(event)
    return event


def render(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "livemode": event.mode == "live",
        "data": {"object": event.payload},
        "created": event.created_at,
    }
