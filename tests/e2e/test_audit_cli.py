"""`escrowgate migrate` and `escrowgate audit` as an operator runs them: real processes
against a fresh SQLite database named by DATABASE_URL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from escrowgate.config import Settings
from tests.support.driver import (
    audit_clean,
    create_intent,
    milestone_url,
    milestones_url,
    order_url,
    pay_by_card,
)

_REPO_CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "escrowgate"
CLI = _REPO_CLI if _REPO_CLI.exists() else Path(sys.executable).parent / "escrowgate"


def run(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = f"sqlite:///{db_path}"
    env["LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [str(CLI), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database migrated by the CLI, as an operator would."""
    path = tmp_path / "audit.db"
    done = run(path, "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "migrations applied" in done.stdout
    return path


@pytest.fixture
def fast_db_path(tmp_path: Path) -> Path:
    """A fresh database migrated in-process (the CLI's migrate is covered above)."""
    from escrowgate.db.migrate import upgrade

    path = tmp_path / "audit.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def insert_entry(
    db_path: Path,
    entry_id: str,
    txn: str,
    account: str,
    amount: int,
    *,
    order_id: str | None = None,
) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO ledger_entries (id, transaction_id, merchant_id, mode, currency, "
            "account, amount, kind, payment_intent_id, conditional_payment_id, reference_id, "
            "created_at) VALUES (?, ?, 'merchant_x', 'test', 'USDC', ?, ?, 'FUND', NULL, ?, "
            "NULL, 1700000000)",
            (entry_id, txn, account, amount, order_id),
        )


def test_audit_ok_on_a_clean_database_then_names_an_unbalanced_transaction(db_path):
    done = run(db_path, "audit")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == (
        "audit ok: every transaction balances; every order's held amount is consistent"
    )

    # A balanced transaction (not named), and one leg without its other half.
    insert_entry(db_path, "le_ok_1", "ltx_balanced", "merchant_pending", 5_000_000)
    insert_entry(db_path, "le_ok_2", "ltx_balanced", "payer", -5_000_000)
    insert_entry(db_path, "le_broken_1", "ltx_broken", "merchant_pending", 1_250_000)
    done = run(db_path, "audit")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines == [
        "transaction ltx_broken does not balance (sum 1250000)",
        "audit FAILED: 1 problem(s)",
    ]
    assert "ltx_balanced" not in done.stdout


async def test_audit_checks_every_orders_held_amount(fast_db_path):
    """A real funded and partly released order audits clean; an order whose counters
    no longer match its escrow ledger balance is named."""
    from escrowgate.app import create_app
    from escrowgate.auth.keys import create_key
    from escrowgate.merchants import create_merchant
    from tests.support.driver import Merchant

    db_path = fast_db_path
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        rate_limit_enabled=False,
        run_worker_in_process=False,
        sandbox_chain_delay_seconds=0,
        off_ramp_mock_delay_seconds=0,
        log_level="WARNING",
    )
    app: Any = create_app(settings)
    try:
        async with app.state.session_factory() as session:
            merchant = await create_merchant(session, "Audit Shop")
            await session.flush()
            row, raw = await create_key(session, merchant_id=merchant.id, mode="test")
            await session.commit()
        m = Merchant(id=merchant.id, key=raw, key_id=row.id, mode="test")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            iid = (await create_intent(client, m, autoRelease=True))["id"]
            r = await client.post(
                milestones_url(iid),
                json={"milestoneIndex": 0, "amount": "300.00"},
                headers=m.headers,
            )
            assert r.status_code == 201, r.text
            mid = r.json()["id"]
            assert (await pay_by_card(client, iid)).status_code == 200
            r = await client.post(
                milestone_url(iid, mid, "complete"),
                json={"completedBy": "merchant"},
                headers=m.headers,
            )
            assert r.status_code == 200 and r.json()["data"]["status"] == "RELEASED", r.text
            order_id = (await client.get(order_url(iid), headers=m.headers)).json()["id"]
        await audit_clean(app)  # the CLI's "audit ok" is covered above; same check
    finally:
        await app.state.engine.dispose()

    # The order's counters say 100.00 more was released than the ledger moved.
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE conditional_payments SET released_amount = released_amount + "
            "100000000, settled_amount = settled_amount + 100000000 WHERE id = ?",
            (order_id,),
        )
    done = run(db_path, "audit")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip().splitlines() == [
        f"order {order_id}: held 600000000 but escrow ledger balance 700000000",
        "audit FAILED: 1 problem(s)",
    ]
