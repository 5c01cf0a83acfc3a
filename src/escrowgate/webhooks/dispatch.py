"""Fan-out: the events table is the outbox. A worker pass takes events not yet
dispatched (FOR UPDATE SKIP LOCKED on PostgreSQL), makes one delivery row per enabled
endpoint of the event's merchant and mode whose `enabledEvents` match and which
existed when the event was made, and marks the events dispatched, in one transaction.
A crash before the commit leaves the events undispatched; after it, every delivery
row exists. Nothing is added to the API's own transactions."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..events import catalogue
from ..models import Event, WebhookDelivery, WebhookEndpoint
from .endpoints import new_delivery, now_ms

BATCH = 500
EVENT_PREFIX_LENGTH = len("evt_")


def made_at_ms(event_id: str) -> int:
    """The wall-clock millisecond in the event's time-ordered id (ids.new_id)."""
    return int(event_id[EVENT_PREFIX_LENGTH : EVENT_PREFIX_LENGTH + 12], 16)


async def dispatch_batch(session: AsyncSession, limit: int = BATCH) -> int:
    events = list(
        (
            await session.execute(
                select(Event)
                .where(Event.dispatched_at.is_(None))
                .order_by(Event.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not events:
        return 0
    merchants = {e.merchant_id for e in events}
    by_tenant: dict[tuple[str, str], list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in (
        await session.execute(
            select(WebhookEndpoint).where(
                WebhookEndpoint.merchant_id.in_(merchants),
                WebhookEndpoint.disabled.is_(False),
                WebhookEndpoint.deleted.is_(False),
            )
        )
    ).scalars():
        by_tenant[(endpoint.merchant_id, endpoint.mode)].append(endpoint)
    # A redelivery may already have addressed an event to an endpoint.
    existing = set(
        (
            await session.execute(
                select(WebhookDelivery.event_id, WebhookDelivery.endpoint_id).where(
                    WebhookDelivery.event_id.in_([e.id for e in events])
                )
            )
        ).tuples()
    )
    at = now_ms()
    for event in events:
        event.dispatched_at = at
        made = made_at_ms(event.id)
        for endpoint in by_tenant.get((event.merchant_id, event.mode), ()):
            if (
                endpoint.created_ms <= made
                and catalogue.matches(endpoint.enabled_events, event.type)
                and (event.id, endpoint.id) not in existing
            ):
                session.add(new_delivery(event, endpoint, at))
    return len(events)


async def dispatch_pending(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Dispatch every undispatched event, batch by batch. Answers how many."""
    total = 0
    while True:
        async with session_factory() as session:
            count = await dispatch_batch(session)
            await session.commit()
        total += count
        if count < BATCH:
            return total
