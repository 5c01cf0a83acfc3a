"""A database that goes away under a running server (a primary that died, a failover in
progress) is a 503 `database_unavailable` with Retry-After on every path: the key
lookup in the edge, a keyless route's use case, a read. Never a 500. The real failover
is tests/e2e/test_failover.py; here the server's sessions are pointed at a port where
nothing listens, after its schema check passed on the real database."""

from __future__ import annotations

from typing import Any

import httpx

from escrowgate.app import create_app
from escrowgate.db.engine import make_engine, make_session_factory
from tests.support.driver import GOOD_CARD, assert_error, intent_body, intents_url, payment_url

DEAD = "postgresql://postgres@127.0.0.1:9/nowhere"  # port 9 (discard): refused


def _assert_unavailable(r: httpx.Response) -> None:
    assert_error(r, 503, "database_unavailable", "database unavailable", type_="api_error")
    assert r.headers["retry-after"] == "1"
    assert r.json() == {
        "error": {
            "code": "database_unavailable",
            "message": "database unavailable",
            "type": "api_error",
        }
    }


async def test_every_path_answers_503_when_the_database_goes_away(
    settings: Any, merchant: Any
) -> None:
    app = create_app(settings)
    dead = make_engine(DEAD, pool_size=1, max_overflow=0)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            created = await c.post(intents_url(), json=intent_body(), headers=merchant.headers)
            assert created.status_code == 201, created.text  # schema checked, serving
            app.state.session_factory = make_session_factory(dead)
            app.state.read_session_factory = make_session_factory(dead)

            # The key lookup (edge middleware) fails to connect.
            _assert_unavailable(
                await c.post(intents_url(), json=intent_body(), headers=merchant.headers)
            )
            _assert_unavailable(await c.get(intents_url(), headers=merchant.headers))
            # A keyless route: its request context and use case fail to connect.
            pay = await c.post(
                payment_url(created.json()["id"]),
                json={"card": GOOD_CARD},
                headers={"Idempotency-Key": "pay-once"},
            )
            _assert_unavailable(pay)
    finally:
        await dead.dispose()
