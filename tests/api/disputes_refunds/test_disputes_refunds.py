"""Disputes and their resolution, refunds and cancellation (API.md 2)."""

from __future__ import annotations

from tests.support.driver import (
    assert_error,
    audit_clean,
    cancel_url,
    create_intent,
    dispute_url,
    dvp,
    escrow,
    intent_url,
    make_operator,
    milestone_url,
    milestones_url,
    pay_by_card,
    refund_url,
    resolve_url,
)


async def test_dispute_resolution_rules(client, app, make_merchant):
    m = await make_merchant()
    operator = await make_operator(app)
    # Planned before funding: autoRelease covers only milestones the payer saw.
    iid = await dvp(client, m, "MILESTONE_LOCKED", autoRelease=True, fund=False)
    for index, amount in ((0, "300.00"), (1, "400.00"), (2, "300.00")):
        r = await client.post(
            milestones_url(iid),
            json={"milestoneIndex": index, "amount": amount},
            headers=m.headers,
        )
        assert r.status_code == 201
    assert (await pay_by_card(client, iid)).status_code == 200
    mids = [x["id"] for x in (await escrow(client, m, iid))["milestones"]]
    r = await client.post(
        milestone_url(iid, mids[0], "complete"),
        json={"completedBy": "dev"},
        headers=m.headers,
    )
    assert r.json()["data"]["status"] == "RELEASED"
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "BUYER_WON"},
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_status", "No open dispute for this order")
    r = await client.post(
        dispute_url(iid),
        json={"reason": "late", "raisedBy": "payer"},
        headers=m.headers,
    )
    assert r.status_code == 200
    r = await client.post(
        milestone_url(iid, mids[1], "complete"),
        json={"completedBy": "dev"},
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_status", "Cannot complete a milestone while a dispute is open")
    r = await client.post(refund_url(iid), json={}, headers=m.headers)
    assert_error(
        r, 400, "invalid_status", "Cannot refund while a dispute is open; resolve the dispute"
    )
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "MERCHANT_WON"},
        headers=m.headers,
    )
    assert_error(
        r,
        403,
        "forbidden",
        "Only an operator can resolve a dispute in the merchant's favour",
        type_="authentication_error",
        param="resolution",
    )
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "PARTIAL_REFUND", "refundAmount": "700.01"},
        headers=operator,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "refundAmount exceeds the held amount of 700.00",
        param="refundAmount",
    )
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "MERCHANT_WON"},
        headers=operator,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["resolution"] == "MERCHANT_WON"
    order = await escrow(client, m, iid)
    assert order["orderStatus"] == "PENDING" and order["milestones"][0]["status"] == "RELEASED"
    # Dismissed: milestones resume.
    r = await client.post(
        milestone_url(iid, mids[1], "complete"),
        json={"completedBy": "dev"},
        headers=m.headers,
    )
    assert r.json()["data"]["status"] == "RELEASED"
    r = await client.post(
        dispute_url(iid),
        json={"reason": "again", "raisedBy": "payer"},
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_request", "Dispute already raised for this order")
    await audit_clean(app)


async def test_merchant_cannot_release_to_itself_with_a_partial_refund(client, app, make_merchant):
    """PARTIAL_REFUND releases the rest to the merchant, so only an operator may rule
    it: with a tiny refundAmount a merchant would otherwise raise a dispute on its own
    time-locked order and take the money before the lock, proof or approval."""
    m = await make_merchant()
    iid = await dvp(client, m, "TIME_LOCKED", metadata={"timeLockUntil": "4102444800"})
    r = await client.post(
        dispute_url(iid),
        json={"reason": "x", "raisedBy": "merchant"},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    before = await escrow(client, m, iid)
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "PARTIAL_REFUND", "refundAmount": "0.000001"},
        headers=m.headers,
    )
    assert_error(
        r,
        403,
        "forbidden",
        "Only an operator can resolve a dispute with PARTIAL_REFUND: "
        "it releases the rest of the held money to the merchant",
        type_="authentication_error",
        param="resolution",
    )
    after = await escrow(client, m, iid)
    assert after == before
    assert after["orderStatus"] == "DISPUTED" and after["releasedAmount"] == "0.00"
    # Conceding in full stays the merchant's right.
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "BUYER_WON"},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    order = await escrow(client, m, iid)
    assert order["refundedAmount"] == "1000.00" and order["releasedAmount"] == "0.00"
    await audit_clean(app)


async def test_partial_refund_resolution_splits_held_money(client, app, make_merchant):
    m = await make_merchant()
    operator = await make_operator(app)
    iid = await dvp(client, m)
    await client.post(
        dispute_url(iid),
        json={"reason": "damaged", "raisedBy": "payer"},
        headers=m.headers,
    )
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "PARTIAL_REFUND", "refundAmount": "250.50"},
        headers=operator,
    )
    assert r.status_code == 200, r.text
    order = await escrow(client, m, iid)
    assert order["refundedAmount"] == "250.50" and order["releasedAmount"] == "749.50"
    assert order["orderStatus"] == "COMPLETED"
    r = await client.post(
        dispute_url(iid),
        json={"reason": "x", "raisedBy": "y"},
        headers=m.headers,
    )
    assert_error(r, 400, "invalid_status", "Cannot raise dispute: order is already completed")
    await audit_clean(app)


async def test_refunds_partial_full_and_milestones_cancelled(client, app, make_merchant):
    m = await make_merchant()
    # Planned before funding: autoRelease covers only milestones the payer saw.
    iid = await dvp(client, m, "MILESTONE_LOCKED", autoRelease=True, fund=False)
    for index, amount in ((0, "300.00"), (1, "400.00"), (2, "200.00")):
        await client.post(
            milestones_url(iid),
            json={"milestoneIndex": index, "amount": amount},
            headers=m.headers,
        )
    assert (await pay_by_card(client, iid)).status_code == 200
    mids = [x["id"] for x in (await escrow(client, m, iid))["milestones"]]
    await client.post(
        milestone_url(iid, mids[0], "complete"),
        json={"completedBy": "dev"},
        headers=m.headers,
    )
    # 700 held; 100 of it is not covered by milestones and goes first.
    r = await client.post(refund_url(iid), json={"amount": "700.01"}, headers=m.headers)
    assert_error(
        r, 400, "invalid_request", "Refund amount exceeds the held amount of 700.00", param="amount"
    )
    r = await client.post(refund_url(iid), json={"amount": "100.00"}, headers=m.headers)
    assert r.status_code == 200, r.text
    assert r.json()["object"] == "refund" and r.json()["amount"] == "100.00"
    statuses = [x["status"] for x in (await escrow(client, m, iid))["milestones"]]
    assert statuses == ["RELEASED", "PENDING", "PENDING"]
    r = await client.post(refund_url(iid), json={"amount": "0.01"}, headers=m.headers)
    assert r.status_code == 200
    order = await escrow(client, m, iid)
    assert [x["status"] for x in order["milestones"]] == ["RELEASED", "PENDING", "CANCELLED"]
    r = await client.post(refund_url(iid), headers=m.headers)
    assert r.status_code == 200 and r.json()["amount"] == "599.99"
    order = await escrow(client, m, iid)
    assert [x["status"] for x in order["milestones"]] == ["RELEASED", "CANCELLED", "CANCELLED"]
    assert order["heldAmount"] == "0.00" and order["orderStatus"] == "COMPLETED"
    r = await client.post(refund_url(iid), headers=m.headers)
    assert_error(r, 400, "invalid_status", "Nothing is held for this payment intent")
    r = await client.get(intent_url(iid), headers=m.headers)
    assert r.json()["status"] == "SETTLED"
    await audit_clean(app)


async def test_cancel_before_funding_only(client, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.post(cancel_url(iid), headers=m.headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELED"
    assert (await escrow(client, m, iid))["orderStatus"] == "CANCELLED"
    r = await pay_by_card(client, iid)
    assert_error(
        r, 400, "invalid_state_transition", "Cannot transition from CANCELED to PROCESSING"
    )
    funded = await dvp(client, m)
    r = await client.post(cancel_url(funded), headers=m.headers)
    assert_error(
        r, 400, "invalid_request", "Cannot cancel a funded payment intent; refund it instead"
    )
