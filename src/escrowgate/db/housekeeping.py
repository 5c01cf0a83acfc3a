"""Table maintenance the worker runs every few minutes (no HTTP, no aggregate)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.clock import now
from ..domain.ids import EVENT
from ..models import Event, IdempotencyRecord, WebhookAttempt, WebhookDelivery

IDEMPOTENCY_RETENTION_SECONDS = 24 * 3600  # an Idempotency-Key's answer is kept this long
EVENTS_BATCH = 1000  # events deleted per transaction (short locks, bounded WAL per commit)
EVENTS_MAX_BATCHES = 100  # per housekeeping round (every few minutes): 100,000 events


async def purge_idempotency_records(session: AsyncSession) -> int:
    """Remove stored answers older than the retention; how many were removed."""
    cutoff = now() - IDEMPOTENCY_RETENTION_SECONDS
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def event_id_before(seconds: int) -> str:
    """The smallest event id made at or after `seconds` (Unix time): event ids start
    with 12 hex digits of milliseconds (domain/ids.py), so "older than" is a range of
    the primary key and needs no index of its own."""
    return f"{EVENT}{seconds * 1000:012x}"


async def purge_events(
    session: AsyncSession,
    retention_seconds: int,
    *,
    batch: int = EVENTS_BATCH,
    max_batches: int = EVENTS_MAX_BATCHES,
) -> int:
    """Delete events older than the retention, oldest first, in batches of `batch`
    committed one by one; how many were deleted. An event is kept while the webhook
    dispatcher has not fanned it out or any of its deliveries is still pending; its
    finished deliveries and their attempts go with it. The ledger is never touched."""
    cutoff = event_id_before(now() - retention_seconds)
    pending = exists().where(
        WebhookDelivery.event_id == Event.id, WebhookDelivery.status == "PENDING"
    )
    removed = 0
    for _ in range(max_batches):
        ids = list(
            (
                await session.execute(
                    select(Event.id)
                    .where(Event.id < cutoff, Event.dispatched_at.is_not(None), ~pending)
                    .order_by(Event.id)
                    .limit(batch)
                    # A redelivery being created for one of them waits or is skipped.
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        if not ids:
            break
        deliveries = select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(ids))
        await session.execute(
            delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries))
        )
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)))
        await session.execute(delete(Event).where(Event.id.in_(ids)))
        await session.commit()
        removed += len(ids)
        if len(ids) < batch:
            break
    return removed


def events_retention(days: int) -> Callable[[AsyncSession], Awaitable[int]] | None:
    """The housekeeping task for EVENTS_RETENTION_DAYS (None: 0, events kept forever)."""
    if days <= 0:
        return None
    seconds = days * 24 * 3600

    async def purge_old_events(session: AsyncSession) -> int:
        return await purge_events(session, seconds)

    return purge_old_events
