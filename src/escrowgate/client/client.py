"""`Client` and `AsyncClient`: the API key, the base URL, the retry policy and one
attribute per resource."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from . import resources, resources_async
from ._core import DEFAULT_BASE_URL, RetryPolicy
from .transport import AsyncTransport, SyncTransport

DEFAULT_TIMEOUT = 30.0


class Client:
    """The synchronous client:

        with Client("sk_test_...", "https://escrow.example.com") as client:
            intent = client.payment_intents.create(amount="1000.00", currency="USDC",
                                                   type="DELIVERY_VS_PAYMENT")

    Every POST carries an Idempotency-Key (yours, or a new one per call). Connection
    errors, 409 and 5xx answers are retried `max_retries` times with exponential
    backoff and jitter, with the same key."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)
        transport = SyncTransport(
            self._http, api_key, retry or RetryPolicy(max_retries=max_retries), sleep
        )
        self.payment_intents = resources.PaymentIntents(transport)
        self.milestones = resources.Milestones(transport)
        self.conditional_payments = resources.ConditionalPayments(transport)
        self.refunds = resources.Refunds(transport)
        self.disputes = resources.Disputes(transport)
        self.events = resources.Events(transport)
        self.webhook_endpoints = resources.WebhookEndpoints(transport)
        self.account = resources.Account(transport)
        self.test_helpers = resources.TestHelpers(transport)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient:
    """The asynchronous client: the same resources, each method a coroutine and each
    list an async iterator (`async for intent in client.payment_intents.list()`)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_retries: int = 2,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        policy = retry or RetryPolicy(max_retries=max_retries)
        transport = (
            AsyncTransport(self._http, api_key, policy, sleep)
            if sleep is not None
            else AsyncTransport(self._http, api_key, policy)
        )
        self.payment_intents = resources_async.PaymentIntents(transport)
        self.milestones = resources_async.Milestones(transport)
        self.conditional_payments = resources_async.ConditionalPayments(transport)
        self.refunds = resources_async.Refunds(transport)
        self.disputes = resources_async.Disputes(transport)
        self.events = resources_async.Events(transport)
        self.webhook_endpoints = resources_async.WebhookEndpoints(transport)
        self.account = resources_async.Account(transport)
        self.test_helpers = resources_async.TestHelpers(transport)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
