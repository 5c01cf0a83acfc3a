"""Shared fixtures. The API suite runs on SQLite by default and on PostgreSQL when
TEST_DATABASE_URL names one (CI sets it; an unreachable PostgreSQL is a failure).
Helpers live in tests/support/driver.py."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support.driver import (
    Merchant,
    Settings,
    create_app,
    migrate_database,
    new_key,
    new_merchant,
    normalize_url,
)

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def database_url() -> str:
    if PG_URL:
        return normalize_url(PG_URL)
    path = os.path.join(tempfile.mkdtemp(prefix="escrowgate-test-"), "test.db")
    return f"sqlite+aiosqlite:///{path}"


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def _reset_postgres(url: str) -> None:
    import asyncpg

    async def reset() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def db_url() -> str:
    url = database_url()
    if is_postgres(url):
        _reset_postgres(url)  # raises (fails the run) if PostgreSQL is unreachable
    migrate_database(url)
    return url


@pytest.fixture(scope="session")
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        rate_limit_enabled=False,
        run_worker_in_process=False,
        sandbox_chain_delay_seconds=0,
        off_ramp_mock_delay_seconds=0,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.engine.dispose()


MakeMerchant = Callable[..., Awaitable[Merchant]]


@pytest.fixture(scope="session")
def make_merchant(app: Any) -> MakeMerchant:
    async def make(name: str = "Acme Freelance", mode: str = "test") -> Merchant:
        return await new_merchant(app, name, mode)

    return make


@pytest.fixture
async def merchant(make_merchant: MakeMerchant) -> Merchant:
    return await make_merchant()


@pytest.fixture
async def other_merchant(make_merchant: MakeMerchant) -> Merchant:
    return await make_merchant("Someone Else Ltd")


@pytest.fixture(scope="session")
def add_key(app: Any) -> Callable[..., Awaitable[Merchant]]:
    """Another key (e.g. live mode) for an existing merchant."""

    async def add(m: Merchant, mode: str) -> Merchant:
        return await new_key(app, m, mode)

    return add
