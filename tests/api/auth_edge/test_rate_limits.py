"""Rate limits per key (API.md 1): headers on every authenticated answer, 429 over
the limit with retryAfter and Retry-After; limits are per key and per mode."""

from __future__ import annotations

import time

import httpx
import pytest

from escrowgate.app import create_app
from tests.support.driver import assert_error, intents_url
from tests.support.windows import away_from_window_edge

LIMIT = 5


@pytest.fixture(scope="module")
async def limited(settings):
    app = create_app(
        settings.model_copy(
            update={
                "rate_limit_enabled": True,
                "rate_limit_test_per_minute": LIMIT,
                "rate_limit_live_per_minute": LIMIT + 2,
            }
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        yield c
    await app.state.engine.dispose()


async def test_headers_and_429(limited, make_merchant):
    m = await make_merchant()
    await away_from_window_edge()
    for i in range(LIMIT):
        r = await limited.get(intents_url(), headers=m.headers)
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == str(LIMIT)
        assert r.headers["x-ratelimit-remaining"] == str(LIMIT - i - 1)
        reset = int(r.headers["x-ratelimit-reset"])
        assert 0 < reset - time.time() <= 60
    r = await limited.get(intents_url(), headers=m.headers)
    err = assert_error(r, 429, "rate_limit_exceeded", type_="rate_limit_error")
    retry = int(r.headers["retry-after"])
    assert err["retryAfter"] == retry and 1 <= retry <= 60
    assert err["message"] == f"Rate limit exceeded. Retry after {retry} seconds."
    assert r.headers["x-ratelimit-remaining"] == "0"
    # Another key of the same merchant... is another key: its own budget.
    other = await make_merchant()
    assert (await limited.get(intents_url(), headers=other.headers)).status_code == 200


async def test_live_mode_has_its_own_limit(limited, make_merchant):
    m = await make_merchant(mode="live")
    await away_from_window_edge()
    r = await limited.get(intents_url(), headers=m.headers)
    assert r.headers["x-ratelimit-limit"] == str(LIMIT + 2)


async def test_switched_off_sends_no_headers(client, merchant):
    r = await client.get(intents_url(), headers=merchant.headers)
    assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


async def test_redis_down_falls_back_to_in_process_limit(settings, make_merchant):
    """With REDIS_URL set but Redis not answering, requests are still served (no 500)
    and still limited, by each process's own counter."""
    app = create_app(
        settings.model_copy(
            update={
                "rate_limit_enabled": True,
                "rate_limit_test_per_minute": 3,
                "redis_url": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            }
        )
    )
    try:
        m = await make_merchant()
        await away_from_window_edge()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            answers = [await c.get(intents_url(), headers=m.headers) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
        assert_error(answers[3], 429, "rate_limit_exceeded", type_="rate_limit_error")
    finally:
        await app.state.engine.dispose()
