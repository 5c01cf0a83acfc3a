"""Moving the aggregate's rows through the model's state machines, each move with
its event, in the caller's transaction. The only places a status is assigned."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain.clock import now
from ..events.service import emit
from ..models import ConditionalPayment, Milestone, PaymentIntent
from . import model
from .render import intent_object, milestone_object, order_event


def move_intent(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, target: model.IntentStatus
) -> None:
    previous = intent.status
    intent.status = model.check_transition(model.INTENT_TRANSITIONS, previous, target)
    intent.updated_at = now()
    emit(
        session,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        type="payment_intent.status_changed",
        obj=intent_object(intent, settings),
        extra={"previous_status": previous},
    )


def move_order(order: ConditionalPayment, target: model.OrderStatus, at: int) -> None:
    """Change the order's status (its event, if any, is the caller's: it says why)."""
    order.order_status = model.check_transition(model.ORDER_TRANSITIONS, order.order_status, target)
    order.updated_at = at


def move_milestone(
    session: AsyncSession,
    order: ConditionalPayment,
    m: Milestone,
    target: model.MilestoneStatus,
    at: int,
    event: str,
) -> None:
    m.status = model.check_transition(model.MILESTONE_TRANSITIONS, m.status, target)
    m.updated_at = at
    emit(
        session, merchant_id=order.merchant_id, mode=order.mode, type=event, obj=milestone_object(m)
    )


def emit_order_event(
    session: AsyncSession, order: ConditionalPayment, type: str, **fields: Any
) -> None:
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type=type,
        obj=order_event(order, **fields),
    )


def set_phase(intent: PaymentIntent, name: str, status: str) -> None:
    """Update (or append) a phase; a new list so the JSON column is saved."""
    at = now()
    phases: list[dict[str, Any]] = [dict(p) for p in intent.phases or []]
    for p in phases:
        if p.get("phase") == name:
            p["status"] = status
            p["timestamp"] = at
            break
    else:
        phases.append({"phase": name, "status": status, "timestamp": at})
    intent.phases = phases
