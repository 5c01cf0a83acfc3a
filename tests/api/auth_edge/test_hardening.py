"""From a hostile trial: capabilities that cannot be guessed, a transaction hash that
funds once, malleable signatures, ambiguous credentials and request bodies, input
echoed in errors. Each test fails on the code before the fix."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from eth_account import Account

from tests.support.driver import (
    AUTH,
    add_milestone,
    assert_error,
    balance,
    complete,
    confirm_url,
    create_intent,
    dvp,
    escrow,
    get_intent,
    high_s,
    intent_body,
    intents_url,
    ledger_entries,
    milestone,
    milestone_url,
    milestones_url,
    pay_by_card,
    public_intent_url,
    sign,
    transaction_hash_url,
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
        f"/v1/payment-intents/{delivered}/escrow/delivery-proof",
        json={"proofHash": "0x" + "1f" * 32, "submittedBy": "0x" + "cd" * 20},
        headers=m.headers,
    )
    assert r.status_code == 200
    typed = (await escrow(client, m, delivered))["approvalTypedData"]
    r = await client.post(
        f"/v1/payment-intents/{delivered}/escrow/approve",
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
        "/v1/events/evt_%00",
        "/v1/payment-intents/intent_%00",
        "/v1/payment-intents/intent_%00/escrow",
        "/v1/payment-intents/public/intent_%00",
    ],
)
async def test_an_id_with_nul_is_a_400(client, make_merchant, path):
    """Malformed: the documented 400 "Invalid ... ID format", never a 500."""
    m = await make_merchant()
    r = await client.get(path, headers=m.headers)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_request"
    assert err["message"].endswith("ID format")


async def test_an_incoming_request_id_is_honoured_when_well_formed(client, make_merchant):
    m = await make_merchant()
    r = await client.get(intents_url(), headers={**m.headers, "X-Request-Id": "trace-1234abcd"})
    assert r.headers["request-id"] == "trace-1234abcd"
    r = await client.get(intents_url(), headers={**m.headers, "X-Request-Id": "bad id\n"})
    assert re.fullmatch(r"req_[0-9a-f]{32}", r.headers["request-id"])
