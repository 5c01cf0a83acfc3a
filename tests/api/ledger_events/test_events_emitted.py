"""Events read back with GET /v1/events (docs/api-guide.md, Events): the right type
and object id, exactly once, written in the same transaction as the change (a fault
after the event was written leaves neither), and none for a refused request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from eth_account import Account

from tests.support.driver import (
    DISPUTE,
    PROOF,
    approve_url,
    assert_error,
    audit_clean,
    cancel_url,
    delivery_proof_url,
    delivery_service,
    dispute_url,
    disputes_service,
    dvp,
    escrow,
    event_url,
    events,
    intent_url,
    intents_url,
    lifecycle,
    make_operator,
    milestone_url,
    milestones_url,
    pay_by_card,
    post_milestone,
    refund_url,
    resolve_url,
    sign,
)


async def new_events(client, m, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events written since `before` (a full event list), oldest first."""
    seen = {e["id"] for e in before}
    return [e for e in reversed(await events(client, m)) if e["id"] not in seen]


def only(evts: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    """The one event of this type: exactly once."""
    found = [e for e in evts if e["type"] == type_]
    assert len(found) == 1, (type_, [e["type"] for e in evts])
    return found[0]


async def assert_event_readable(client, m, event: dict[str, Any]) -> None:
    """The type filter and GET /events/:id agree with the list."""
    listed = await events(client, m, type=event["type"])
    assert event["id"] in [e["id"] for e in listed]
    r = await client.get(event_url(event["id"]), headers=m.headers)
    assert r.status_code == 200, r.text
    assert r.json() == event
    assert event["object"] == "event" and event["id"].startswith("evt_")
    assert event["livemode"] is False


# --- each event, once, with the right object -----------------------------------------------


async def test_delivery_proof_submitted(client, app, make_merchant):
    """A proof writes one delivery_proof.submitted whose object is the proof; no release."""
    m = await make_merchant()
    iid = await dvp(client, m)
    before = await events(client, m)
    r = await client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert r.status_code == 200, r.text
    proof = r.json()
    added = await new_events(client, m, before)
    assert [e["type"] for e in added] == ["delivery_proof.submitted"]
    event = added[0]
    assert event["data"]["object"]["id"] == proof["id"]
    assert event["data"]["object"] == proof["data"]
    assert event["data"]["object"]["paymentIntentId"] == iid
    await assert_event_readable(client, m, event)
    await audit_clean(app)


async def test_escrow_order_released_by_auto_release_proof(client, app, make_merchant):
    """AUTO_RELEASE: the proof and the release of everything held, one event each."""
    m = await make_merchant()
    iid = await dvp(client, m, "AUTO_RELEASE")
    order_id = (await escrow(client, m, iid))["id"]
    before = await events(client, m)
    r = await client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    proof_event = only(added, "delivery_proof.submitted")
    released = only(added, "escrow_order.released")
    assert added.index(proof_event) < added.index(released)
    assert proof_event["data"]["object"]["id"] == r.json()["id"]
    assert released["data"]["object"] == {
        "id": order_id,
        "object": "conditional_payment",
        "paymentIntentId": iid,
        "amount": "1000.00",
        "currency": "USDC",
        "reason": "delivery_proof",
    }
    assert (await escrow(client, m, iid))["releasedAmount"] == "1000.00"
    await assert_event_readable(client, m, released)
    await audit_clean(app)


async def test_escrow_order_released_by_payer_approval(client, app, make_merchant):
    """The payer's approval of a delivered order: one escrow_order.released."""
    m = await make_merchant()
    payer = Account.create()
    iid = await dvp(client, m, payer=payer)
    r = await client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert r.status_code == 200, r.text
    order = await escrow(client, m, iid)
    before = await events(client, m)
    r = await client.post(
        approve_url(iid),
        json={"signature": sign(order["approvalTypedData"], payer)},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    released = only(added, "escrow_order.released")
    assert released["data"]["object"]["id"] == order["id"]
    assert released["data"]["object"]["reason"] == "payer_approval"
    assert released["data"]["object"]["amount"] == "1000.00"
    assert "delivery_proof.submitted" not in [e["type"] for e in added]
    await audit_clean(app)


async def test_dispute_resolved_buyer_won(client, app, make_merchant):
    """BUYER_WON by the merchant: one dispute.resolved (the dispute as answered) and
    one refund.created; nothing released."""
    m = await make_merchant()
    iid = await dvp(client, m)
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    assert r.status_code == 200, r.text
    dispute_id = r.json()["id"]
    before = await events(client, m)
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "BUYER_WON"},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    resolved = only(added, "dispute.resolved")
    assert resolved["data"]["object"]["id"] == dispute_id
    assert resolved["data"]["object"] == r.json()["data"]
    obj = resolved["data"]["object"]
    assert obj["status"] == "RESOLVED" and obj["resolution"] == "BUYER_WON"
    assert obj["resolvedBy"] == "merchant" and obj["orderStatus"] == "CANCELLED"
    refund = only(added, "refund.created")
    assert refund["data"]["object"]["amount"] == "1000.00"
    assert "escrow_order.released" not in [e["type"] for e in added]
    await assert_event_readable(client, m, resolved)
    await audit_clean(app)


async def test_dispute_resolved_merchant_won_by_operator(client, app, make_merchant):
    """MERCHANT_WON by an operator: the event goes to the order's merchant, once, with
    one escrow_order.released (reason dispute_resolution)."""
    m = await make_merchant()
    operator = await make_operator(app)
    iid = await dvp(client, m)
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    dispute_id = r.json()["id"]
    before = await events(client, m)
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "MERCHANT_WON"},
        headers=operator,
    )
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    resolved = only(added, "dispute.resolved")
    assert resolved["data"]["object"]["id"] == dispute_id
    assert resolved["data"]["object"]["resolvedBy"] == "operator"
    released = only(added, "escrow_order.released")
    assert released["data"]["object"]["reason"] == "dispute_resolution"
    assert added.index(released) < added.index(resolved)
    await audit_clean(app)


async def test_milestone_cancelled_by_a_refund(client, app, make_merchant):
    """A refund that takes a milestone's money: one milestone.cancelled for that milestone
    only (highest index first), and none for the milestones that keep their money."""
    m = await make_merchant()
    iid = await dvp(client, m, "MILESTONE_LOCKED")
    mids = []
    for index, amount in enumerate(["300.00", "400.00", "200.00"]):
        r = await post_milestone(client, m, iid, {"milestoneIndex": index, "amount": amount})
        assert r.status_code == 201, r.text
        mids.append(r.json()["id"])
    before = await events(client, m)
    # 100.00 not covered by milestones goes first: nothing cancelled.
    r = await client.post(refund_url(iid), json={"amount": "100.00"}, headers=m.headers)
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    assert [e["type"] for e in added] == ["refund.created"]
    before = await events(client, m)
    r = await client.post(refund_url(iid), json={"amount": "0.01"}, headers=m.headers)
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    cancelled = only(added, "milestone.cancelled")
    assert cancelled["data"]["object"]["id"] == mids[2]
    assert cancelled["data"]["object"]["status"] == "CANCELLED"
    assert cancelled["data"]["object"]["paymentIntentId"] == iid
    only(added, "refund.created")
    await assert_event_readable(client, m, cancelled)
    assert len(await events(client, m, type="milestone.cancelled")) == 1
    await audit_clean(app)


async def test_milestone_cancelled_by_partial_refund_resolution(client, app, make_merchant):
    """PARTIAL_REFUND cancels every unreleased milestone: one event per milestone."""
    m = await make_merchant()
    operator = await make_operator(app)
    iid = await dvp(client, m, "MILESTONE_LOCKED")
    mids = []
    for index, amount in enumerate(["300.00", "400.00"]):
        r = await post_milestone(client, m, iid, {"milestoneIndex": index, "amount": amount})
        mids.append(r.json()["id"])
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    assert r.status_code == 200, r.text
    before = await events(client, m)
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "PARTIAL_REFUND", "refundAmount": "250.00"},
        headers=operator,
    )
    assert r.status_code == 200, r.text
    added = await new_events(client, m, before)
    cancelled = [e for e in added if e["type"] == "milestone.cancelled"]
    assert sorted(e["data"]["object"]["id"] for e in cancelled) == sorted(mids)
    only(added, "dispute.resolved")
    only(added, "escrow_order.released")
    await audit_clean(app)


# --- same transaction: a fault after the event leaves neither the event nor the change ----


@pytest.fixture
async def fragile_client(app):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def fail_after(monkeypatch, module: Any, event_type: str) -> list[str]:
    """Make `module.emit` write the event, then fail the request when it wrote
    `event_type`. Returns the ids of the events so written (never committed)."""
    real = module.emit
    written: list[str] = []

    def emit(session, **kw):
        event_id = real(session, **kw)
        if kw["type"] == event_type:
            written.append(event_id)
            raise RuntimeError("fault after the event was written")
        return event_id

    monkeypatch.setattr(module, "emit", emit)
    return written


async def state(client, m, iid):
    intent = (await client.get(intent_url(iid), headers=m.headers)).json()
    return intent, await escrow(client, m, iid), [e["id"] for e in await events(client, m)]


async def test_delivery_proof_event_rolls_back_with_the_proof(
    client, fragile_client, app, make_merchant, monkeypatch
):
    """delivery_proof.submitted is in the proof's transaction: a later fault keeps neither."""
    m = await make_merchant()
    iid = await dvp(client, m)
    before = await state(client, m, iid)
    written = fail_after(monkeypatch, delivery_service, "delivery_proof.submitted")
    r = await fragile_client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert_error(r, 500, "internal_error", type_="api_error")
    assert len(written) == 1
    monkeypatch.undo()
    assert await state(client, m, iid) == before
    r = await client.get(event_url(written[0]), headers=m.headers)
    assert_error(r, 404, "resource_missing", "Event not found")
    # Without the fault the same request succeeds and writes its one event.
    r = await client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert r.status_code == 200, r.text
    assert len(await events(client, m, type="delivery_proof.submitted")) == 1
    await audit_clean(app)


async def test_escrow_order_released_event_rolls_back_with_the_release(
    client, fragile_client, app, make_merchant, monkeypatch
):
    """escrow_order.released and the RELEASE posting commit together or not at all."""
    m = await make_merchant()
    iid = await dvp(client, m, "AUTO_RELEASE")
    before = await state(client, m, iid)
    written = fail_after(monkeypatch, lifecycle, "escrow_order.released")
    r = await fragile_client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert_error(r, 500, "internal_error", type_="api_error")
    assert len(written) == 1
    monkeypatch.undo()
    after = await state(client, m, iid)
    assert after == before
    assert after[1]["releasedAmount"] == "0.00" and after[1]["orderStatus"] == "PENDING"
    await audit_clean(app)


async def test_dispute_resolved_event_rolls_back_with_the_resolution(
    client, fragile_client, app, make_merchant, monkeypatch
):
    """dispute.resolved, the refund and its event commit together or not at all."""
    m = await make_merchant()
    iid = await dvp(client, m)
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    assert r.status_code == 200, r.text
    before = await state(client, m, iid)
    written = fail_after(monkeypatch, disputes_service, "dispute.resolved")
    r = await fragile_client.post(
        resolve_url(iid),
        json={"resolution": "BUYER_WON"},
        headers=m.headers,
    )
    assert_error(r, 500, "internal_error", type_="api_error")
    assert len(written) == 1
    monkeypatch.undo()
    after = await state(client, m, iid)
    assert after == before
    assert after[1]["orderStatus"] == "DISPUTED" and after[1]["refundedAmount"] == "0.00"
    await audit_clean(app)


async def test_milestone_cancelled_event_rolls_back_with_the_refund(
    client, fragile_client, app, make_merchant, monkeypatch
):
    """milestone.cancelled, the cancellation and the refund commit together or not at all."""
    m = await make_merchant()
    iid = await dvp(client, m, "MILESTONE_LOCKED")
    for index, amount in enumerate(["500.00", "500.00"]):
        r = await post_milestone(client, m, iid, {"milestoneIndex": index, "amount": amount})
        assert r.status_code == 201, r.text
    before = await state(client, m, iid)
    written = fail_after(monkeypatch, lifecycle, "milestone.cancelled")
    r = await fragile_client.post(refund_url(iid), json={"amount": "1.00"}, headers=m.headers)
    assert_error(r, 500, "internal_error", type_="api_error")
    assert len(written) == 1
    monkeypatch.undo()
    after = await state(client, m, iid)
    assert after == before
    assert [x["status"] for x in after[1]["milestones"]] == ["PENDING", "PENDING"]
    assert after[1]["refundedAmount"] == "0.00"
    await audit_clean(app)


# --- refused requests write no event ---------------------------------------------------------


async def test_refused_requests_emit_no_event(client, app, make_merchant):
    """Every request refused by a business rule or validation leaves the event list as it
    was (same ids, same count)."""
    m = await make_merchant()
    payer = Account.create()
    iid = await dvp(client, m, payer=payer, expectedDeliveryHash="0x" + "ab" * 32)
    mil = await dvp(client, m, "MILESTONE_LOCKED")
    r = await post_milestone(client, m, mil, {"milestoneIndex": 0, "amount": "600.00"})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    before = [e["id"] for e in await events(client, m)]
    refused = [
        (delivery_proof_url(iid), PROOF, 400),  # hash mismatch
        (approve_url(iid), {"signature": "0x" + "11" * 65}, 400),  # not delivered
        (resolve_url(iid), {"resolution": "BUYER_WON"}, 400),  # no dispute
        (dispute_url(iid), {"reason": "x"}, 400),  # raisedBy missing
        (refund_url(iid), {"amount": "1000.01"}, 400),  # more than held
        (cancel_url(iid), None, 400),  # funded
        (milestones_url(iid), {"milestoneIndex": 0, "amount": "1.00"}, 400),  # release type
        (milestones_url(mil), {"milestoneIndex": 1, "amount": "400.01"}, 400),  # total
        (milestone_url(mil, mid, "approve"), {"signature": "0x" + "11" * 65}, 400),
        (f"{milestones_url(mil)}/milestone_nope/complete", {"completedBy": "x"}, 404),
        (resolve_url(mil), {"resolution": "MERCHANT_WON"}, 403),
    ]
    for path, body, status in refused:
        r = await client.post(path, json=body, headers=m.headers)
        assert r.status_code == status, (path, r.text)
        after = [e["id"] for e in await events(client, m)]
        assert after == before, path
    r = await client.post(
        intents_url(),
        json={
            "amount": "0",
            "currency": "USDC",
            "type": "CONDITIONAL",
            "settlementMethod": "OFF_RAMP_MOCK",
            "settlementDestination": "x",
        },
        headers=m.headers,
    )
    assert r.status_code == 400
    r = await pay_by_card(client, iid)  # already paid
    assert r.status_code == 400
    assert [e["id"] for e in await events(client, m)] == before
    await audit_clean(app)
