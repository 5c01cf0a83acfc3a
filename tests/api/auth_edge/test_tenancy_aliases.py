"""Tenancy on the route spellings test_tenancy.py does not walk: the
/conditional-payment approve and dispute/resolve aliases, the /api/v1 prefix, and
GET /events/:id. Another merchant's key gets the documented answer and changes
nothing; the owner's key works on the aliases."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from tests.support.driver import (
    API_ALIAS,
    AUTH,
    DISPUTE,
    FORBIDDEN,
    ORDER_ALIAS,
    PREFIXES,
    approve_url,
    assert_error,
    audit_clean,
    balance,
    cancel_url,
    deliver,
    dispute_url,
    dvp,
    escrow,
    event_url,
    events_url,
    intent_url,
    ledger_entries,
    list_all,
    milestone_url,
    milestones_url,
    post_milestone,
    refund_url,
    resolve_url,
    sign,
)


async def snapshot(client, m, iids: list[str]) -> dict[str, Any]:
    intents = {}
    for iid in iids:
        r = await client.get(intent_url(iid), headers=m.headers)
        assert r.status_code == 200, r.text
        intents[iid] = (r.json(), await escrow(client, m, iid))
    return {
        "intents": intents,
        "events": [e["id"] for e in await list_all(client, m, events_url())],
        "ledger": [e["id"] for e in await ledger_entries(client, m)],
        "balance": await balance(client, m),
    }


@pytest.fixture
async def victim(client, make_merchant):
    """Merchant A with a delivered, disputed order (payer known, approval signed by the
    payer before the dispute) and a milestone order with one milestone."""
    a = await make_merchant(name="Victim Ltd")
    payer = Account.create()
    delivered = await dvp(client, a, payer=payer)
    typed = (await deliver(client, a, delivered))["approvalTypedData"]
    signature = sign(typed, payer)
    r = await client.post(dispute_url(delivered), json=DISPUTE, headers=a.headers)
    assert r.status_code == 200, r.text
    milestone_order = await dvp(client, a, "MILESTONE_LOCKED")
    r = await post_milestone(client, a, milestone_order, {"milestoneIndex": 0, "amount": "300.00"})
    assert r.status_code == 201, r.text
    return a, delivered, signature, milestone_order, r.json()["id"]


async def test_alias_and_api_v1_routes_forbid_another_merchant(client, app, make_merchant, victim):
    """Every POST spelling below answers merchant B 403 forbidden with the documented
    message, shows nothing of A's objects, and leaves A's orders, events and money as
    they were."""
    a, delivered, signature, milestone_order, mid = victim
    b = await make_merchant(name="Intruder Inc")
    before = await snapshot(client, a, [delivered, milestone_order])
    b_before = await snapshot(client, b, [])
    d, mo = delivered, milestone_order
    attempts = [
        (approve_url(d, spelling=ORDER_ALIAS), {"signature": signature}),
        (resolve_url(d, spelling=ORDER_ALIAS), {"resolution": "BUYER_WON"}),
        (
            approve_url(d, spelling=ORDER_ALIAS, prefix=API_ALIAS),
            {"signature": signature},
        ),
        (
            resolve_url(d, spelling=ORDER_ALIAS, prefix=API_ALIAS),
            {"resolution": "BUYER_WON"},
        ),
        (approve_url(d, prefix=API_ALIAS), {"signature": signature}),
        (resolve_url(d, prefix=API_ALIAS), {"resolution": "BUYER_WON"}),
        (milestones_url(mo, prefix=API_ALIAS), {"milestoneIndex": 1, "amount": "100.00"}),
        (milestone_url(mo, mid, "complete", prefix=API_ALIAS), {"completedBy": "intruder"}),
        (dispute_url(mo, prefix=API_ALIAS), DISPUTE),
        (dispute_url(mo, spelling=ORDER_ALIAS, prefix=API_ALIAS), DISPUTE),
        (refund_url(mo, prefix=API_ALIAS), {"amount": "1.00"}),
        (cancel_url(mo, prefix=API_ALIAS), None),
    ]
    for path, body in attempts:
        r = await client.post(path, json=body, headers=b.headers)
        err = assert_error(r, 403, "forbidden", FORBIDDEN, type_=AUTH)
        assert set(err) <= {"code", "message", "type", "param"}, path
        for secret in (delivered, milestone_order, mid, "Victim"):
            assert secret not in r.text, (path, secret)
    after = await snapshot(client, a, [delivered, milestone_order])
    assert after == before
    order = after["intents"][delivered][1]
    assert order["orderStatus"] == "DISPUTED" and order["heldAmount"] == "1000.00"
    assert after["intents"][milestone_order][1]["milestones"][0]["status"] == "PENDING"
    assert await snapshot(client, b, []) == b_before
    await audit_clean(app)


async def test_another_merchants_event_is_not_found(client, make_merchant, victim):
    """GET /events/:id of another merchant's event is the documented 404 "Event not
    found" (param eventId), the same answer as an unknown id: the event's existence is
    not revealed; the owner reads it."""
    a, delivered, *_ = victim
    b = await make_merchant(name="Intruder Inc")
    mine = await list_all(client, a, events_url())
    assert {"dispute.raised", "delivery_proof.submitted"} <= {e["type"] for e in mine}
    for event in mine[:3]:
        for prefix in PREFIXES:
            r = await client.get(event_url(event["id"], prefix=prefix), headers=b.headers)
            err = assert_error(r, 404, "resource_missing", "Event not found", param="eventId")
            assert set(err) == {"code", "message", "type", "param"}
            assert delivered not in r.text
            r = await client.get(event_url(event["id"], prefix=prefix), headers=a.headers)
            assert r.status_code == 200 and r.json() == event
    other = await client.get(event_url(mine[0]["id"]), headers=b.headers)
    unknown = await client.get(event_url("evt_doesnotexist"), headers=b.headers)
    assert other.json() == unknown.json()  # indistinguishable from an unknown id
    assert await list_all(client, b, events_url()) == []


async def test_owner_uses_the_conditional_payment_approve_alias(client, app, make_merchant):
    """POST /v1/.../conditional-payment/approve with the payer's signature releases
    everything held, like /escrow/approve."""
    m = await make_merchant()
    payer = Account.create()
    iid = await dvp(client, m, payer=payer)
    typed = (await deliver(client, m, iid))["approvalTypedData"]
    r = await client.post(
        approve_url(iid, spelling=ORDER_ALIAS),
        json={"signature": sign(typed, payer)},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "conditional_payment"
    assert body["data"]["orderStatus"] == "COMPLETED"
    assert body["data"]["releasedAmount"] == "1000.00" and body["data"]["heldAmount"] == "0.00"
    # GET .../escrow names it "escrow_order"; everything else "conditional_payment".
    assert body == {
        "id": body["id"],
        "object": "conditional_payment",
        "data": {**await escrow(client, m, iid), "object": "conditional_payment"},
    }
    released = await list_all(client, m, events_url(), type="escrow_order.released")
    assert [e["data"]["object"]["paymentIntentId"] for e in released] == [iid]
    await audit_clean(app)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_owner_uses_the_conditional_payment_resolve_alias(client, app, make_merchant, prefix):
    """POST .../conditional-payment/dispute/resolve with BUYER_WON by the owner refunds
    everything held and closes the dispute."""
    m = await make_merchant()
    iid = await dvp(client, m)
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    assert r.status_code == 200, r.text
    dispute_id = r.json()["id"]
    r = await client.post(
        resolve_url(iid, spelling=ORDER_ALIAS, prefix=prefix),
        json={"resolution": "BUYER_WON"},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == dispute_id and body["object"] == "dispute"
    assert body["status"] == "resolved"
    assert body["data"]["resolution"] == "BUYER_WON" and body["data"]["status"] == "RESOLVED"
    order = await escrow(client, m, iid)
    assert order["orderStatus"] == "CANCELLED"
    assert order["refundedAmount"] == "1000.00" and order["heldAmount"] == "0.00"
    assert order["disputeResolution"] == "BUYER_WON"
    await audit_clean(app)


@pytest.mark.parametrize(
    "body",
    [
        {"resolution": "MERCHANT_WON"},
        {"resolution": "PARTIAL_REFUND", "refundAmount": "1.00"},
        {"resolution": "BUYER_WON"},
    ],
)
async def test_foreign_resolve_is_the_ownership_403_whatever_the_resolution(
    client, make_merchant, body
):
    """Ownership is checked before the resolution rule: another merchant learns only
    that it has no access, never which resolutions the owner could choose."""
    owner, other = await make_merchant(), await make_merchant()
    iid = await dvp(client, owner)
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=owner.headers)
    assert r.status_code == 200, r.text
    before = await escrow(client, owner, iid)
    r = await client.post(resolve_url(iid), json=body, headers=other.headers)
    assert_error(r, 403, "forbidden", FORBIDDEN, type_=AUTH)
    assert await escrow(client, owner, iid) == before
