"""The API request that is causing the current change, if any: set by the edge
middleware, read by events.emit so each event names the request (and its
Idempotency-Key) that caused it. Jobs run outside any request: None."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    request_id: str
    idempotency_key: str | None


current_origin: ContextVar[RequestOrigin | None] = ContextVar("request_origin", default=None)
