"""Races through a real server process: parallel HTTP requests on one milestone or
order never move money twice or beyond what is held; the audit stays clean."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter

import httpx
import pytest
from eth_account import Account

from tests.e2e.live_server import LiveServer
from tests.support.driver import (
    GOOD_CARD,
    advance_clock_url,
    audit_clean,
    intent_body,
    intents_url,
    ledger_url,
    milestone_url,
    milestones_url,
    order_url,
    payment_url,
    refund_url,
    sign,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(db_url):
    with LiveServer(db_url) as s:
        yield s


async def funded_milestone_order(
    c: httpx.AsyncClient, headers, *, auto: bool, payer=None, amounts=("300.00", "400.00", "300.00")
):
    r = await c.post(intents_url(), headers=headers, json=intent_body(autoRelease=auto))
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    mids = []
    for i, amount in enumerate(amounts):
        r = await c.post(
            milestones_url(iid),
            headers=headers,
            json={"milestoneIndex": i, "amount": amount},
        )
        assert r.status_code == 201, r.text
        mids.append(r.json()["id"])
    body = {"card": GOOD_CARD}
    if payer is not None:
        body["payerAddress"] = payer.address
    r = await c.post(payment_url(iid), json=body)
    assert r.status_code == 200, r.text
    return iid, mids


async def release_legs(c: httpx.AsyncClient, headers, iid: str) -> int:
    r = await c.get(
        f"{ledger_url()}?paymentIntentId={iid}&transactionType=RELEASE&limit=100",
        headers=headers,
    )
    return len(r.json()["data"])


async def test_parallel_completes_release_once(server, app, make_merchant):
    m = await make_merchant()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        iid, mids = await funded_milestone_order(c, m.headers, auto=True)
        results = await asyncio.gather(
            *[
                c.post(
                    milestone_url(iid, mids[0], "complete"),
                    json={"completedBy": f"worker-{i}"},
                    headers=m.headers,
                )
                for i in range(20)
            ]
        )
        codes = Counter(r.status_code for r in results)
        assert codes[200] == 1, codes
        assert codes[400] == 19, codes
        assert {r.json()["error"]["message"] for r in results if r.status_code == 400} <= {
            "Milestone already completed",
            "Milestone already released",
        }
        order = (await c.get(order_url(iid), headers=m.headers)).json()["data"]
        assert order["releasedAmount"] == "300.00"
        assert await release_legs(c, m.headers, iid) == 2  # one transaction, two legs
    await audit_clean(app)


async def test_parallel_approvals_release_once(server, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        iid, mids = await funded_milestone_order(c, m.headers, auto=False, payer=payer)
        r = await c.post(
            milestone_url(iid, mids[0], "complete"),
            json={"completedBy": "dev"},
            headers=m.headers,
        )
        typed = r.json()["data"]["approvalTypedData"]
        signature = sign(typed, payer)
        results = await asyncio.gather(
            *[
                c.post(
                    milestone_url(iid, mids[0], "approve"),
                    json={"signature": signature},
                    headers=m.headers,
                )
                for _ in range(15)
            ]
        )
        codes = Counter(r.status_code for r in results)
        assert codes[200] == 1 and codes[400] == 14, codes
        order = (await c.get(order_url(iid), headers=m.headers)).json()["data"]
        assert order["releasedAmount"] == "300.00"
    await audit_clean(app)


async def run_worker_once(db_url: str) -> int:
    """`escrowgate worker --once` as its own process against the server's database."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "WARNING",
        "OFF_RAMP_MOCK_DELAY_SECONDS": "0",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "escrowgate.cli",
        "worker",
        "--once",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return proc.returncode


async def test_approvals_and_worker_releases_race_release_once(server, app, make_merchant, db_url):
    """Payer approvals, the test clock running due jobs in the server, and separate
    worker processes all try to release one completed milestone whose dispute window
    is passing: it is released once, with one RELEASE transaction."""
    m = await make_merchant()
    payer = Account.create()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        iid, mids = await funded_milestone_order(c, m.headers, auto=False, payer=payer)
        r = await c.post(
            milestone_url(iid, mids[0], "complete"),
            json={"completedBy": "dev"},
            headers=m.headers,
        )
        assert r.status_code == 200 and r.json()["data"]["status"] == "COMPLETED", r.text
        signature = sign(r.json()["data"]["approvalTypedData"], payer)
        approve = milestone_url(iid, mids[0], "approve")
        advance = advance_clock_url(iid)
        window = 7 * 24 * 3600
        results = await asyncio.gather(
            *[c.post(approve, json={"signature": signature}, headers=m.headers) for _ in range(8)],
            *[c.post(advance, json={"seconds": window + 1}, headers=m.headers) for _ in range(3)],
            *[run_worker_once(db_url) for _ in range(2)],
        )
        approvals, advances = results[:8], results[8:11]
        assert all(r.status_code == 200 for r in advances), [r.text for r in advances]
        codes = Counter(r.status_code for r in approvals)
        assert set(codes) <= {200, 400} and codes[200] <= 1, codes
        assert {r.json()["error"]["message"] for r in approvals if r.status_code == 400} <= {
            "Milestone already released"
        }
        order = (await c.get(order_url(iid), headers=m.headers)).json()["data"]
        assert order["milestones"][0]["status"] == "RELEASED"
        assert order["releasedAmount"] == "300.00" and order["heldAmount"] == "700.00"
        assert await release_legs(c, m.headers, iid) == 2  # one transaction, two legs
    await audit_clean(app)


async def test_parallel_refunds_and_releases_never_exceed_held(server, app, make_merchant):
    m = await make_merchant()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        iid, mids = await funded_milestone_order(c, m.headers, auto=True)
        calls = []
        for i in range(12):
            calls.append(
                c.post(
                    refund_url(iid),
                    json={"amount": "150.00"},
                    headers=m.headers,
                )
            )
            if i < 3:
                calls.append(
                    c.post(
                        milestone_url(iid, mids[i], "complete"),
                        json={"completedBy": "dev"},
                        headers=m.headers,
                    )
                )
        results = await asyncio.gather(*calls)
        assert all(r.status_code in (200, 400) for r in results), [r.text for r in results]
        order = (await c.get(order_url(iid), headers=m.headers)).json()["data"]
        from decimal import Decimal

        released, refunded = Decimal(order["releasedAmount"]), Decimal(order["refundedAmount"])
        assert released + refunded <= Decimal("1000.00")
        assert Decimal(order["heldAmount"]) == Decimal("1000.00") - released - refunded >= 0
        refunds_ok = sum(
            1 for r in results if r.status_code == 200 and r.json().get("object") == "refund"
        )
        assert refunded == Decimal("150.00") * refunds_ok
    await audit_clean(app)


async def test_parallel_milestone_creates_never_exceed_order(server, app, make_merchant):
    m = await make_merchant()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(intents_url(), headers=m.headers, json=intent_body())
        iid = r.json()["id"]
        results = await asyncio.gather(
            *[
                c.post(
                    milestones_url(iid),
                    headers=m.headers,
                    json={"milestoneIndex": i, "amount": "70.00"},
                )
                for i in range(30)
            ]
        )
        codes = Counter(r.status_code for r in results)
        assert codes[201] == 14 and codes[400] == 16, codes
        assert {r.json()["error"]["message"] for r in results if r.status_code == 400} == {
            "Total milestone amounts exceed escrow order amount"
        }
