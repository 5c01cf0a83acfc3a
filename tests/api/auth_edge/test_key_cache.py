"""The per-process API-key cache (auth/cache.py) with the app's lifespan running, as
a server runs it: on PostgreSQL it is armed by its LISTEN connection and a revocation
written by any other connection reaches it; on SQLite and behind PgBouncer it is never used."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from escrowgate.auth.cache import LISTENER_NAME
from tests.support.driver import (
    AUTH,
    Settings,
    assert_error,
    create_app,
    create_intent,
    intent_url,
)

WAIT = 10.0  # generous deadline on a loaded machine; the measured time is printed


def is_postgres(settings: Settings) -> bool:
    return settings.database_url.startswith("postgresql")


def caches_keys(settings: Settings) -> bool:
    """PostgreSQL reached directly: behind PgBouncer in transaction mode
    (DB_PGBOUNCER=true) there is no LISTEN, so no cache either."""
    return is_postgres(settings) and not settings.db_pgbouncer


def raw_dsn(settings: Settings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def until(predicate: Any, what: str) -> float:
    started = time.monotonic()
    while not await predicate():
        assert time.monotonic() - started < WAIT, f"not within {WAIT}s: {what}"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A second app over the same database, with its lifespan (and listener) running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c


async def armed(app: Any) -> bool:
    return bool(app.state.key_cache.armed)


def assert_invalid_key(r: httpx.Response) -> None:
    assert_error(r, 401, "invalid_api_key", "Invalid API key", type_=AUTH)


async def test_sqlite_and_pgbouncer_never_cache_keys_and_postgresql_arms_the_cache(
    served, merchant, settings
):
    app, client = served
    intent = await create_intent(client, merchant)
    for _ in range(3):
        r = await client.get(intent_url(intent["id"]), headers=merchant.headers)
        assert r.json()["id"] == intent["id"]
    cache = app.state.key_cache
    if not caches_keys(settings):
        assert not cache.armed
        assert cache.hits == 0
        return
    await until(lambda: armed(app), "the listener arms the cache")
    hits = cache.hits
    r = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert r.json()["id"] == intent["id"]
    r = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert r.status_code == 200
    assert cache.hits >= hits + 1, "an armed cache answers a key it resolved before"


async def test_a_revocation_written_by_another_connection_reaches_the_cache(
    served, make_merchant, settings, capsys
):
    app, client = served
    m = await make_merchant()
    intent = await create_intent(client, m)
    if not caches_keys(settings):
        # Without a cache, the next request after the commit reads the row.
        async with app.state.session_factory() as session:
            from escrowgate.merchants import revoke_key

            assert await revoke_key(session, m.key_id)
            await session.commit()
        assert_invalid_key(await client.get(intent_url(intent["id"]), headers=m.headers))
        return
    await until(lambda: armed(app), "the listener arms the cache")
    for _ in range(2):  # resolved once, then answered from memory
        assert (await client.get(intent_url(intent["id"]), headers=m.headers)).status_code == 200
    hits = app.state.key_cache.hits
    assert hits >= 1
    # What an operator's SQL, the CLI in another process or another API process does.
    conn = await asyncpg.connect(raw_dsn(settings))
    try:
        await conn.execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2", int(time.time()), m.key_id
        )
    finally:
        await conn.close()

    async def refused() -> bool:
        r = await client.get(intent_url(intent["id"]), headers=m.headers)
        return r.status_code == 401

    took = await until(refused, "the revoked key is refused")
    with capsys.disabled():
        print(f"\nkey revocation reached the cache in {took * 1000:.1f} ms")
    assert_invalid_key(await client.get(intent_url(intent["id"]), headers=m.headers))


async def test_a_lost_listener_disarms_the_cache_and_comes_back(served, merchant, settings):
    app, client = served
    intent = await create_intent(client, merchant)
    if not caches_keys(settings):
        assert not app.state.key_cache.armed
        return
    await until(lambda: armed(app), "the listener arms the cache")
    assert (await client.get(intent_url(intent["id"]), headers=merchant.headers)).status_code == 200
    conn = await asyncpg.connect(raw_dsn(settings))
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            LISTENER_NAME,
        )
    finally:
        await conn.close()
    assert killed >= 1, "the listener's connection was found"

    async def disarmed() -> bool:
        return not app.state.key_cache.armed

    await until(disarmed, "a lost listener disarms the cache")
    # Meanwhile every request reads its key from the database, and still works.
    r = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert r.json()["id"] == intent["id"]
    await until(lambda: armed(app), "the listener reconnects and arms again")
