"""Sending one call with the retry policy: the sync and the async transport. A call
is built once and resent as it is, so every retry carries the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from ._core import Call, M, RetryPolicy, build_request, parse, should_retry
from .errors import APIConnectionError


def _connection_error(exc: httpx.TransportError) -> APIConnectionError:
    return APIConnectionError(f"Connection to the API failed: {type(exc).__name__}: {exc}")


class SyncTransport:
    def __init__(
        self,
        http: httpx.Client,
        api_key: str,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.api_key = api_key
        self.retry = retry
        self.sleep = sleep

    def send(self, call: Call, model: type[M]) -> M:
        request = build_request(self.http, self.api_key, call)
        for attempt in range(self.retry.max_retries + 1):
            last = attempt == self.retry.max_retries
            try:
                response = self.http.send(request)
            except httpx.TransportError as exc:
                if last:
                    raise _connection_error(exc) from exc
                self.sleep(self.retry.delay(attempt + 1))
                continue
            if last or not should_retry(response):
                return parse(response, model)
            self.sleep(self.retry.delay(attempt + 1, response.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover


class AsyncTransport:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.api_key = api_key
        self.retry = retry
        self.sleep = sleep

    async def send(self, call: Call, model: type[M]) -> M:
        request = build_request(self.http, self.api_key, call)
        for attempt in range(self.retry.max_retries + 1):
            last = attempt == self.retry.max_retries
            try:
                response = await self.http.send(request)
            except httpx.TransportError as exc:
                if last:
                    raise _connection_error(exc) from exc
                await self.sleep(self.retry.delay(attempt + 1))
                continue
            if last or not should_retry(response):
                return parse(response, model)
            await self.sleep(self.retry.delay(attempt + 1, response.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover
