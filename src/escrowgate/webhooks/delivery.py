"""The delivery loop: claim due deliveries, send them concurrently, record each
outcome. No database transaction is open during an HTTP call:

1. claim (one short transaction): due PENDING rows of enabled endpoints, FOR UPDATE
   SKIP LOCKED on PostgreSQL, at most the free slots (globally and per endpoint); each
   gets a lease token and its due time is pushed out by the lease. A worker killed
   after this point leaves the row due again when the lease ends: only what was in
   flight is sent twice, with the same webhook-id.
2. send (no transaction): POST with a timeout; live endpoints are resolved, checked
   and connected to by the checked address.
3. record (one short transaction): the attempt row, and, if the lease is still ours,
   the delivery's new state (SUCCEEDED, next retry, FAILED) and the endpoint's health.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from ..domain import ids
from ..events.service import emit, render
from ..metrics import WEBHOOK_ATTEMPTS
from ..models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from . import signing, urls
from .dispatch import dispatch_pending
from .endpoints import ATTEMPT_PREFIX, current_secrets, now_ms
from .render import endpoint_data

log = structlog.get_logger("escrowgate.webhooks")

EXCERPT_CHARS = 500
USER_AGENT = "escrowgate-webhooks/1"


@dataclass
class Claimed:
    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    mode: str
    url: str
    token: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    excerpt: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event: Event) -> bytes:
    return json.dumps(render(event).wire(), separators=(",", ":"), ensure_ascii=False).encode()


def next_delay_seconds(settings: Settings, attempt: int) -> float | None:
    """Seconds until the next try after failed attempt number `attempt` (1-based),
    with up to 10% jitter; None when the schedule is exhausted."""
    delays = settings.webhook_retry_delays
    if attempt > len(delays):
        return None
    delay = delays[attempt - 1]
    return delay + random.uniform(0, delay * 0.1)


class Deliverer:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        resolver: urls.Resolver = urls.resolve,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.factory = session_factory
        self.settings = settings
        self.resolver = resolver
        self.client = client or httpx.AsyncClient(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            headers={"user-agent": USER_AGENT},
        )
        self.in_flight: dict[str, int] = defaultdict(int)
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.stopping = False

    def stop(self) -> None:
        """Finish the current pass and return from run_forever (never mid-transaction)."""
        self.stopping = True
        self.wake.set()

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.aclose()

    # -- 1. claim ----------------------------------------------------------------------
    async def claim(self) -> list[Claimed]:
        free = self.settings.webhook_concurrency - len(self.tasks)
        per_endpoint = self.settings.webhook_per_endpoint_concurrency
        if free <= 0:
            return []
        saturated = [e for e, n in self.in_flight.items() if n >= per_endpoint]
        at = now_ms()
        stmt = (
            select(WebhookDelivery, WebhookEndpoint, Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.status == "PENDING",
                WebhookDelivery.next_attempt_at <= at,
                WebhookEndpoint.disabled.is_(False),
                WebhookEndpoint.deleted.is_(False),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(free * 2)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        )
        if saturated:
            stmt = stmt.where(WebhookDelivery.endpoint_id.not_in(saturated))
        claimed: list[Claimed] = []
        taken: dict[str, int] = defaultdict(int)
        async with self.factory() as session:
            for delivery, endpoint, event in (await session.execute(stmt)).tuples():
                if len(claimed) >= free:
                    break
                if self.in_flight[endpoint.id] + taken[endpoint.id] >= per_endpoint:
                    continue
                taken[endpoint.id] += 1
                token = uuid.uuid4().hex
                delivery.lease_token = token
                delivery.next_attempt_at = at + int(self.settings.webhook_lease_seconds * 1000)
                body = event_body(event)
                headers = signing.signature_headers(
                    current_secrets(self.settings, endpoint, at), body, delivery.id, at // 1000
                )
                claimed.append(
                    Claimed(
                        delivery.id,
                        endpoint.id,
                        event.id,
                        event.type,
                        endpoint.mode,
                        endpoint.url,
                        token,
                        body,
                        headers,
                    )
                )
            await session.commit()
        return claimed

    # -- 2. send -------------------------------------------------------------------------
    async def send(self, item: Claimed) -> Outcome:
        started = time.perf_counter()

        def done(status: int | None, error: str | None, excerpt: str | None) -> Outcome:
            ms = int((time.perf_counter() - started) * 1000)
            return Outcome(status, error, ms, excerpt)

        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                url, headers, extensions = await self._target(item)
                async with self.client.stream(
                    "POST",
                    url,
                    content=item.body,
                    headers=headers,
                    extensions=extensions,
                    timeout=self.settings.webhook_timeout_seconds,
                ) as response:
                    excerpt = await _excerpt(response)
                    return done(response.status_code, None, excerpt)
        except TimeoutError:
            return done(None, f"timeout after {self.settings.webhook_timeout_seconds:g}s", None)
        except urls.UnsafeAddress as exc:
            return done(None, f"refused: {exc}", None)
        except (httpx.HTTPError, OSError) as exc:
            return done(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__, None)

    async def _target(self, item: Claimed) -> tuple[str, dict[str, str], dict[str, Any]]:
        if item.mode != "live":
            return item.url, item.headers, {}
        parts = urlsplit(item.url)
        host = parts.hostname or ""
        port = parts.port or 443
        address = (await urls.safe_addresses(host, port, self.resolver))[0]
        ip = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{ip}:{port}"
        pinned = urlunsplit(parts._replace(netloc=netloc))
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        return pinned, {**item.headers, "host": host_header}, {"sni_hostname": host}

    # -- 3. record -----------------------------------------------------------------------
    async def record(self, item: Claimed, outcome: Outcome) -> None:
        at = now_ms()
        async with self.factory() as session:
            delivery = (
                await session.execute(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.id == item.delivery_id)
                    .with_for_update()
                )
            ).scalar_one()
            endpoint = (
                await session.execute(
                    select(WebhookEndpoint)
                    .where(WebhookEndpoint.id == item.endpoint_id)
                    .with_for_update()
                )
            ).scalar_one()
            attempt_no = delivery.attempts + 1
            counted: str | None = None  # a lease that expired meanwhile counts elsewhere
            if delivery.lease_token == item.token:
                delivery.attempts = attempt_no
                delivery.lease_token = None
                self._apply(session, delivery, endpoint, outcome, attempt_no, at)
                counted = {"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(
                    delivery.status, "retry"
                )
            session.add(
                WebhookAttempt(
                    id=ids.new_id(ATTEMPT_PREFIX),
                    delivery_id=delivery.id,
                    endpoint_id=endpoint.id,
                    event_id=item.event_id,
                    event_type=item.event_type,
                    merchant_id=endpoint.merchant_id,
                    mode=endpoint.mode,
                    attempt=attempt_no,
                    attempted_at=at - outcome.duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                    response_excerpt=outcome.excerpt,
                    succeeded=outcome.succeeded,
                    delivery_status=delivery.status,
                    next_attempt_at=(
                        delivery.next_attempt_at if delivery.status == "PENDING" else None
                    ),
                )
            )
            await session.commit()
        if counted is not None:
            WEBHOOK_ATTEMPTS.labels(counted).inc()

    def _apply(
        self,
        session: AsyncSession,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint,
        outcome: Outcome,
        attempt_no: int,
        at: int,
    ) -> None:
        if outcome.succeeded:
            delivery.status = "SUCCEEDED"
            delivery.next_attempt_at = None
            delivery.finished_at = at // 1000
            endpoint.failing_since = None
            return
        if outcome.status_code == 410:
            delivery.status = "FAILED"
            delivery.next_attempt_at = None
            delivery.finished_at = at // 1000
            self._disable(session, endpoint, "the endpoint answered 410 Gone")
            return
        delay = next_delay_seconds(self.settings, attempt_no)
        if delay is None:
            delivery.status = "FAILED"
            delivery.next_attempt_at = None
            delivery.finished_at = at // 1000
        else:
            delivery.next_attempt_at = at + int(delay * 1000)
        if endpoint.failing_since is None:
            endpoint.failing_since = at
        elif at - endpoint.failing_since >= self.settings.webhook_disable_after_seconds * 1000:
            days = self.settings.webhook_disable_after_seconds / 86400
            self._disable(session, endpoint, f"every delivery failed for {days:g} days")

    @staticmethod
    def _disable(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
        if endpoint.disabled:
            return
        endpoint.disabled = True
        endpoint.disabled_reason = reason
        endpoint.updated_at = now_ms() // 1000
        log.warning("webhook_endpoint_disabled", endpoint_id=endpoint.id, reason=reason)
        emit(
            session,
            merchant_id=endpoint.merchant_id,
            mode=endpoint.mode,
            type="webhook_endpoint.disabled",
            obj=endpoint_data(endpoint),
        )

    # -- the loop ------------------------------------------------------------------------
    async def _run(self, item: Claimed) -> None:
        try:
            outcome = await self.send(item)
            await self.record(item, outcome)
        except Exception:  # the lease ends and the delivery is tried again
            log.exception("webhook_delivery_failed", delivery_id=item.delivery_id)
        finally:
            self.in_flight[item.endpoint_id] -= 1
            if self.in_flight[item.endpoint_id] <= 0:
                del self.in_flight[item.endpoint_id]
            self.wake.set()

    def start(self, items: list[Claimed]) -> None:
        for item in items:
            self.in_flight[item.endpoint_id] += 1
            task = asyncio.create_task(self._run(item))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def run_once(self) -> int:
        """Dispatch and deliver until nothing is due (tests, `worker --once`)."""
        sent = 0
        while True:
            await dispatch_pending(self.factory)
            items = await self.claim()
            self.start(items)
            sent += len(items)
            if not self.tasks:
                return sent
            await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)

    async def run_forever(self) -> None:
        while not self.stopping:
            claimed = 0
            self.wake.clear()  # before claiming: a send finishing from now on wakes us
            try:
                await dispatch_pending(self.factory)
                items = await self.claim()
                self.start(items)
                claimed = len(items)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook_loop_failed")
            if self.stopping:
                return
            if claimed and len(self.tasks) < self.settings.webhook_concurrency:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.webhook_poll_seconds)


async def _excerpt(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_CHARS * 4:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")[:EXCERPT_CHARS]


async def run_forever(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    deliverer = Deliverer(session_factory, settings)
    try:
        await deliverer.run_forever()
    finally:
        await deliverer.aclose()


async def run_once(session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    deliverer = Deliverer(session_factory, settings)
    try:
        return await deliverer.run_once()
    finally:
        await deliverer.aclose()
