"""Read models of the dashboard that no API use case has: the ledger entries, the
events of one intent and their webhook deliveries, always scoped to the signed-in
merchant and mode."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..models import Event, LedgerEntry, WebhookAttempt


async def ledger_of_intent(
    session: AsyncSession, caller: Principal, intent_id: str
) -> list[LedgerEntry]:
    stmt = (
        select(LedgerEntry)
        .where(
            LedgerEntry.merchant_id == caller.merchant_id,
            LedgerEntry.mode == caller.mode,
            LedgerEntry.payment_intent_id == intent_id,
        )
        .order_by(LedgerEntry.id)
        .limit(200)
    )
    return list((await session.execute(stmt)).scalars())


async def events_of(
    session: AsyncSession, caller: Principal, object_ids: Iterable[str]
) -> list[Event]:
    ids = list(object_ids)
    stmt = (
        select(Event)
        .where(
            Event.merchant_id == caller.merchant_id,
            Event.mode == caller.mode,
            Event.object_id.in_(ids),
        )
        .order_by(Event.id.desc())
        .limit(200)
    )
    return list((await session.execute(stmt)).scalars())


async def webhook_attempts_of(
    session: AsyncSession, caller: Principal, event_ids: Iterable[str]
) -> list[WebhookAttempt]:
    """Every delivery attempt of these events, newest first."""
    ids = list(event_ids)
    stmt = (
        select(WebhookAttempt)
        .where(
            WebhookAttempt.merchant_id == caller.merchant_id,
            WebhookAttempt.mode == caller.mode,
            WebhookAttempt.event_id.in_(ids),
        )
        .order_by(WebhookAttempt.id.desc())
        .limit(200)
    )
    return list((await session.execute(stmt)).scalars())
