"""The metrics middleware (outermost, pure ASGI) and GET /metrics (docs/metrics.md).

A request is labelled with its route template (`/v1/payment-intents/{intent_id}`), never
its raw path: no ids in labels. The template is the one the router matched; a request
that reached no route is labelled "unrouted": an unknown path (404) or one the edge
answered before routing (401, 413, 415, 429, 503), told apart by its status. GET /metrics
is answered here, unauthenticated (METRICS_ENABLED=false removes it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.clock import now
from ..metrics import RequestRecorder, registry_for_scrape
from ..models import Job
from .edge import ASGIApp, Message, Receive, Scope, Send
from .routing import ALIAS_ROOT, API_PREFIX, VERSION_PREFIX

METRICS_PATH = "/metrics"
log = structlog.get_logger("escrowgate.metrics")
UNROUTED = "unrouted"  # no route answered: one label for them all, whatever the path
# A route's path carries /v1 (api/routing.py); a request under /api/v1 reached it
# through the root path: the label has the prefix the request used.
_PREFIXES = (ALIAS_ROOT + API_PREFIX, API_PREFIX)  # the longer first


class MetricsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        session_factory: Callable[[], async_sessionmaker[AsyncSession]],
    ) -> None:
        self.app = app
        self.session_factory = session_factory
        self.record = RequestRecorder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH and scope["method"] in ("GET", "HEAD"):
            await self._expose(scope, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            template = _template(scope["path"], route) if route else UNROUTED
            self.record(scope["method"], template, status, time.perf_counter() - started)

    async def _expose(self, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        body = generate_latest(registry_for_scrape())
        try:
            body += generate_latest(await self._job_gauges())
        except Exception as exc:  # the database is down: the process's metrics still
            log.warning("metrics_jobs_unavailable", error=type(exc).__name__)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE_LATEST.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
        self.record(scope["method"], METRICS_PATH, 200, time.perf_counter() - started)

    async def _job_gauges(self) -> CollectorRegistry:
        """Jobs due now and jobs failed for good, per kind, read from the jobs table at
        scrape time (one grouped query on the status/due index each)."""
        due = GaugeMetricFamily(
            "escrowgate_jobs_due",
            "Jobs due now and not yet run (a growing number: the workers fall behind)",
            labels=["kind"],
        )
        failed = GaugeMetricFamily(
            "escrowgate_jobs_failed",
            "Jobs that failed for the last time and wait for an operator "
            "(escrowgate jobs list --status FAILED; escrowgate jobs retry ID)",
            labels=["kind"],
        )
        async with self.session_factory()() as session:
            counts = select(Job.kind, func.count()).group_by(Job.kind)
            for kind, count in await session.execute(
                counts.where(Job.status == "PENDING", Job.due_at <= now())
            ):
                due.add_metric([kind], count)
            for kind, count in await session.execute(counts.where(Job.status == "FAILED")):
                failed.add_metric([kind], count)
            await session.rollback()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed([due, failed]))
        return registry


def _template(path: str, route: str) -> str:
    """The route's template under the prefix the request used (/v1 or /api/v1)."""
    for prefix in _PREFIXES:
        if path.startswith(prefix + "/"):
            return prefix + VERSION_PREFIX.sub("", route)
    return route


class _Fixed:
    """A collector answering metric families computed beforehand."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families
