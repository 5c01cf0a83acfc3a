"""Durable jobs: concurrent workers never double-run a job, a crash between claim and
commit loses and duplicates nothing, the test clock is test-mode only, and
milestones release strictly in index order."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account

from escrowgate.worker import jobs as worker_jobs
from tests.support.driver import (
    WINDOW,
    add_milestone,
    advance_clock_url,
    approve,
    assert_error,
    audit_clean,
    balance,
    complete,
    create_intent,
    db_execute,
    escrow,
    events_url,
    intent_url,
    kinds,
    ledger_entries,
    list_all,
    milestone,
    pay_by_card,
    run_worker,
    transactions,
)

KIND = "milestone_release"


async def funded_order_with_completed_milestone(
    client: httpx.AsyncClient, m: Any, amount: str = "100.00"
) -> tuple[str, str]:
    iid = (await create_intent(client, m, amount=amount))["id"]
    mid = await add_milestone(client, m, iid, 0, amount)
    assert (await pay_by_card(client, iid)).status_code == 200
    body = await complete(client, m, iid, mid)
    assert body["data"]["status"] == "COMPLETED"  # no autoRelease: waits for its window
    return iid, mid


async def pass_time_without_running(app: Any, merchant_id: str, seconds: int) -> None:
    """What the test clock does, minus running the worker: move every order of the
    merchant `seconds` forward and make its pending jobs that much earlier."""
    await db_execute(
        app,
        "UPDATE conditional_payments SET clock_offset = clock_offset + :s WHERE merchant_id = :mid",
        s=seconds,
        mid=merchant_id,
    )
    await db_execute(
        app,
        "UPDATE jobs SET due_at = due_at - :s WHERE merchant_id = :mid AND status = 'PENDING'",
        s=seconds,
        mid=merchant_id,
    )


async def release_jobs(app: Any, merchant_id: str) -> list[tuple[Any, ...]]:
    rows = await db_execute(
        app,
        "SELECT id, target_id, status, attempts, last_error, due_at FROM jobs "
        "WHERE merchant_id = :mid AND kind = :kind ORDER BY id",
        mid=merchant_id,
        kind=KIND,
    )
    return [tuple(r) for r in rows]


@pytest.fixture
def real_handler(app: Any) -> Any:
    return app.state.job_handlers[KIND]


async def test_concurrent_workers_never_double_run_a_job(
    client, app, make_merchant, monkeypatch, real_handler
):
    m = await make_merchant()
    orders = [await funded_order_with_completed_milestone(client, m) for _ in range(10)]
    mids = {mid for _, mid in orders}
    jobs_before = await release_jobs(app, m.id)
    assert len(jobs_before) == 10 and {j[1] for j in jobs_before} == mids
    assert all(j[2] == "PENDING" and j[3] == 0 for j in jobs_before)
    # Nothing is due yet: a worker pass releases nothing.
    await run_worker(app)
    assert (await balance(client, m))["reservedBalance"] == Decimal("1000.00")
    await pass_time_without_running(app, m.id, WINDOW)

    calls: Counter[str] = Counter()

    async def counting(session: Any, settings: Any, job: Any) -> None:
        calls[job.id] += 1
        await asyncio.sleep(0.01)  # hold the claim a moment: others must skip it
        await real_handler(session, settings, job)

    monkeypatch.setitem(app.state.job_handlers, KIND, counting)
    factory, settings = app.state.session_factory, app.state.settings
    handlers = app.state.job_handlers
    ran = await asyncio.gather(
        *(worker_jobs.run_due(factory, settings, handlers) for _ in range(3))
    )
    assert sum(ran) >= 10
    mine = {j[0] for j in jobs_before}
    assert {job_id: calls[job_id] for job_id in mine} == dict.fromkeys(mine, 1)

    jobs_after = await release_jobs(app, m.id)
    assert [(j[2], j[3], j[4]) for j in jobs_after] == [("DONE", 1, None)] * 10
    for iid, mid in orders:
        ms = await milestone(client, m, iid, mid)
        assert ms["status"] == "RELEASED" and ms["releasedBy"] == "dispute_window"
        order = await escrow(client, m, iid)
        assert order["releasedAmount"] == "100.00" and order["heldAmount"] == "0.00"
    entries = await ledger_entries(client, m, transactionType="RELEASE")
    per_milestone = Counter(legs[0]["referenceId"] for legs in transactions(entries).values())
    assert per_milestone == dict.fromkeys(mids, 1)
    settles = await ledger_entries(client, m, transactionType="SETTLE")
    assert len(transactions(settles)) == 10
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal("0") and b["availableBalance"] == Decimal("1000.00")
    released_events = await list_all(client, m, events_url(), type="milestone.released")
    assert sorted(e["data"]["object"]["id"] for e in released_events) == sorted(mids)
    await audit_clean(app)

    # Another round of workers finds nothing of this merchant to do.
    everything = await ledger_entries(client, m)
    await asyncio.gather(*(worker_jobs.run_due(factory, settings, handlers) for _ in range(3)))
    assert await ledger_entries(client, m) == everything
    assert {job_id: calls[job_id] for job_id in mine} == dict.fromkeys(mine, 1)
    assert await ledger_entries(client, m, transactionType="RELEASE") == entries


async def test_a_worker_crash_before_commit_loses_and_duplicates_nothing(
    client, app, make_merchant, monkeypatch, real_handler
):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    m0 = await add_milestone(client, m, iid, 0, "400.00")
    assert (await pay_by_card(client, iid)).status_code == 200
    await complete(client, m, iid, m0)
    await pass_time_without_running(app, m.id, WINDOW)
    ledger_before = await ledger_entries(client, m)
    balance_before = await balance(client, m)
    (job,) = await release_jobs(app, m.id)

    async def crashing(session: Any, settings: Any, job: Any) -> None:
        await real_handler(session, settings, job)  # the release is done in the session...
        raise RuntimeError("worker died before commit")  # ...and never committed

    monkeypatch.setitem(app.state.job_handlers, KIND, crashing)
    started = int(time.time())
    await run_worker(app)
    (crashed,) = await release_jobs(app, m.id)
    assert crashed[0] == job[0]
    assert crashed[2:5] == ("PENDING", 1, "RuntimeError: worker died before commit")
    assert crashed[5] > started  # retried later, with backoff
    assert (await milestone(client, m, iid, m0))["status"] == "COMPLETED"
    assert await ledger_entries(client, m) == ledger_before
    assert await balance(client, m) == balance_before
    order = await escrow(client, m, iid)
    assert order["releasedAmount"] == "0.00" and order["heldAmount"] == "1000.00"
    assert await list_all(client, m, events_url(), type="milestone.released") == []
    await audit_clean(app)

    monkeypatch.setitem(app.state.job_handlers, KIND, real_handler)
    await db_execute(
        app, "UPDATE jobs SET due_at = :t WHERE id = :id", t=int(time.time()) - 1, id=job[0]
    )
    await run_worker(app)
    (done,) = await release_jobs(app, m.id)
    assert done[2:5] == ("DONE", 2, "RuntimeError: worker died before commit")
    ms = await milestone(client, m, iid, m0)
    assert ms["status"] == "RELEASED" and ms["releasedBy"] == "dispute_window"
    entries = await ledger_entries(client, m)
    assert kinds(entries) == ["FUND", "RELEASE", "SETTLE"]
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal("600.00")
    assert b["availableBalance"] == Decimal("400.00")
    await run_worker(app)
    assert await ledger_entries(client, m) == entries
    assert len(await list_all(client, m, events_url(), type="milestone.released")) == 1
    await audit_clean(app)


async def test_test_clock_is_404_for_a_live_key(client, app, make_merchant):
    live = await make_merchant(mode="live")
    iid = (await create_intent(client, live))["id"]
    path = advance_clock_url(iid)
    r = await client.post(path, json={"seconds": WINDOW}, headers=live.headers)
    assert_error(r, 404, "resource_missing", f"Unrecognized request URL (POST: {path})")
    rows = await db_execute(
        app, "SELECT clock_offset FROM conditional_payments WHERE payment_intent_id = :iid", iid=iid
    )
    assert [tuple(r) for r in rows] == [(0,)]
    # In test mode the same route works, and only for the owner.
    m, other = await make_merchant(), await make_merchant("Other Shop")
    test_iid = (await create_intent(client, m))["id"]
    path = advance_clock_url(test_iid)
    r = await client.post(path, json={"seconds": 60}, headers=other.headers)
    assert_error(
        r,
        403,
        "forbidden",
        "You do not have access to this payment intent",
        type_="authentication_error",
    )
    r = await client.post(path, json={"seconds": 60}, headers=m.headers)
    assert r.status_code == 200, r.text
    rows = await db_execute(
        app,
        "SELECT clock_offset FROM conditional_payments WHERE payment_intent_id = :iid",
        iid=test_iid,
    )
    assert [tuple(r) for r in rows] == [(60,)]


async def two_completed_milestones(
    client: httpx.AsyncClient, m: Any, payer: Any
) -> tuple[str, str, str]:
    iid = (await create_intent(client, m))["id"]
    m0 = await add_milestone(client, m, iid, 0, "300.00")
    m1 = await add_milestone(client, m, iid, 1, "700.00")
    assert (await pay_by_card(client, iid, payer=payer)).status_code == 200
    await complete(client, m, iid, m0)
    await complete(client, m, iid, m1)
    return iid, m0, m1


async def test_a_later_approval_waits_for_the_earlier_milestone(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    iid, m0, m1 = await two_completed_milestones(client, m, payer)

    r = await approve(client, m, iid, m1, payer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["data"]["status"] == "COMPLETED"
    await run_worker(app)
    assert (await milestone(client, m, iid, m1))["status"] == "COMPLETED"
    assert await ledger_entries(client, m, transactionType="RELEASE") == []
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal("1000.00") and b["availableBalance"] == 0

    r = await approve(client, m, iid, m0, payer)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "RELEASED"
    one, two = await milestone(client, m, iid, m0), await milestone(client, m, iid, m1)
    assert (one["status"], one["releasedBy"]) == ("RELEASED", "payer_approval")
    assert (two["status"], two["releasedBy"]) == ("RELEASED", "payer_approval")
    assert int(one["releasedAt"]) <= int(two["releasedAt"])
    # In index order: the ledger (newest first) and the events show 0 before 1.
    releases = await ledger_entries(client, m, transactionType="RELEASE")
    assert [legs[0]["referenceId"] for legs in transactions(releases).values()] == [m1, m0]
    events = await list_all(client, m, events_url(), type="milestone.released")
    assert [e["data"]["object"]["id"] for e in events] == [m1, m0]
    b = await balance(client, m)
    assert b["reservedBalance"] == 0 and b["availableBalance"] == Decimal("1000.00")
    assert (await escrow(client, m, iid))["orderStatus"] == "COMPLETED"
    r = await client.get(intent_url(iid), headers=m.headers)
    assert r.json()["status"] == "SETTLED"
    await audit_clean(app)


async def test_an_approved_milestone_waits_for_the_earlier_ones_window(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    iid, m0, m1 = await two_completed_milestones(client, m, payer)
    r = await approve(client, m, iid, m1, payer)
    assert r.status_code == 200 and r.json()["data"]["status"] == "COMPLETED", r.text
    # Half the window: nothing moves.
    r = await client.post(
        advance_clock_url(iid),
        json={"seconds": WINDOW // 2},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    assert [ms["status"] for ms in r.json()["data"]["milestones"]] == ["COMPLETED", "COMPLETED"]
    assert await ledger_entries(client, m, transactionType="RELEASE") == []
    # Milestone 0's window ends: 0 by the window, then 1 by its approval, in one pass.
    r = await client.post(
        advance_clock_url(iid),
        json={"seconds": WINDOW // 2},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    got = [(ms["status"], ms["releasedBy"]) for ms in r.json()["data"]["milestones"]]
    assert got == [("RELEASED", "dispute_window"), ("RELEASED", "payer_approval")]
    releases = await ledger_entries(client, m, transactionType="RELEASE")
    assert [legs[0]["referenceId"] for legs in transactions(releases).values()] == [m1, m0]
    await run_worker(app)
    assert await ledger_entries(client, m, transactionType="RELEASE") == releases
    b = await balance(client, m)
    assert b["reservedBalance"] == 0 and b["availableBalance"] == Decimal("1000.00")
    await audit_clean(app)
