"""From a hostile trial: capabilities that cannot be guessed, a transaction hash that
funds once, malleable signatures, ambiguous credentials and request bodies, input
echoed in errors. Each test fails on the code before the fix."""

from __future__ import annotations

import asyncio
import json
import re
import secrets

import pytest
from eth_account import Account

from tests.support.driver import (
    AUTH,
    DISPUTE,
    PROOF,
    WINDOW,
    add_milestone,
    advance_clock_url,
    approve_url,
    assert_error,
    balance,
    cancel_url,
    complete,
    confirm_url,
    create_intent,
    delivery_proof_url,
    dispute_url,
    dvp,
    escrow,
    event_url,
    get_intent,
    high_s,
    intent_body,
    intent_url,
    intents_url,
    ledger_entries,
    ledger_url,
    make_operator,
    milestone,
    milestone_url,
    milestones_url,
    order_url,
    pay_by_card,
    public_intent_url,
    refund_url,
    sign,
    transaction_hash_url,
    worker_jobs,
)

HIGH_S = "Signature verification failed: s value is too high (EIP-2)"


def new_tx() -> str:
    return "0x" + secrets.token_hex(32)


# --- ids: time-ordered, yet not guessable ------------------------------------------------


async def test_ids_carry_at_least_80_random_bits_after_the_time(client, make_merchant):
    m = await make_merchant()
    created = [await create_intent(client, m, type="DELIVERY_VS_PAYMENT") for _ in range(5)]
    ids = [c["id"] for c in created]
    assert ids == sorted(ids)  # still time-ordered: cursors rely on it
    for c in created:
        order_id = (await escrow(client, m, c["id"]))["id"]
        intent_tail = int(c["id"].removeprefix("intent_")[12:], 16)
        order_tail = int(order_id.removeprefix("conditional_payment_")[12:], 16)
        assert len(c["id"].removeprefix("intent_")) == 44
        # made in the same millisecond or not, the order's id is no neighbour of its intent's
        assert abs(order_tail - intent_tail) > 2**32, (c["id"], order_id)
    tails = [int(i.removeprefix("intent_")[12:], 16) for i in ids]
    assert len(set(tails)) == len(tails)


# --- a transaction hash funds once ----------------------------------------------------------


async def test_a_transaction_hash_funds_one_intent_of_one_merchant(client, app, make_merchant):
    m, other = await make_merchant(), await make_merchant("Other Shop")
    tx = new_tx()
    first = (await create_intent(client, m))["id"]
    r = await client.post(transaction_hash_url(first), json={"transactionHash": tx})
    assert r.status_code == 200, r.text
    assert (await get_intent(client, m, first))["status"] == "SUCCEEDED"
    before = await balance(client, other)
    for owner, iid in [
        (m, (await create_intent(client, m))["id"]),
        (other, (await create_intent(client, other))["id"]),
    ]:
        r = await client.post(
            transaction_hash_url(iid),
            json={"transactionHash": "0x" + tx[2:].upper()},
        )
        assert_error(
            r,
            400,
            "transaction_hash_used",
            "Transaction hash already funds another payment intent",
            param="transactionHash",
        )
        intent = await get_intent(client, owner, iid)
        assert intent["status"] == "INITIATED" and intent["data"]["transactionHash"] is None
        assert await ledger_entries(client, owner, paymentIntentId=iid) == []
    assert await balance(client, other) == before


async def test_confirm_with_a_used_hash_is_refused_and_changes_nothing(client, make_merchant):
    m = await make_merchant()
    tx = new_tx()
    first = (await create_intent(client, m))["id"]
    assert (
        await client.post(transaction_hash_url(first), json={"transactionHash": tx})
    ).status_code == 200
    intent = await create_intent(client, m)
    payer = Account.create()
    body = {
        "signature": sign(intent["data"]["typedData"], payer),
        "payerAddress": payer.address,
        "transactionHash": tx,
    }
    r = await client.post(confirm_url(intent["id"]), json=body, headers=m.headers)
    assert_error(r, 400, "transaction_hash_used", param="transactionHash")
    assert (await get_intent(client, m, intent["id"]))["status"] == "INITIATED"


# --- malleable signatures (EIP-2) -------------------------------------------------------


async def test_a_high_s_signature_is_refused_on_confirm(client, make_merchant):
    m = await make_merchant()
    intent = await create_intent(client, m)
    payer = Account.create()
    good = sign(intent["data"]["typedData"], payer)
    r = await client.post(
        confirm_url(intent["id"]),
        json={"signature": high_s(good), "payerAddress": payer.address},
        headers=m.headers,
    )
    assert_error(r, 400, "signature_verification_failed", HIGH_S, param="signature")
    assert (await get_intent(client, m, intent["id"]))["status"] == "INITIATED"
    r = await client.post(
        confirm_url(intent["id"]),
        json={"signature": good, "payerAddress": payer.address},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text


async def test_a_high_s_signature_is_refused_on_payer_approvals(client, make_merchant):
    m = await make_merchant()
    payer = Account.create()
    iid = (
        await create_intent(
            client, m, type="DELIVERY_VS_PAYMENT", metadata={"releaseType": "MILESTONE_LOCKED"}
        )
    )["id"]
    mid = await add_milestone(client, m, iid, 0, "300.00")
    assert (await pay_by_card(client, iid, payer=payer)).status_code == 200
    await complete(client, m, iid, mid)
    typed = (await milestone(client, m, iid, mid))["approvalTypedData"]
    good = sign(typed, payer)
    r = await client.post(
        milestone_url(iid, mid, "approve"), json={"signature": high_s(good)}, headers=m.headers
    )
    assert_error(r, 400, "signature_verification_failed", HIGH_S, param="signature")
    assert (await milestone(client, m, iid, mid))["status"] == "COMPLETED"
    r = await client.post(
        milestone_url(iid, mid, "approve"), json={"signature": good}, headers=m.headers
    )
    assert r.status_code == 200 and r.json()["data"]["status"] == "RELEASED"

    delivered = await dvp(client, m, payer=payer)
    r = await client.post(
        delivery_proof_url(delivered),
        json=PROOF,
        headers=m.headers,
    )
    assert r.status_code == 200
    typed = (await escrow(client, m, delivered))["approvalTypedData"]
    r = await client.post(
        approve_url(delivered),
        json={"signature": high_s(sign(typed, payer))},
        headers=m.headers,
    )
    assert_error(r, 400, "signature_verification_failed", HIGH_S, param="signature")
    assert (await escrow(client, m, delivered))["orderStatus"] == "DELIVERED"


# --- ambiguous credentials and bodies ----------------------------------------------------


async def test_two_api_keys_are_401(client, make_merchant):
    m, other = await make_merchant(), await make_merchant("Other")
    cases = [
        [("X-API-Key", m.key), ("X-API-Key", other.key)],
        [("X-API-Key", m.key), ("X-API-Key", m.key)],
        [("X-API-Key", m.key), ("Authorization", f"Bearer {other.key}")],
        [("Authorization", f"Bearer {m.key}"), ("Authorization", f"Bearer {m.key}")],
    ]
    for headers in cases:
        r = await client.get(intents_url(), headers=headers)
        assert_error(r, 401, "invalid_api_key", "Invalid API key", type_=AUTH)
    # The same key in both headers is one credential.
    r = await client.get(
        intents_url(), headers=[("X-API-Key", m.key), ("Authorization", f"Bearer {m.key}")]
    )
    assert r.status_code == 200


async def test_a_duplicate_json_key_is_400_naming_it(client, make_merchant):
    m = await make_merchant()
    # the last "amount" (99999.00) would win in most parsers: it must not count at all
    raw = '{"amount": "1.00", ' + json.dumps({**intent_body(), "amount": "99999.00"})[1:]
    r = await client.post(
        intents_url(), content=raw, headers={**m.headers, "Content-Type": "application/json"}
    )
    assert_error(r, 400, "duplicate_key", "Duplicate key in JSON object: amount", param="amount")
    assert (await client.get(intents_url(), headers=m.headers)).json()["data"] == []
    nested = '{"card": {"cvv": "123", "cvv": "999"}}'
    r = await client.post(
        public_intent_url("intent_x", "/payment"),
        content=nested,
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 400, "duplicate_key", "Duplicate key in JSON object: cvv", param="cvv")


@pytest.mark.parametrize("digits", [60_000])
async def test_an_error_never_echoes_more_than_a_short_prefix(client, make_merchant, digits):
    m = await make_merchant()
    iid = (
        await create_intent(
            client, m, type="DELIVERY_VS_PAYMENT", metadata={"releaseType": "MILESTONE_LOCKED"}
        )
    )["id"]
    raw = '{"milestoneIndex": 0, "amount": "300.00", "percentage": 0.%s}' % ("1" * digits)
    r = await client.post(
        milestones_url(iid), content=raw, headers={**m.headers, "Content-Type": "application/json"}
    )
    err = assert_error(r, 400, "invalid_request", param="percentage")
    assert err["message"] == (
        "percentage 0.11111111111111111111111111111111111111... does not match amount 300.00 "
        "of order amount 1000.00 (expected 30.00)"
    )
    long_key = "k" * 5000
    r = await client.post(intents_url(), json={**intent_body(), long_key: 1}, headers=m.headers)
    err = assert_error(r, 400, "invalid_request")
    assert len(r.text) < 400 and err["message"] == f"Received unknown parameter: {'k' * 40}..."
    r = await client.get("/v1/" + "x" * 5000, headers=m.headers)
    assert r.status_code == 404 and len(r.text) < 500


@pytest.mark.parametrize(
    "path",
    [
        event_url("evt_%00"),
        intent_url("intent_%00"),
        order_url("intent_%00"),
        public_intent_url("intent_%00"),
    ],
)
async def test_an_id_with_nul_is_a_404(client, make_merchant, path):
    """It cannot exist: answered as unknown, never queried (500 on PostgreSQL before)."""
    m = await make_merchant()
    r = await client.get(path, headers=m.headers)
    assert r.status_code == 404, r.text
    err = r.json()["error"]
    assert err["code"] == "resource_missing" and "\x00" not in err["message"]


async def test_an_incoming_request_id_is_honoured_when_well_formed(client, make_merchant):
    m = await make_merchant()
    r = await client.get(intents_url(), headers={**m.headers, "X-Request-Id": "trace-1234abcd"})
    assert r.headers["request-id"] == "trace-1234abcd"
    r = await client.get(intents_url(), headers={**m.headers, "X-Request-Id": "bad id\n"})
    assert re.fullmatch(r"req_[0-9a-f]{32}", r.headers["request-id"])


# --- keyless answers show only the public view ---------------------------------------


async def test_keyless_posts_answer_exactly_the_public_view(client, make_merchant):
    m = await make_merchant()
    secret_meta = {"customer": "Ada", "internalRef": "crm-7731"}
    card_intent = (await create_intent(client, m, metadata=secret_meta))["id"]
    r = await pay_by_card(client, card_intent)
    assert r.status_code == 200
    public = (await client.get(public_intent_url(card_intent))).json()
    paid = r.json()
    assert paid.pop("clientSecret").startswith(card_intent + "_secret_")  # the payer's, once
    assert paid == public
    for leaked in ("metadata", "settlementDestination", "merchantId", "signature"):
        assert leaked not in r.json()["data"], leaked
    assert "crm-7731" not in r.text

    hash_intent = (await create_intent(client, m, metadata=secret_meta))["id"]
    tx = new_tx()
    first = await client.post(transaction_hash_url(hash_intent), json={"transactionHash": tx})
    again = await client.post(transaction_hash_url(hash_intent), json={"transactionHash": tx})
    public = (await client.get(public_intent_url(hash_intent))).json()
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == public  # a resent hash learns nothing more
    assert "crm-7731" not in again.text and "merchantId" not in again.json()["data"]


# --- the test clock answers after every job that was due -----------------------------


async def test_advance_clock_answers_after_jobs_another_worker_holds(
    client, app, make_merchant, monkeypatch
):
    """A worker running beside the API claims some of the released milestones' jobs
    first (SKIP LOCKED): advance_clock must wait for them, not answer COMPLETED."""
    m = await make_merchant()
    plans = []
    for _ in range(8):
        iid = (
            await create_intent(
                client, m, type="DELIVERY_VS_PAYMENT", metadata={"releaseType": "MILESTONE_LOCKED"}
            )
        )["id"]
        mid = await add_milestone(client, m, iid, 0, "100.00")
        assert (await pay_by_card(client, iid)).status_code == 200
        await complete(client, m, iid, mid)
        plans.append(iid)
    real = app.state.job_handlers["milestone_release"]

    async def slow(session, settings, job):
        await asyncio.sleep(0.2)  # hold the claim: the test clock's own pass skips it
        await real(session, settings, job)

    monkeypatch.setitem(app.state.job_handlers, "milestone_release", slow)
    stop = asyncio.Event()

    async def other_worker() -> None:
        while not stop.is_set():
            factory, settings = app.state.session_factory, app.state.settings
            await worker_jobs.run_due(factory, settings, app.state.job_handlers)
            await asyncio.sleep(0.002)

    worker = asyncio.create_task(other_worker())
    try:
        answers = await asyncio.gather(
            *(
                client.post(advance_clock_url(iid), json={"seconds": WINDOW}, headers=m.headers)
                for iid in plans
            )
        )
    finally:
        stop.set()
        await worker
    for r in answers:
        assert r.status_code == 200, r.text
        order = r.json()["data"]
        assert order["milestones"][0]["status"] == "RELEASED", order["milestones"][0]
        assert order["heldAmount"] == "900.00"


# --- operators read what they rule on --------------------------------------------------


async def test_an_operator_reads_the_order_milestones_dispute_and_ledger(
    client, app, make_merchant
):
    m = await make_merchant()
    operator = await make_operator(app)
    iid = (
        await create_intent(
            client, m, type="DELIVERY_VS_PAYMENT", metadata={"releaseType": "MILESTONE_LOCKED"}
        )
    )["id"]
    mid = await add_milestone(client, m, iid, 0, "300.00")
    assert (await pay_by_card(client, iid)).status_code == 200
    await complete(client, m, iid, mid)
    r = await client.post(dispute_url(iid), json=DISPUTE, headers=m.headers)
    assert r.status_code == 200
    merchant_view = await escrow(client, m, iid)

    r = await client.get(order_url(iid), headers=operator)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == merchant_view
    assert r.json()["data"]["disputeReason"] == DISPUTE["reason"]
    r = await client.get(milestones_url(iid), headers=operator)
    assert [x["id"] for x in r.json()["data"]] == [mid]
    r = await client.get(milestone_url(iid, mid), headers=operator)
    assert r.status_code == 200 and r.json()["data"]["status"] == "COMPLETED"
    r = await client.get(ledger_url(), params={"paymentIntentId": iid}, headers=operator)
    assert r.status_code == 200
    assert [e["id"] for e in r.json()["data"]] == [
        e["id"] for e in await ledger_entries(client, m, paymentIntentId=iid)
    ]
    r = await client.get(ledger_url(), headers=operator)
    assert_error(
        r,
        400,
        "invalid_request",
        "paymentIntentId is required with an operator key",
        param="paymentIntentId",
    )
    # ...and still changes nothing but a resolution.
    before = await escrow(client, m, iid)
    for path, body in [
        (milestone_url(iid, mid, "complete"), {"completedBy": "x"}),
        (refund_url(iid), {"amount": "1.00"}),
    ]:
        r = await client.post(path, json=body, headers=operator)
        assert_error(r, 403, "forbidden", "This endpoint needs a merchant key", type_=AUTH)
    assert await escrow(client, m, iid) == before
    # An operator of the other mode sees nothing.
    live = await make_operator(app, mode="live")
    assert (await client.get(order_url(iid), headers=live)).status_code == 404
    r = await client.get(ledger_url(), params={"paymentIntentId": iid}, headers=live)
    assert r.json()["data"] == []


async def test_a_valid_key_under_public_gets_the_routes_own_answer(client, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.get(public_intent_url(iid), headers=m.headers)  # a key is ignored
    assert r.status_code == 200 and r.json()["id"] == iid
    # "public" as an intent id on a merchant route: that route's own 404, with the key...
    r = await client.post(cancel_url("public"), headers=m.headers)
    assert_error(r, 404, "resource_missing", "Payment intent not found: public", param="intentId")
    # ...and without one, the merchant route asks for it.
    r = await client.post(cancel_url("public"))
    assert_error(r, 401, "authentication_required", "API key is required", type_=AUTH)


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({"releaseType": "TIME_LOCKED"}, "metadata.releaseType"),
        ({"disputeWindow": "604800"}, "metadata.disputeWindow"),
        ({"autoRelease": True}, "metadata.autoRelease"),
        ({"note": "fine", "timeLockUntil": 1900000000}, "metadata.timeLockUntil"),
    ],
)
async def test_release_terms_on_a_conditional_intent_are_refused(
    client, make_merchant, metadata, param
):
    m = await make_merchant()
    r = await client.post(
        intents_url(),
        json=intent_body(type="CONDITIONAL", metadata=metadata),
        headers=m.headers,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        f"{param} is only valid for DELIVERY_VS_PAYMENT intents",
        param=param,
    )
    assert (await client.get(intents_url(), headers=m.headers)).json()["data"] == []
    ok = await client.post(
        intents_url(),
        json=intent_body(type="CONDITIONAL", metadata={"note": "fine"}),
        headers=m.headers,
    )
    assert ok.status_code == 201


# --- one rule for a window, wherever it is sent -----------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("0", None), ('"0"', None), ("1.0", 1), ("1", 1), ('"1"', 1), ("1.5", None), ('"24h"', 86400)],
)
async def test_dispute_window_means_the_same_in_metadata_and_on_a_dispute(
    client, make_merchant, raw, seconds
):
    m = await make_merchant()
    headers = {**m.headers, "Content-Type": "application/json"}
    body = (
        '{"amount": "10.00", "currency": "USDC", "type": "DELIVERY_VS_PAYMENT", '
        '"metadata": {"releaseType": "DELIVERY_PROOF", "disputeWindow": ' + raw + "}}"
    )
    created = await client.post(intents_url(), content=body, headers=headers)
    iid = await dvp(client, m)
    raised = await client.post(
        dispute_url(iid),
        content='{"reason": "x", "raisedBy": "p", "disputeWindow": ' + raw + "}",
        headers=headers,
    )
    if seconds is None:
        meta_err = assert_error(created, 400, "invalid_request", param="metadata.disputeWindow")
        err = assert_error(raised, 400, "invalid_request", param="disputeWindow")
        assert meta_err["message"] == "metadata." + err["message"]
        assert (await escrow(client, m, iid))["orderStatus"] == "PENDING"
    else:
        assert created.status_code == 201, created.text
        order = await escrow(client, m, created.json()["id"])
        assert order["disputeWindow"] == str(seconds)
        assert raised.status_code == 200, raised.text
        assert raised.json()["data"]["disputeWindow"] == str(seconds)
