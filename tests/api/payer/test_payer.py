"""The payer's side: the client secret that paying hands out, the payer's view and
actions through it (no merchant key), and item 3 of the payer issue: a milestone
added after funding is never released by the dispute window's silence alone."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account

from tests.support.driver import (
    AUTH,
    DECLINED_CARD_NUMBER,
    WINDOW,
    add_milestone,
    advance,
    approve,
    assert_error,
    audit_clean,
    complete,
    db_execute,
    deliver,
    dvp,
    escrow,
    events,
    intent_url,
    make_operator,
    milestone,
    operator_approve_url,
    pay_by_card,
    pay_for_secret,
    payer_approve,
    payer_dispute,
    payer_url,
    payer_view,
    planned,
    public_intent_url,
    sign,
)

SECRET_RE = r"^intent_[0-9a-f]{44}_secret_[0-9a-f]{48}$"


async def test_paying_hands_the_payer_a_client_secret_stored_only_hashed(client, app, merchant):
    iid = await dvp(client, merchant, "MILESTONE_LOCKED", fund=False)
    r = await pay_by_card(client, iid)
    secret = r.json()["clientSecret"]
    assert secret.startswith(iid + "_secret_")
    import re

    assert re.fullmatch(SECRET_RE, secret)
    rows = await db_execute(
        app, "select client_secret_hash from payment_intents where id = :i", i=iid
    )
    assert rows[0][0] == hashlib.sha256(secret.encode()).hexdigest()
    # The raw secret is nowhere in the database (not even in idempotency answers).
    for table in ("payment_intents", "events", "idempotency_records"):
        dump = await db_execute(app, f"select * from {table}")
        assert secret not in repr(dump), table
    # The merchant never sees it.
    merchant_view = (await client.get(intent_url(iid), headers=merchant.headers)).text
    assert secret not in merchant_view and "clientSecret" not in merchant_view


async def test_a_declined_card_hands_out_no_secret(client, merchant):
    iid = await dvp(client, merchant, "MILESTONE_LOCKED", fund=False)
    r = await pay_by_card(
        client,
        iid,
        card={"cardNumber": DECLINED_CARD_NUMBER, "expiry": "12/39", "cvv": "123", "name": "P"},
    )
    assert r.status_code == 400 and "clientSecret" not in r.text


async def test_the_payer_view_shows_progress_with_the_secret_only(client, merchant):
    iid, mids, secret = await planned(client, merchant, ["300.00", "700.00"])
    view = await payer_view(client, iid, secret)
    assert view["object"] == "payer_view" and view["id"] == iid
    assert view["intent"]["merchantName"] == "Acme Freelance"
    assert [m["status"] for m in view["order"]["milestones"]] == ["PENDING", "PENDING"]
    assert view["refunds"] == []
    by_header = await client.get(payer_url(iid), headers={"X-Client-Secret": secret})
    assert by_header.json() == view
    # absent: 401 authentication_required; wrong: 401 invalid_client_secret
    assert_error(
        await client.get(payer_url(iid)),
        401,
        "authentication_required",
        type_=AUTH,
        param="client_secret",
    )
    other = iid + "_secret_" + "0" * 48
    for wrong in (other, secret[:-1] + "x", iid):
        r = await client.get(payer_url(iid), params={"client_secret": wrong})
        assert_error(r, 401, "invalid_client_secret", type_=AUTH, param="client_secret")
    # another intent's secret opens nothing here
    iid2, _, secret2 = await planned(client, merchant, ["1000.00"])
    r = await client.get(payer_url(iid), params={"client_secret": secret2})
    assert_error(r, 401, "invalid_client_secret", type_=AUTH)
    # an unknown intent: 404
    unknown = "intent_" + "0" * 44
    assert_error(
        await client.get(payer_url(unknown), params={"client_secret": secret}),
        404,
        "resource_missing",
    )
    # an unpaid intent has no secret at all
    unpaid = await dvp(client, merchant, "MILESTONE_LOCKED", fund=False)
    r = await client.get(payer_url(unpaid), params={"client_secret": other})
    assert_error(r, 401, "invalid_client_secret", type_=AUTH)
    assert iid2


async def test_the_payer_approves_a_completed_milestone_with_the_secret(client, app, merchant):
    iid, (m0, m1), secret = await planned(client, merchant, ["300.00", "700.00"])
    await complete(client, merchant, iid, m0)
    # without the secret, or with a wrong one: 401 and nothing changes
    assert_error(
        await payer_approve(client, iid, m0, None), 401, "authentication_required", type_=AUTH
    )
    assert_error(
        await payer_approve(client, iid, m0, secret + "0"), 401, "invalid_client_secret", type_=AUTH
    )
    assert (await milestone(client, merchant, iid, m0))["status"] == "COMPLETED"
    # a pending milestone cannot be approved
    r = await payer_approve(client, iid, m1, secret)
    assert_error(r, 400, "invalid_status")
    r = await payer_approve(client, iid, m0, secret)
    assert r.status_code == 200, r.text
    ms = r.json()["order"]["milestones"]
    assert ms[0]["status"] == "RELEASED" and ms[0]["releasedBy"] == "payer_approval"
    assert r.json()["order"]["releasedAmount"] == "300.00"
    kinds = [e["type"] for e in await events(client, merchant)]
    assert "milestone.approved" in kinds and "milestone.released" in kinds
    await audit_clean(app)


async def test_the_payer_approves_a_delivery_with_the_secret(client, merchant):
    iid = await dvp(client, merchant, "DELIVERY_PROOF", fund=False)
    secret = await pay_for_secret(client, iid)
    r = await payer_approve(client, iid, None, secret)
    assert_error(r, 400, "invalid_status")  # nothing delivered yet
    await deliver(client, merchant, iid)
    assert_error(
        await payer_approve(client, iid, None, None), 401, "authentication_required", type_=AUTH
    )
    assert (await escrow(client, merchant, iid))["orderStatus"] == "DELIVERED"
    r = await payer_approve(client, iid, None, secret)
    assert r.status_code == 200, r.text
    assert r.json()["order"]["orderStatus"] == "COMPLETED"
    assert r.json()["order"]["releasedAmount"] == "1000.00"


async def test_the_payer_raises_a_dispute_with_a_reason(client, merchant):
    iid, (m0,), secret = await planned(client, merchant, ["1000.00"])
    await complete(client, merchant, iid, m0)
    assert_error(await payer_dispute(client, iid, None), 401, "authentication_required", type_=AUTH)
    assert (await escrow(client, merchant, iid))["orderStatus"] == "PENDING"
    r = await payer_dispute(client, iid, secret, "Milestone 0 was never delivered")
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    assert d["raisedBy"] == "payer" and d["reason"] == "Milestone 0 was never delivered"
    assert d["orderStatus"] == "DISPUTED"
    # the dispute freezes the window: nothing is released when it passes
    view = await payer_view(client, iid, secret)
    assert view["order"]["disputeRaisedBy"] == "payer"
    r = await payer_dispute(client, iid, secret)
    assert_error(r, 400, "invalid_request", "Dispute already raised for this order")


async def test_a_dispute_needs_a_reason(client, merchant):
    iid, _, secret = await planned(client, merchant, ["1000.00"])
    r = await client.post(payer_url(iid, "/dispute"), json={}, headers={"X-Client-Secret": secret})
    assert_error(r, 400, "invalid_request", param="reason")


# --- item 3: no release by silence for what the payer never saw ---------------------------


async def test_a_milestone_added_after_funding_is_not_released_by_the_window(client, app, merchant):
    iid, (m0,), secret = await planned(client, merchant, ["300.00"])
    late = await add_milestone(client, merchant, iid, 1, "500.00")  # after the payer paid
    later = await add_milestone(client, merchant, iid, 2, "200.00")
    for mid in (m0, late, later):
        await complete(client, merchant, iid, mid)
    order = await advance(client, merchant, iid, WINDOW * 10)
    statuses = [(m["milestoneIndex"], m["status"], m["releasedBy"]) for m in order["milestones"]]
    # milestone 0 (seen by the payer) by the window; 1 (added later) waits, and so does 2
    assert statuses == [
        (0, "RELEASED", "dispute_window"),
        (1, "COMPLETED", None),
        (2, "COMPLETED", None),
    ]
    # Approving 2 first is recorded but waits for 1 (strict order); the payer's
    # approval of 1 then releases both.
    r = await payer_approve(client, iid, later, secret)
    assert [m["status"] for m in r.json()["order"]["milestones"]][1:] == ["COMPLETED"] * 2
    r = await payer_approve(client, iid, late, secret)
    assert r.status_code == 200, r.text
    got = [(m["status"], m["releasedBy"]) for m in r.json()["order"]["milestones"]]
    assert got == [
        ("RELEASED", "dispute_window"),
        ("RELEASED", "payer_approval"),
        ("RELEASED", "payer_approval"),
    ]
    await audit_clean(app)


async def test_autorelease_does_not_release_a_milestone_added_after_funding(client, merchant):
    iid, (m0,), secret = await planned(client, merchant, ["300.00"], autoRelease=True)
    late = await add_milestone(client, merchant, iid, 1, "700.00")
    assert (await complete(client, merchant, iid, m0))["data"]["status"] == "RELEASED"
    assert (await complete(client, merchant, iid, late))["data"]["status"] == "COMPLETED"
    # the payer can always dispute it
    r = await payer_dispute(client, iid, secret, "I never agreed to milestone 1")
    assert r.status_code == 200, r.text


async def test_an_eip712_approval_releases_a_milestone_added_after_funding(client, merchant):
    payer = Account.create()
    iid = await dvp(client, merchant, "MILESTONE_LOCKED", payer=payer)
    late = await add_milestone(client, merchant, iid, 0, "400.00")
    await complete(client, merchant, iid, late)
    await advance(client, merchant, iid, WINDOW + 1)
    assert (await milestone(client, merchant, iid, late))["status"] == "COMPLETED"
    r = await approve(client, merchant, iid, late, payer)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "RELEASED"
    assert r.json()["data"]["releasedBy"] == "payer_approval"


async def test_an_operator_may_approve_a_milestone_added_after_funding(client, app, merchant):
    iid = await dvp(client, merchant, "MILESTONE_LOCKED")
    late = await add_milestone(client, merchant, iid, 0, "400.00")
    await complete(client, merchant, iid, late)
    # the merchant may not approve its own milestone this way
    r = await client.post(operator_approve_url(iid, late), headers=merchant.headers)
    assert_error(r, 403, "forbidden", type_=AUTH)
    operator = await make_operator(app)
    r = await client.post(operator_approve_url(iid, late), headers=operator)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "RELEASED"
    assert r.json()["data"]["releasedBy"] == "operator_approval"


@pytest.mark.parametrize("tail", ["/payer", "/approve", "/dispute"])
async def test_payer_routes_need_no_key_but_a_key_is_not_a_secret(client, merchant, tail):
    iid, _, _ = await planned(client, merchant, ["1000.00"])
    send = client.get if tail == "/payer" else client.post
    kwargs = {"json": {"reason": "x"}} if tail == "/dispute" else {}
    r = await send(public_intent_url(iid, tail), headers=merchant.headers, **kwargs)
    assert_error(r, 401, "authentication_required", type_=AUTH)


async def test_the_payers_wallet_confirm_hands_out_a_secret(client, settings, merchant):
    payer = Account.create()
    iid = await dvp(client, merchant, "MILESTONE_LOCKED", fund=False)
    typed = (await client.get(public_intent_url(iid))).json()["data"]["typedData"]
    body = {
        "signature": sign(typed, payer),
        "payerAddress": payer.address,
        "transactionHash": "0x" + "5a" * 32,
    }
    bad = await client.post(
        public_intent_url(iid, "/confirm"),
        json={**body, "signature": sign(typed, Account.create())},
    )
    assert_error(bad, 400, "signature_verification_failed")
    r = await client.post(public_intent_url(iid, "/confirm"), json=body)
    assert r.status_code == 200, r.text
    secret = r.json()["clientSecret"]
    assert r.json()["data"]["status"] == "SUCCEEDED"
    view = await payer_view(client, iid, secret)
    assert view["order"]["buyerAddress"] == payer.address
    # Confirming again is refused (paid once), and hands out nothing.
    again = await client.post(public_intent_url(iid, "/confirm"), json=body)
    assert again.status_code == 400 and "clientSecret" not in again.text
