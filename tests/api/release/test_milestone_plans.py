"""The seed's 30/40/30 plan on a 1000.00 USDC intent, funded by card, completed and
released milestone by milestone through each release path; balances exact."""

from __future__ import annotations

from decimal import Decimal

from eth_account import Account

from tests.support.driver import (
    advance_clock_url,
    assert_error,
    audit_clean,
    balance,
    create_intent,
    escrow,
    get_intent,
    intent_url,
    milestone_url,
    milestones_url,
    pay_by_card,
    post_complete,
    run_worker,
    sign,
)

PLAN = [
    (0, "Project start", "300.00", 30),
    (1, "Mid-point", "400.00", 40),
    (2, "Final delivery", "300.00", 30),
]


async def make_plan(client, m, intent_id):
    ids = []
    for index, description, amount, pct in PLAN:
        r = await client.post(
            milestones_url(intent_id),
            json={
                "milestoneIndex": index,
                "description": description,
                "amount": amount,
                "percentage": pct,
            },
            headers=m.headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def test_auto_release_plan_end_to_end(client, app, make_merchant):
    m = await make_merchant()
    intent = await create_intent(client, m, autoRelease=True)
    iid = intent["id"]
    ids = await make_plan(client, m, iid)
    r = await pay_by_card(client, iid)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED"
    assert (await get_intent(client, m, iid))["data"]["fiatPaymentStatus"] == "succeeded"
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal("1000.00")
    order = await escrow(client, m, iid)
    assert order["heldAmount"] == "1000.00" and order["fundedAt"] is not None

    released = Decimal("0")
    for mid, (_, _, amount, _) in zip(ids, PLAN, strict=True):
        r = await post_complete(client, m, iid, mid)
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "milestone" and r.json()["status"] == "completed"
        assert r.json()["data"]["status"] == "RELEASED"
        released += Decimal(amount)
        b = await balance(client, m)
        assert b["reservedBalance"] == Decimal("1000.00") - released
        assert b["availableBalance"] == released  # settlement delay 0 in tests
        await audit_clean(app)

    order = await escrow(client, m, iid)
    assert order["orderStatus"] == "COMPLETED"
    assert order["releasedAmount"] == "1000.00" and order["heldAmount"] == "0.00"
    r = await client.get(intent_url(iid), headers=m.headers)
    assert r.json()["status"] == "SETTLED"
    assert r.json()["data"]["settlementStatus"] == "COMPLETED"


async def test_out_of_order_completion_refused(client, app, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    ids = await make_plan(client, m, iid)
    r = await post_complete(client, m, iid, ids[0])
    assert_error(r, 400, "invalid_status", "Conditional payment is not funded yet")
    assert (await pay_by_card(client, iid)).status_code == 200
    r = await post_complete(client, m, iid, ids[1])
    assert_error(r, 400, "invalid_request", "Previous milestone (index 0) must be completed first")
    assert (await post_complete(client, m, iid, ids[0])).status_code == 200
    r = await post_complete(client, m, iid, ids[0])
    assert_error(r, 400, "invalid_request", "Milestone already completed")
    r = await post_complete(client, m, iid, "milestone_doesnotexist")
    assert_error(r, 404, "resource_missing", "Milestone not found")


async def test_payer_approval_and_dispute_window_paths(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    iid = (await create_intent(client, m))["id"]
    ids = await make_plan(client, m, iid)
    assert (await pay_by_card(client, iid, payer=payer)).status_code == 200
    order = await escrow(client, m, iid)
    assert order["buyerAddress"] == payer.address

    # Milestone 0: completed, then approved by the payer -> released.
    assert (await post_complete(client, m, iid, ids[0])).status_code == 200
    ms = (await client.get(milestone_url(iid, ids[0]), headers=m.headers)).json()["data"]
    assert ms["status"] == "COMPLETED"
    stranger = Account.create()
    r = await client.post(
        milestone_url(iid, ids[0], "approve"),
        json={"signature": sign(ms["approvalTypedData"], stranger)},
        headers=m.headers,
    )
    assert_error(r, 400, "signature_verification_failed", "Signature verification failed")
    assert (await escrow(client, m, iid))["releasedAmount"] == "0.00"
    r = await client.post(
        milestone_url(iid, ids[0], "approve"),
        json={"signature": sign(ms["approvalTypedData"], payer)},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "RELEASED"
    assert r.json()["data"]["releasedBy"] == "payer_approval"
    assert (await escrow(client, m, iid))["releasedAmount"] == "300.00"
    r = await client.post(
        milestone_url(iid, ids[0], "approve"),
        json={"signature": sign(ms["approvalTypedData"], payer)},
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_request", "Milestone already released")

    # Milestone 1: completed; the worker does nothing before the window ends.
    assert (await post_complete(client, m, iid, ids[1])).status_code == 200
    await run_worker(app)
    assert (await escrow(client, m, iid))["releasedAmount"] == "300.00"
    r = await client.post(
        advance_clock_url(iid),
        json={"seconds": 604_800},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    order = r.json()["data"]
    assert order["releasedAmount"] == "700.00"
    assert order["milestones"][1]["status"] == "RELEASED"
    assert order["milestones"][1]["releasedBy"] == "dispute_window"
    assert order["milestones"][2]["status"] == "PENDING"
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal("300.00") and b["availableBalance"] == Decimal("700.00")
    await audit_clean(app)
