"""What the sync and async clients share: the request (headers, an Idempotency-Key
on every POST), the retry policy (connection errors, 409 and 5xx, exponential
backoff with full jitter, the same key each time) and reading an answer (a typed
model, or the exception of its error type). No I/O here."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from .errors import error_from_answer

M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
API_PREFIX = "/v1"
USER_AGENT = "escrowgate-python"
RETRY_STATUSES = frozenset({409, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` more tries after the first; the wait before try n (1-based) is
    uniform in [0, min(cap, base * 2**(n-1))] ("full jitter"), or the answer's
    Retry-After when it is longer (at most `cap`)."""

    max_retries: int = 2
    base: float = 0.5
    cap: float = 8.0
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** (retry - 1)))
        wait: float = self.random() * ceiling
        if retry_after is not None and retry_after.isdigit():
            wait = max(wait, min(self.cap, float(retry_after)))
        return wait


@dataclass(frozen=True)
class Call:
    """One API call: the method, the path under /v1, the JSON body, the query."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    idempotency_key: str | None = None


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that were given (None: not sent)."""
    return {name: value for name, value in fields.items() if value is not None}


def headers_for(api_key: str, call: Call) -> dict[str, str]:
    out = {"X-API-Key": api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}
    if call.method == "POST":
        out["Idempotency-Key"] = call.idempotency_key or f"sdk_{uuid.uuid4().hex}"
    return out


def build_request(
    client: httpx.Client | httpx.AsyncClient, api_key: str, call: Call
) -> httpx.Request:
    """The request, built once: its retries resend it as it is (the same key)."""
    params = {k: v for k, v in (call.params or {}).items() if v is not None}
    return client.build_request(
        call.method,
        API_PREFIX + call.path,
        json=call.json if call.method == "POST" else None,
        params=params or None,
        headers=headers_for(api_key, call),
    )


def should_retry(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def parse(response: httpx.Response, model: type[M]) -> M:
    """The answer as `model`, or the exception of its error type."""
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if not 200 <= response.status_code < 300:
        raise error_from_answer(response.status_code, data, response.headers.get("request-id"))
    return model.model_validate(data)


def cursor_params(params: Mapping[str, Any], starting_after: str | None) -> dict[str, Any]:
    out = dict(params)
    if starting_after is not None:
        out["starting_after"] = starting_after
    return out
