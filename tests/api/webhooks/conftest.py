from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from escrowgate.config import Settings
from escrowgate.webhooks.delivery import Deliverer
from tests.api.webhooks.receiver import Receiver
from tests.support.driver import Merchant, webhook_endpoints_url


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Retries at once (schedule 0,0,0) and a short timeout: no test waits on a clock."""
    return settings.model_copy(
        update={"webhook_retry_schedule": "0,0,0", "webhook_timeout_seconds": 2.0}
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


Deliver = Callable[..., Awaitable[int]]


@pytest.fixture
def deliver(app: Any, hook_settings: Settings) -> Deliver:
    """Dispatch and deliver everything due, as the worker's webhook loop does."""

    async def run(settings: Settings | None = None, **kwargs: Any) -> int:
        d = Deliverer(app.state.session_factory, settings or hook_settings, **kwargs)
        try:
            return await d.run_once()
        finally:
            await d.aclose()

    return run


async def add_endpoint(
    client: httpx.AsyncClient, m: Merchant, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    r = await client.post(
        webhook_endpoints_url(),
        json={"url": url, "enabledEvents": events or ["*"]},
        headers=m.headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json())
