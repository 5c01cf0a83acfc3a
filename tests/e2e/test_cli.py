"""The `escrowgate` command as an operator uses it: migrate, demo, merchants create,
keys create (printed once), keys revoke (fails at once). Each command is its own
process against an SQLite file; the API is checked in-process on the same file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from escrowgate.app import create_app
from escrowgate.config import Settings
from tests.support.driver import assert_error, intents_url, milestones_url

pytestmark = pytest.mark.e2e


def cli(db: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DATABASE_URL": db, "LOG_LEVEL": "WARNING", **env}
    return subprocess.run(
        [sys.executable, "-m", "escrowgate.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = cli(url, "migrate")
    assert done.returncode == 0, done.stderr
    return url


def test_demo_prints_a_working_key_and_a_curl_a_client_can_call(db):
    done = cli(db, "demo", HOST="0.0.0.0", PORT="8123")
    assert done.returncode == 0, done.stderr
    assert "export ESCROWGATE_KEY=sk_test_" in done.stdout
    # A wildcard bind address is printed as loopback: the curl must be callable.
    curl = f"curl http://127.0.0.1:8123{milestones_url('$INTENT')}"
    assert curl in done.stdout
    assert "0.0.0.0" not in done.stdout
    again = cli(db, "demo")
    keys = [
        line.split("=", 1)[1]
        for out in (done.stdout, again.stdout)
        for line in out.splitlines()
        if "export ESCROWGATE_KEY=" in line
    ]
    assert len(keys) == 2 and keys[0] != keys[1]  # a new key each run, one merchant


async def test_keys_create_and_revoke_take_effect_at_once(db):
    made = cli(db, "merchants", "create", "--name", "Acme Ltd")
    assert made.returncode == 0 and made.stdout.strip().startswith("merchant_"), made.stderr
    merchant = made.stdout.strip()
    key = cli(db, "keys", "create", "--merchant", merchant, "--mode", "live")
    assert key.returncode == 0, key.stderr
    raw = key.stdout.strip()
    key_id = key.stderr.strip().removeprefix("key id: ")
    assert raw.startswith("sk_live_") and key_id.startswith("key_")
    assert raw not in key.stderr  # the secret goes to stdout only, once

    app = create_app(Settings(database_url=db, rate_limit_enabled=False, log_level="WARNING"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get(intents_url(), headers={"X-API-Key": raw})
            assert r.status_code == 200 and r.json()["data"] == []
            revoked = cli(db, "keys", "revoke", key_id)
            assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {key_id}"
            r = await c.get(intents_url(), headers={"X-API-Key": raw})
            assert_error(r, 401, "invalid_api_key", type_="authentication_error")
    finally:
        await app.state.engine.dispose()
    missing = cli(db, "keys", "revoke", "key_doesnotexist")
    assert missing.returncode == 1 and "no such key: key_doesnotexist" in missing.stderr
    unknown = cli(db, "keys", "create", "--merchant", "merchant_nope", "--mode", "test")
    assert unknown.returncode == 1


async def test_keys_create_mode_hackathon_makes_a_test_key(db):
    merchant = cli(db, "merchants", "create", "--name", "Hack Team").stdout.strip()
    key = cli(db, "keys", "create", "--merchant", merchant, "--mode", "hackathon")
    assert key.returncode == 0, key.stderr
    raw = key.stdout.strip()
    assert raw.startswith("sk_hackathon_")
    bad = cli(db, "keys", "create", "--merchant", merchant, "--mode", "staging")
    assert bad.returncode == 2 and "mode must be test, live or hackathon" in bad.stderr
    app = create_app(Settings(database_url=db, rate_limit_enabled=False, log_level="WARNING"))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            r = await c.post(
                intents_url(),
                json={"amount": "5.00", "currency": "USD", "type": "CONDITIONAL"},
                headers={"X-API-Key": raw},
            )
            assert r.status_code == 201, r.text
            assert r.json()["data"]["livemode"] is False  # a test key
    finally:
        await app.state.engine.dispose()
