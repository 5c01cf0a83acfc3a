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


async def pay_by_card(client: httpx.AsyncClient, intent_id: str, *, card: dict[str, Any] | None = None,
                      payer: Any = None) -> httpx.Response:
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
    return {k: Decimal("0") for k in ("reservedBalance", "pendingBalance", "availableBalance",
                                      "totalBalance")}


async def audit_clean(app: Any) -> None:
    from escrowgate.ledger.audit import run_audit

    async with app.state.session_factory() as session:
        problems = await run_audit(session)
    assert problems == [], problems


async def run_worker(app: Any) -> int:
    from escrowgate.worker.jobs import run_due

    return await run_due(app.state.session_factory, app.state.settings)


async def advance(client: httpx.AsyncClient, m: Any, intent_id: str, seconds: int) -> dict[str, Any]:
    r = await client.post(f"/v1/test_helpers/payment-intents/{intent_id}/advance_clock",
                          json={"seconds": seconds}, headers=m.headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def make_operator(app: Any, mode: str = "test") -> dict[str, str]:
    from escrowgate.auth.keys import create_key

    async with app.state.session_factory() as session:
        _, raw = await create_key(session, merchant_id=None, mode=mode, operator=True)
        await session.commit()
    return {"X-API-Key": raw}
