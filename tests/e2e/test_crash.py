"""Crash consistency: steady mixed load on a real server, SIGKILL, restart, retry
every in-flight request with its idempotency key. Nothing half-applied, no money
lost or duplicated, audit clean."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.e2e.live_server import LiveServer
from tests.support.driver import (
    GOOD_CARD,
    audit_clean,
    intent_body,
    intents_url,
    milestone_url,
    milestones_url,
    order_url,
    payment_url,
    refund_url,
)

pytestmark = pytest.mark.e2e


class Flow:
    """One payer's journey; every POST carries an idempotency key kept across retries."""

    def __init__(self, headers: dict[str, str], n: int) -> None:
        self.headers = headers
        self.n = n
        self.intent_id: str | None = None
        self.milestone_id: str | None = None
        self.answers: list[tuple[str, int, Any]] = []

    def steps(self) -> list[tuple[str, str, Any, bool]]:
        iid, mid = self.intent_id, self.milestone_id
        return [
            ("create", intents_url(), intent_body(autoRelease=True), True),
            (
                "milestone",
                milestones_url(iid),
                {"milestoneIndex": 0, "amount": "600.00"},
                True,
            ),
            ("pay", payment_url(iid), {"card": GOOD_CARD}, False),
            (
                "complete",
                milestone_url(iid, mid, "complete"),
                {"completedBy": "dev"},
                True,
            ),
            ("refund", refund_url(iid), {"amount": "100.00"}, True),
        ]


async def run_flow(flow: Flow, base: dict[str, Any], stop_at: float) -> None:
    step = 0
    while step < 5:
        if time.monotonic() > stop_at:
            raise AssertionError("flow did not finish in time")
        name, path, body, authed = flow.steps()[step]
        key = f"flow-{flow.n}-{name}-{base['run']}"
        try:
            async with httpx.AsyncClient(base_url=base["url"], timeout=5) as c:
                r = await c.post(
                    path,
                    json=body,
                    headers={**(flow.headers if authed else {}), "Idempotency-Key": key},
                )
        except httpx.HTTPError:
            base["errors"] += 1
            await asyncio.sleep(0.05)  # server down: retry the same step, same key
            continue
        if r.status_code == 409:  # the first attempt is still running
            await asyncio.sleep(0.05)
            continue
        assert r.status_code in (200, 201), (name, r.status_code, r.text)
        flow.answers.append((name, r.status_code, r.json()))
        if name == "create":
            flow.intent_id = r.json()["id"]
        if name == "milestone":
            flow.milestone_id = r.json()["id"]
        step += 1


async def test_sigkill_under_load_loses_and_duplicates_nothing(db_url, app, make_merchant):
    m = await make_merchant()
    server = LiveServer(db_url).start()
    base: dict[str, Any] = {"url": server.url, "run": uuid.uuid4().hex[:8], "errors": 0}
    flows = [Flow(m.headers, n) for n in range(12)]
    try:
        stop_at = time.monotonic() + 90
        tasks = [asyncio.create_task(run_flow(f, base, stop_at)) for f in flows]
        await asyncio.sleep(0.4)
        server.kill()  # mid-load
        await asyncio.sleep(0.3)
        server.start()
        await asyncio.sleep(0.3)
        server.kill()  # and once more
        server.start()
        await asyncio.gather(*tasks)
        await check_outcome(m, flows, server, base, app)
    finally:
        server.stop()


async def check_outcome(m, flows, server, base, app) -> None:
    from escrowgate.models import LedgerEntry, PaymentIntent

    assert base["errors"] > 0  # the kills really cut requests off
    async with app.state.session_factory() as session:
        intents = (
            await session.execute(
                select(func.count())
                .select_from(PaymentIntent)
                .where(PaymentIntent.merchant_id == m.id)
            )
        ).scalar_one()
        by_kind = dict(
            (
                await session.execute(
                    select(LedgerEntry.kind, func.count(func.distinct(LedgerEntry.transaction_id)))
                    .where(LedgerEntry.merchant_id == m.id)
                    .group_by(LedgerEntry.kind)
                )
            ).all()
        )
    assert intents == len(flows)  # one intent per create key, never two
    # Per flow exactly: one FUND, one RELEASE (600), one SETTLE, one REFUND (100).
    assert by_kind == {"FUND": 12, "RELEASE": 12, "SETTLE": 12, "REFUND": 12}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        for f in flows:
            order = (await c.get(order_url(f.intent_id), headers=m.headers)).json()["data"]
            assert (
                order["fundedAmount"],
                order["releasedAmount"],
                order["refundedAmount"],
                order["heldAmount"],
            ) == ("1000.00", "600.00", "100.00", "300.00")
            # A replay after the crash answers exactly what the first answer said.
            r = await c.post(
                intents_url(),
                json=intent_body(autoRelease=True),
                headers={**m.headers, "Idempotency-Key": f"flow-{f.n}-create-{base['run']}"},
            )
            assert r.status_code == 201 and r.json()["id"] == f.intent_id
            assert r.headers["idempotent-replayed"] == "true"
    await audit_clean(app)
