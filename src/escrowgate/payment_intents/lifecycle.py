"""Moving an intent through its state machine, with its event, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain import intents
from ..domain.clock import now
from ..events.service import emit
from ..models import PaymentIntent
from .render import intent_data


def move_intent(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, target: str
) -> None:
    previous = intent.status
    intents.check_transition(previous, target)
    intent.status = target
    intent.updated_at = now()
    data = intent_data(intent, settings)
    data["previous_status"] = previous
    emit(
        session,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        type="payment_intent.status_changed",
        obj=data,
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
