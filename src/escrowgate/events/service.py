"""Events are written in the same transaction as the state change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import ids
from ..domain.clock import now
from ..models import ConditionalPayment, Event


def emit(
    session: AsyncSession, *, merchant_id: str, mode: str, type: str, obj: dict[str, Any]
) -> Event:
    event = Event(
        id=ids.new_id(ids.EVENT),
        merchant_id=merchant_id,
        mode=mode,
        type=type,
        object_id=str(obj.get("id", "")),
        payload=obj,
        created_at=now(),
    )
    session.add(event)
    return event


def emit_order_event(
    session: AsyncSession, order: ConditionalPayment, type: str, **fields: Any
) -> Event:
    """An event about a conditional payment: its id and intent, plus `fields`."""
    obj = {
        "id": order.id,
        "object": "conditional_payment",
        "paymentIntentId": order.payment_intent_id,
        **fields,
    }
    return emit(session, merchant_id=order.merchant_id, mode=order.mode, type=type, obj=obj)


def render(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "livemode": event.mode == "live",
        "data": {"object": event.payload},
        "created": event.created_at,
    }
