"""Delivery proof, payer approval, the delivery deadline and time locks (API.md 2)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from eth_account import Account

from tests.support.driver import (
    DAY,
    ORDER_ALIAS,
    PROOF_WITH_URI,
    advance,
    approve_url,
    assert_error,
    audit_clean,
    balance,
    create_intent,
    delivery_proof_url,
    dispute_url,
    dvp,
    escrow,
    events_url,
    intent_url,
    run_worker,
    sign,
)


@pytest.mark.parametrize("spelling", ["escrow", "conditional-payment"])
async def test_delivery_proof_auto_release(client, app, make_merchant, spelling):
    m = await make_merchant()
    iid = await dvp(client, m, "AUTO_RELEASE")
    r = await client.post(
        delivery_proof_url(iid, spelling=spelling),
        json=PROOF_WITH_URI,
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["object"] == "delivery_proof"
        and body["data"]["proofHash"] == PROOF_WITH_URI["proofHash"]
    )
    order = await escrow(client, m, iid)
    assert order["orderStatus"] == "COMPLETED"
    assert order["actualDeliveryHash"] == PROOF_WITH_URI["proofHash"]
    assert order["releasedAmount"] == "1000.00" and order["heldAmount"] == "0.00"
    r = await client.post(
        delivery_proof_url(iid, spelling=spelling),
        json=PROOF_WITH_URI,
        headers=m.headers,
    )
    assert_error(
        r,
        400,
        "invalid_status",
        "Cannot submit delivery proof: order status is COMPLETED, must be PENDING",
    )
    await audit_clean(app)


async def test_delivery_proof_rules(client, make_merchant):
    m = await make_merchant()
    unfunded = (await create_intent(client, m, metadata={"releaseType": "DELIVERY_PROOF"}))["id"]
    r = await client.post(
        delivery_proof_url(unfunded),
        json=PROOF_WITH_URI,
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_status", "Conditional payment is not funded yet")
    milestone = await dvp(client, m, "MILESTONE_LOCKED")
    r = await client.post(
        delivery_proof_url(milestone),
        json=PROOF_WITH_URI,
        headers=m.headers,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "Cannot submit delivery proof for order with release type: MILESTONE_LOCKED",
    )
    iid = await dvp(client, m)
    bad = dict(PROOF_WITH_URI, proofHash="0x1234")
    r = await client.post(delivery_proof_url(iid), json=bad, headers=m.headers)
    assert_error(
        r, 400, "invalid_request", "proofHash must be a valid bytes32 hex string", param="proofHash"
    )
    r = await client.post(delivery_proof_url(iid), json=PROOF_WITH_URI, headers=m.headers)
    assert r.status_code == 200
    r = await client.post(delivery_proof_url(iid), json=PROOF_WITH_URI, headers=m.headers)
    assert_error(
        r,
        400,
        "invalid_status",
        "Cannot submit delivery proof: order status is DELIVERED, must be PENDING",
    )


async def test_delivery_payer_approval_and_window(client, app, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    iid = await dvp(client, m, payer=payer)
    await client.post(delivery_proof_url(iid), json=PROOF_WITH_URI, headers=m.headers)
    order = await escrow(client, m, iid)
    assert order["orderStatus"] == "DELIVERED" and order["heldAmount"] == "1000.00"
    typed = order["approvalTypedData"]
    r = await client.post(
        approve_url(iid),
        json={"signature": sign(typed, Account.create())},
        headers=m.headers,
    )
    assert_error(r, 400, "signature_verification_failed", "Signature verification failed")
    r = await client.post(
        approve_url(iid),
        json={"signature": sign(typed, payer)},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["orderStatus"] == "COMPLETED"
    assert r.json()["data"]["releasedAmount"] == "1000.00"

    # Without approval: released by the worker when the dispute window passes.
    iid2 = await dvp(client, m)
    await client.post(delivery_proof_url(iid2), json=PROOF_WITH_URI, headers=m.headers)
    order = await advance(client, m, iid2, 7 * DAY - 60)
    assert order["orderStatus"] == "DELIVERED"
    order = await advance(client, m, iid2, 120)
    assert order["orderStatus"] == "COMPLETED" and order["releasedAmount"] == "1000.00"
    r = await client.get(intent_url(iid2), headers=m.headers)
    assert r.json()["status"] == "SETTLED"
    await audit_clean(app)


async def test_no_proof_by_deadline_refunds_payer(client, app, make_merchant):
    m = await make_merchant()
    iid = await dvp(client, m, deliveryPeriod=3600)
    order = await advance(client, m, iid, 3601)
    assert order["orderStatus"] == "CANCELLED"
    assert order["refundedAmount"] == "1000.00" and order["heldAmount"] == "0.00"
    b = await balance(client, m)
    assert b["reservedBalance"] == Decimal("0")
    r = await client.get(f"{events_url()}?type=refund.created", headers=m.headers)
    assert r.json()["data"][0]["data"]["object"]["paymentIntentId"] == iid
    await audit_clean(app)


async def test_time_lock_releases_at_time_and_past_value_at_funding(client, app, make_merchant):
    m = await make_merchant()
    until = int(time.time()) + 3 * DAY
    iid = await dvp(client, m, "TIME_LOCKED", metadata={"timeLockUntil": str(until)})
    order = await escrow(client, m, iid)
    assert order["timeLockUntil"] == str(until) and order["heldAmount"] == "1000.00"
    await run_worker(app)
    assert (await escrow(client, m, iid))["heldAmount"] == "1000.00"
    order = await advance(client, m, iid, 3 * DAY + 5)
    assert order["orderStatus"] == "COMPLETED" and order["releasedAmount"] == "1000.00"
    r = await client.get(f"{events_url()}?type=time_lock.released", headers=m.headers)
    assert [e["data"]["object"]["paymentIntentId"] for e in r.json()["data"]] == [iid]

    past = await dvp(client, m, "TIME_LOCKED", metadata={"timeLockUntil": "1000"})
    assert (await escrow(client, m, past))["releasedAmount"] == "1000.00"
    await audit_clean(app)


async def test_dispute_freezes_time_lock_and_buyer_wins_on_timeout(client, app, make_merchant):
    m = await make_merchant()
    until = int(time.time()) + DAY
    iid = await dvp(client, m, "TIME_LOCKED", metadata={"timeLockUntil": str(until)})
    r = await client.post(
        dispute_url(iid, spelling=ORDER_ALIAS),
        json={
            "reason": "Not as described",
            "raisedBy": "0x" + "ef" * 20,
            "disputeWindow": "259200",
        },
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "dispute" and r.json()["status"] == "raised"
    r = await client.post(
        dispute_url(iid),
        json={"reason": "again", "raisedBy": "x"},
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_request", "Dispute already raised for this order")
    order = await advance(client, m, iid, DAY + 10)  # lock passes while disputed
    assert order["orderStatus"] == "DISPUTED" and order["releasedAmount"] == "0.00"
    order = await advance(client, m, iid, 2 * DAY)  # window (3 days) ends unresolved
    assert order["orderStatus"] == "CANCELLED"
    assert order["refundedAmount"] == "1000.00" and order["disputeResolution"] == "BUYER_WON"
    await audit_clean(app)
