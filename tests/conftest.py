"""Shared fixtures. The API suite runs on SQLite by default and on PostgreSQL when
TEST_DATABASE_URL names one (CI sets it; an unreachable PostgreSQL is a failure)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from escrowgate.config import Settings
from escrowgate.db.engine import normalize_url

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
    from escrowgate.db.migrate import upgrade

    upgrade(url)
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
    from escrowgate.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.engine.dispose()


@dataclass
class Merchant:
    id: str
    key: str
    key_id: str
    mode: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


MakeMerchant = Callable[..., Awaitable[Merchant]]


@pytest.fixture(scope="session")
def make_merchant(app: Any) -> MakeMerchant:
    from escrowgate.auth.keys import create_key
    from escrowgate.merchants import create_merchant

    async def make(name: str = "Acme Freelance", mode: str = "test") -> Merchant:
        async with app.state.session_factory() as session:
            merchant = await create_merchant(session, name)
            await session.flush()
            row, raw = await create_key(session, merchant_id=merchant.id, mode=mode)
            await session.commit()
        return Merchant(id=merchant.id, key=raw, key_id=row.id, mode=mode)

    return make


@pytest.fixture
async def merchant(make_merchant: MakeMerchant) -> Merchant:
    return await make_merchant()


def intent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": "1000.00",
        "currency": "USDC",
        "type": "DELIVERY_VS_PAYMENT",
        "settlementMethod": "OFF_RAMP_MOCK",
        "settlementDestination": "test_account_123",
        "description": "Website build",
        "metadata": {"releaseType": "MILESTONE_LOCKED"},
    }
    body.update(overrides)
    return body


async def create_intent(client: httpx.AsyncClient, m: Merchant, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/v1/payment-intents", json=intent_body(**overrides), headers=m.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def assert_error(
    r: httpx.Response,
    status: int,
    code: str,
    message: str | None = None,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["type"] == type_, err
    if message is not None:
        assert err["message"] == message, err
    if param is not None:
        assert err.get("param") == param, err
    assert r.headers.get("request-id", "").startswith("req_")
    return dict(err)


# --- Helpers for the foundation + Create Milestone suites (appended) ---------------

ISO_Z_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def milestones_url(intent_id: str, prefix: str = "/v1") -> str:
    return f"{prefix}/payment-intents/{intent_id}/escrow/milestones"


async def post_milestone(
    client: httpx.AsyncClient, m: Merchant, intent_id: str, body: Any, *, prefix: str = "/v1"
) -> httpx.Response:
    return await client.post(milestones_url(intent_id, prefix), json=body, headers=m.headers)


@pytest.fixture
async def other_merchant(make_merchant: MakeMerchant) -> Merchant:
    return await make_merchant("Someone Else Ltd")


@pytest.fixture(scope="session")
def add_key(app: Any) -> Callable[..., Awaitable[Merchant]]:
    """Another key (e.g. live mode) for an existing merchant."""
    from escrowgate.auth.keys import create_key

    async def add(m: Merchant, mode: str) -> Merchant:
        async with app.state.session_factory() as session:
            row, raw = await create_key(session, merchant_id=m.id, mode=mode)
            await session.commit()
        return Merchant(id=m.id, key=raw, key_id=row.id, mode=mode)

    return add
