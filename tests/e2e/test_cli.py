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


# --- Operations: version, lists, jobs, migrations, backup ----------------------------------


def rows(out: str) -> list[list[str]]:
    """The table a list command prints: a header line, then one line per row; columns
    are separated by two or more spaces."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


def test_version_prints_the_installed_version(tmp_path: Path):
    from importlib.metadata import version

    done = cli(f"sqlite:///{tmp_path / 'v.db'}", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"escrowgate {version('escrowgate')}\n"


async def test_merchants_and_keys_list_show_everything_but_the_secret(db):
    acme = cli(db, "merchants", "create", "--name", "Acme Ltd").stdout.strip()
    other = cli(db, "merchants", "create", "--name", "Other Co").stdout.strip()
    made = cli(db, "keys", "create", "--merchant", acme, "--mode", "live")
    raw, acme_key = made.stdout.strip(), made.stderr.strip().removeprefix("key id: ")
    revoked = cli(db, "keys", "create", "--merchant", acme).stderr.strip().removeprefix(
        "key id: "
    )
    assert cli(db, "keys", "revoke", revoked).returncode == 0
    operator = cli(db, "keys", "create", "--operator").stderr.strip().removeprefix("key id: ")

    merchants = cli(db, "merchants", "list")
    assert merchants.returncode == 0, merchants.stderr
    table = rows(merchants.stdout)
    assert table[0] == ["ID", "NAME", "CREATED", "KEYS"]
    assert [(r[0], r[1], r[3]) for r in table[1:]] == [
        (acme, "Acme Ltd", "1/2"),
        (other, "Other Co", "0/0"),
    ]
    assert all(r[2].endswith("Z") and len(r[2]) == 20 for r in table[1:])  # ISO 8601 UTC

    keys = cli(db, "keys", "list")
    assert keys.returncode == 0, keys.stderr
    table = rows(keys.stdout)
    assert table[0] == [
        "ID", "MERCHANT", "KIND", "MODE", "PREFIX", "CREATED", "LAST USED", "REVOKED"
    ]
    by_id = {r[0]: r for r in table[1:]}
    assert set(by_id) == {acme_key, revoked, operator}
    live = by_id[acme_key]
    assert live[1:5] == [acme, "merchant", "live", raw[:8] + "..." + raw[-4:]]
    assert live[6] == "-" and live[7] == "-"  # never used, not revoked
    assert by_id[revoked][7] != "-" and by_id[operator][1:3] == ["-", "operator"]
    # Never the secret nor its hash.
    from escrowgate.auth.keys import hash_key

    assert raw not in keys.stdout and hash_key(raw) not in keys.stdout
    only_other = rows(cli(db, "keys", "list", "--merchant", other).stdout)
    assert len(only_other) == 1  # the header: Other Co has no key

    # A request with the key records when it was last used.
    app = create_app(Settings(database_url=db, rate_limit_enabled=False, log_level="WARNING"))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            assert (await c.get(intents_url(), headers={"X-API-Key": raw})).status_code == 200
    finally:
        await app.state.engine.dispose()
    used = {r[0]: r for r in rows(cli(db, "keys", "list").stdout)[1:]}
    assert used[acme_key][6].endswith("Z") and used[acme_key][6] >= used[acme_key][5]
    assert used[operator][6] == "-"


def _insert_failed_job(db: str, job_id: str) -> None:
    import sqlite3
    import time

    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, merchant_id, mode, target_id, order_id, due_at, "
            "status, attempts, last_error, created_at, finished_at) VALUES (?, 'settle', "
            "'merchant_x', 'test', 'payout_x', 'order_x', 0, 'FAILED', 10, ?, ?, ?)",
            (job_id, "RuntimeError: the off-ramp\nanswered 503", int(time.time()), 1),
        )


def test_jobs_list_failed_and_retry(db):
    _insert_failed_job(db, "job_failed_1")
    failed = cli(db, "jobs", "list", "--status", "FAILED")
    assert failed.returncode == 0, failed.stderr
    table = rows(failed.stdout)
    assert table[0] == ["ID", "KIND", "STATUS", "ATTEMPTS", "DUE", "ORDER", "TARGET", "LAST ERROR"]
    assert len(table) == 2
    row = table[1]
    assert row[:4] == ["job_failed_1", "settle", "FAILED", "10"]
    assert row[5:] == ["order_x", "payout_x", "RuntimeError: the off-ramp answered 503"]
    assert rows(cli(db, "jobs", "list").stdout) == table  # FAILED is the default

    retried = cli(db, "jobs", "retry", "job_failed_1")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout == "job_failed_1: FAILED -> PENDING (due now)\n"
    assert len(rows(cli(db, "jobs", "list", "--status", "FAILED").stdout)) == 1  # header only
    pending = rows(cli(db, "jobs", "list", "--status", "pending").stdout)
    assert [r[:4] for r in pending[1:]] == [["job_failed_1", "settle", "PENDING", "0"]]

    again = cli(db, "jobs", "retry", "job_failed_1")
    assert again.returncode == 1
    assert again.stderr == "job job_failed_1 is PENDING: only a FAILED job can be retried\n"
    missing = cli(db, "jobs", "retry", "job_nope")
    assert missing.returncode == 1 and missing.stderr == "no such job: job_nope\n"
    bad = cli(db, "jobs", "list", "--status", "LOST")
    assert bad.returncode == 2
    assert bad.stderr == "status must be PENDING, DONE, FAILED or CANCELLED\n"


def test_migrate_current_history_and_downgrade(tmp_path: Path):
    from escrowgate.db.migrate import head_revision, history

    url = f"sqlite:///{tmp_path / 'm.db'}"
    head = head_revision()
    previous = history()[-2][0]
    before = cli(url, "migrate", "current")
    assert before.returncode == 0, before.stderr
    assert before.stdout == f"none (not migrated; head is {head}): run escrowgate migrate\n"
    assert cli(url, "migrate").stdout == "migrations applied\n"
    assert cli(url, "migrate", "current").stdout == f"{head} (head)\n"

    lines = cli(url, "migrate", "history").stdout.splitlines()
    assert lines[0] == "base -> 0001  initial schema"
    assert len(lines) == len(history())
    assert lines[-1].startswith(f"{previous} -> {head}  ") and lines[-1].endswith("  <- current")
    assert sum("<- current" in line for line in lines) == 1

    down = cli(url, "migrate", "downgrade", previous)
    assert down.returncode == 0 and down.stdout == f"downgraded to {previous}\n", down.stderr
    assert cli(url, "migrate", "current").stdout == (
        f"{previous} (head is {head}: run escrowgate migrate)\n"
    )
    assert cli(url, "migrate", "history").stdout.splitlines()[-2].endswith("  <- current")
    assert cli(url, "migrate").returncode == 0
    assert cli(url, "migrate", "current").stdout == f"{head} (head)\n"


def test_backup_copies_a_live_wal_database(tmp_path: Path):
    """`escrowgate backup` while a real server writes to the database (WAL mode): the
    copy is consistent and complete up to some moment during the copy."""
    import sqlite3
    import threading

    from tests.e2e.live_server import LiveServer
    from tests.support.driver import intent_body

    path = tmp_path / "live.db"
    url = f"sqlite:///{path}"
    assert cli(url, "migrate").returncode == 0
    merchant = cli(url, "merchants", "create", "--name", "Backup Ltd").stdout.strip()
    key = cli(url, "keys", "create", "--merchant", merchant).stdout.strip()
    made: list[str] = []
    stop = threading.Event()

    def write(server_url: str) -> None:
        with httpx.Client(base_url=server_url, timeout=30) as c:
            while not stop.is_set() and len(made) < 400:
                r = c.post(intents_url(), json=intent_body(), headers={"X-API-Key": key})
                assert r.status_code == 201, r.text
                made.append(r.json()["id"])

    with LiveServer(url) as server:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer = threading.Thread(target=write, args=(server.url,))
        writer.start()
        try:
            while len(made) < 20 and writer.is_alive():  # some rows, then copy meanwhile
                threading.Event().wait(0.05)
            at_start = len(made)
            copy = tmp_path / "copy.db"
            done = cli(url, "backup", str(copy))
            at_end = len(made)
        finally:
            stop.set()
            writer.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"backup written: {copy} (") and done.stdout.endswith(
        " pages)\n"
    )
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file
        copied = {r[0] for r in conn.execute("SELECT id FROM payment_intents")}
    assert at_start <= len(copied) <= at_end + 1
    assert copied <= set(made) | {made[-1]} and set(made[:at_start]) <= copied
    assert not (tmp_path / "copy.db.partial").exists()

    again = cli(url, "backup", str(copy))
    assert again.returncode == 1
    assert again.stderr == f"{copy} exists: refusing to overwrite it\n"
    pg = cli("postgresql://escrowgate@127.0.0.1:5432/none", "backup", str(tmp_path / "pg.db"))
    assert pg.returncode == 2
    assert pg.stderr == (
        "escrowgate backup copies an SQLite database; DATABASE_URL is PostgreSQL: "
        "use pg_dump (docs/deploy.md, Backups)\n"
    )
