"""Use cases of webhook endpoints: create, read, update, delete, rotate, redeliver.
Every lookup is scoped to the caller's merchant and mode."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain import ids
from ..domain.clock import now
from ..domain.errors import Forbidden, InvalidRequest, NotFound
from ..domain.formats import check_id, shown_id
from ..events import catalogue
from ..models import Event, WebhookDelivery, WebhookEndpoint
from . import signing, urls

ENDPOINT_PREFIX = "we_"
DELIVERY_PREFIX = "msg_"
ATTEMPT_PREFIX = "wa_"
ROTATION_OVERLAP_MS = 24 * 3600 * 1000
MAX_ENDPOINTS = 16  # per merchant and mode, as most providers do


def now_ms() -> int:
    return int(time.time() * 1000)


def check_events(enabled_events: list[str]) -> list[str]:
    if not enabled_events:
        raise InvalidRequest("enabledEvents must not be empty", param="enabledEvents")
    if catalogue.WILDCARD in enabled_events:
        if len(enabled_events) > 1:
            raise InvalidRequest(
                'enabledEvents must be ["*"] or a list of event types', param="enabledEvents"
            )
        return [catalogue.WILDCARD]
    for event_type in enabled_events:
        catalogue.check_known(event_type, "enabledEvents")
    return list(dict.fromkeys(enabled_events))


async def check_url(settings: Settings, url: str, mode: str) -> None:
    host = urls.check_url_syntax(url, mode)
    if mode != "live":
        return
    if not settings.webhook_secret_key:
        raise InvalidRequest(
            "Live webhook endpoints need WEBHOOK_SECRET_KEY to be set on the server",
            param="url",
        )
    # A name that already resolves inward is refused now; one that does not resolve yet
    # is accepted (the delivery-time check is the one that counts).
    try:
        await asyncio.wait_for(urls.safe_addresses(host, 443), timeout=2)
    except urls.UnsafeAddress as exc:
        raise urls.internal_url() from exc
    except (OSError, TimeoutError):
        pass


def current_secrets(settings: Settings, endpoint: WebhookEndpoint, at_ms: int) -> list[str]:
    """The secrets that sign now, newest first."""
    key = signing.master_key(settings.webhook_secret_key)
    out = [signing.derive_secret(key, endpoint.id, endpoint.secret_generation)]
    expires = endpoint.previous_secret_expires_at
    if expires is not None and at_ms < expires and endpoint.secret_generation > 1:
        out.append(signing.derive_secret(key, endpoint.id, endpoint.secret_generation - 1))
    return out


async def create_endpoint(
    session: AsyncSession,
    settings: Settings,
    *,
    merchant_id: str,
    mode: str,
    url: str,
    enabled_events: list[str],
    description: str | None,
) -> WebhookEndpoint:
    events = check_events(enabled_events)
    await check_url(settings, url, mode)
    count = len(
        (
            await session.execute(
                select(WebhookEndpoint.id).where(
                    WebhookEndpoint.merchant_id == merchant_id,
                    WebhookEndpoint.mode == mode,
                    WebhookEndpoint.deleted.is_(False),
                )
            )
        ).all()
    )
    if count >= MAX_ENDPOINTS:
        raise InvalidRequest(f"A merchant can have at most {MAX_ENDPOINTS} webhook endpoints")
    at = now()
    endpoint = WebhookEndpoint(
        id=ids.new_id(ENDPOINT_PREFIX),
        merchant_id=merchant_id,
        mode=mode,
        url=url,
        description=description,
        enabled_events=events,
        disabled=False,
        deleted=False,
        secret_generation=1,
        created_ms=now_ms(),
        created_at=at,
        updated_at=at,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def owned_endpoint(
    session: AsyncSession, merchant_id: str, mode: str, endpoint_id: str, *, lock: bool = False
) -> WebhookEndpoint:
    not_found = NotFound(f"Webhook endpoint not found: {shown_id(endpoint_id)}", param="id")
    check_id(endpoint_id, "webhook endpoint", "id", not_found)
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted.is_(False)
    )
    if lock:
        stmt = stmt.with_for_update()
    endpoint = (await session.execute(stmt)).scalar_one_or_none()
    if endpoint is None or endpoint.mode != mode:
        raise not_found
    if endpoint.merchant_id != merchant_id:
        raise Forbidden.not_yours("webhook endpoint")
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    endpoint: WebhookEndpoint,
    changes: dict[str, Any],
) -> WebhookEndpoint:
    if "enabled_events" in changes:
        events = check_events(changes["enabled_events"])
    if "url" in changes:
        await check_url(settings, changes["url"], endpoint.mode)
        endpoint.url = changes["url"]
    if "enabled_events" in changes:
        endpoint.enabled_events = events
    if "description" in changes:
        endpoint.description = changes["description"]
    if "disabled" in changes:
        endpoint.disabled = bool(changes["disabled"])
        endpoint.disabled_reason = "disabled by the merchant" if endpoint.disabled else None
        endpoint.failing_since = None
    endpoint.updated_at = now()
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint) -> None:
    endpoint.secret_generation += 1
    endpoint.previous_secret_expires_at = now_ms() + ROTATION_OVERLAP_MS
    endpoint.updated_at = now()


async def owned_event(session: AsyncSession, merchant_id: str, mode: str, event_id: str) -> Event:
    check_id(event_id, "event", "eventId", NotFound("Event not found", param="eventId"))
    event = (
        await session.execute(
            select(Event).where(
                Event.id == event_id, Event.merchant_id == merchant_id, Event.mode == mode
            )
        )
    ).scalar_one_or_none()
    if event is None:
        raise NotFound("Event not found", param="eventId")
    return event


def new_delivery(event: Event, endpoint: WebhookEndpoint, due_ms: int) -> WebhookDelivery:
    return WebhookDelivery(
        id=ids.new_id(DELIVERY_PREFIX),
        event_id=event.id,
        endpoint_id=endpoint.id,
        merchant_id=event.merchant_id,
        mode=event.mode,
        status="PENDING",
        attempts=0,
        next_attempt_at=due_ms,
        created_at=now(),
    )


async def redeliver(
    session: AsyncSession, merchant_id: str, mode: str, event_id: str, endpoint_id: str | None
) -> list[WebhookDelivery]:
    """Send an event again, now: to one endpoint (even one created after the event),
    or to every endpoint it was already addressed to. The webhook-id stays the same."""
    event = await owned_event(session, merchant_id, mode, event_id)
    at = now_ms()
    if endpoint_id is not None:
        endpoint = await owned_endpoint(session, merchant_id, mode, endpoint_id)
        if endpoint.disabled:
            raise InvalidRequest(f"Webhook endpoint {endpoint_id} is disabled", param="endpointId")
        rows = (
            (
                await session.execute(
                    select(WebhookDelivery)
                    .where(
                        WebhookDelivery.event_id == event.id,
                        WebhookDelivery.endpoint_id == endpoint.id,
                    )
                    .with_for_update()
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            delivery = new_delivery(event, endpoint, at)
            session.add(delivery)
            return [delivery]
    else:
        rows = (
            (
                await session.execute(
                    select(WebhookDelivery)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                    .where(
                        WebhookDelivery.event_id == event.id,
                        WebhookEndpoint.deleted.is_(False),
                        WebhookEndpoint.disabled.is_(False),
                    )
                    .with_for_update(of=WebhookDelivery)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            raise InvalidRequest(
                "This event was not sent to any enabled webhook endpoint; pass endpointId",
                param="endpointId",
            )
    for delivery in rows:
        delivery.status = "PENDING"
        delivery.next_attempt_at = at
        delivery.lease_token = None
        delivery.finished_at = None
    return list(rows)
