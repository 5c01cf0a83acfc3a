"""Revoking a key with `escrowgate keys revoke` (its own process) refuses the key in
every process of a running `escrowgate serve --workers 2` at once: on PostgreSQL each
API process caches keys and drops them on the database's notification; on SQLite
nothing is cached."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import pytest

from escrowgate.auth.cache import LISTENER_NAME
from tests.e2e.server import BIN, Deployment
from tests.support.driver import AUTH, assert_error, intents_url

pytestmark = pytest.mark.e2e

REQUESTS = 40  # enough that both worker processes serve some (and cache the key)


def serve_two_workers(d: Deployment) -> None:
    out = d.log.open("wb")
    d.proc = subprocess.Popen(
        [str(BIN / "escrowgate"), "serve", "--workers", "2", "--port", str(d.port)],
        env={**d.env, "RUN_WORKER_IN_PROCESS": "false", "RATE_LIMIT_ENABLED": "false"},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()


def listeners(database_url: str) -> int:
    """API processes whose key cache is armed (PostgreSQL: their LISTEN connections)."""
    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = $1 AND datname = current_database()",
                    LISTENER_NAME,
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count())


def test_a_revoked_key_is_refused_by_every_api_process_at_once():
    d = Deployment()
    d.migrate()
    merchant_id = d.cli("merchants", "create", "--name", "Revocation Ltd").strip()
    made = subprocess.run(
        [str(BIN / "escrowgate"), "keys", "create", "--merchant", merchant_id, "--mode", "test"],
        env=d.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    key, key_id = made.stdout.strip(), made.stderr.strip().removeprefix("key id: ")
    assert key.startswith("sk_test_") and key_id.startswith("key_")
    serve_two_workers(d)
    try:
        d.wait_ready(timeout=60)
        if d.database_url.startswith("postgresql"):
            deadline = time.monotonic() + 30
            while listeners(d.database_url) < 2:
                assert time.monotonic() < deadline, "both API processes arm their key cache"
                time.sleep(0.1)
        with httpx.Client(base_url=d.base_url, timeout=10) as c:
            for _ in range(REQUESTS):
                r = c.get(intents_url(), headers={"X-API-Key": key})
                assert r.status_code == 200 and r.json()["object"] == "list", r.text
            assert d.cli("keys", "revoke", key_id).strip() == f"revoked {key_id}"
            statuses = []
            for _ in range(REQUESTS):
                r = c.get(intents_url(), headers={"X-API-Key": key})
                statuses.append(r.status_code)
                assert_error(r, 401, "invalid_api_key", "Invalid API key", type_=AUTH)
            assert statuses == [401] * REQUESTS
    finally:
        d.stop()
