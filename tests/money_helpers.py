"""Helpers for money-flow tests: funding by card or wallet, signing approvals, audit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data

GOOD_CARD = {"cardNumber": "4242424242424242", "expiry": "12/39", "cvv": "123", "name": "Ada Payer"}


def sign(typed_data: dict[str, Any], account: Any) -> str:
    signed = Account.sign_message(encode_typed_data(full_message=typed_data), account.key)
    return "0x" + signed.signature.hex().removeprefix("0x")


async def pay_by_card(
    client: httpx.AsyncClient,
    intent_id: str,
    *,
    card: dict[str, Any] | None = None,
    payer: Any = None,
) -> httpx.Response:
    body: dict[str, Any] = {"card": card or GOOD_CARD}
    if payer is not None:
        body["payerAddress"] = payer.address
    return await client.post(f"/v1/payment-intents/public/{intent_id}/payment", json=body)


async def escrow(client: httpx.AsyncClient, m: Any, intent_id: str) -> dict[str, Any]:
    r = await client.get(f"/v1/payment-intents/{intent_id}/escrow", headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def balance(client: httpx.AsyncClient, m: Any, currency: str = "USDC") -> dict[str, Decimal]:
    r = await client.get("/v1/account/balance", headers=m.headers)
    assert r.status_code == 200, r.text
    for row in r.json()["data"]:
        if row["currency"] == currency:
            return {k: Decimal(v) for k, v in row.items() if k.endswith("Balance")}
    return {
        k: Decimal("0")
        for k in ("reservedBalance", "pendingBalance", "availableBalance", "totalBalance")
    }


async def audit_clean(app: Any) -> None:
    from escrowgate.audit import run_audit

    async with app.state.session_factory() as session:
        problems = await run_audit(session)
    assert problems == [], problems


async def run_worker(app: Any) -> int:
    return int(await app.state.run_due_jobs())


async def advance(
    client: httpx.AsyncClient, m: Any, intent_id: str, seconds: int
) -> dict[str, Any]:
    r = await client.post(
        f"/v1/test_helpers/payment-intents/{intent_id}/advance_clock",
        json={"seconds": seconds},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def make_operator(app: Any, mode: str = "test") -> dict[str, str]:
    from escrowgate.auth.keys import create_key

    async with app.state.session_factory() as session:
        _, raw = await create_key(session, merchant_id=None, mode=mode, operator=True)
        await session.commit()
    return {"X-API-Key": raw}


# --- Ledger, events and jobs helpers (tests/api/test_funding.py, test_ledger_events.py,
# test_worker.py) ---------------------------------------------------------------------


async def list_all(client: httpx.AsyncClient, m: Any, path: str, **params: Any) -> list[Any]:
    """Every item of a newest-first list endpoint, paging with starting_after."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {"limit": 100, **params}
        if cursor:
            query["starting_after"] = cursor
        r = await client.get(path, params=query, headers=m.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["object"] == "list"
        items.extend(page["data"])
        if not page["hasMore"]:
            return items
        cursor = page["data"][-1]["id"]
    raise AssertionError("list never ended")


async def ledger_entries(client: httpx.AsyncClient, m: Any, **params: Any) -> list[Any]:
    return await list_all(client, m, "/v1/account/ledger-entries", **params)


def transactions(entries: list[Any]) -> dict[str, list[Any]]:
    """transactionId -> its legs. Asserts every transaction balances (legs sum to 0)."""
    out: dict[str, list[Any]] = {}
    for e in entries:
        out.setdefault(e["transactionId"], []).append(e)
    for txn, legs in out.items():
        assert len(legs) == 2, (txn, legs)
        assert sum(Decimal(e["amount"]) for e in legs) == 0, (txn, legs)
        assert len({e["transactionType"] for e in legs}) == 1, (txn, legs)
    return out


def kinds(entries: list[Any]) -> list[str]:
    """The transaction types of the entries' transactions, sorted (one per transaction)."""
    return sorted(legs[0]["transactionType"] for legs in transactions(entries).values())


async def db_execute(app: Any, sql: str, **params: Any) -> Any:
    """Run one SQL statement in its own committed transaction; rows if it returns any."""
    from sqlalchemy import text

    async with app.state.session_factory() as session:
        result = await session.execute(text(sql), params)
        rows = list(result.all()) if result.returns_rows else None
        await session.commit()
    return rows
