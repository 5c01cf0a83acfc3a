"""Drop-in for real Finternet clients: the payloads public hackathon client code and
the hackathon's Postman collection send, replayed as sent, through the whole flow
they drive (create, pay, create and complete milestones, read order, balance and
ledger). Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from eth_account import Account

from tests.support.driver import (
    DECLINED_CARD_NUMBER,
    FORMS,
    PROOF,
    TX_HASH,
    add_milestones,
    assert_error,
    audit_clean,
    balance_body,
    basic_auth,
    cancel_url,
    card,
    complete,
    confirm_url,
    create_intent,
    currencies,
    delivery_proof_url,
    dispute_url,
    escrow,
    event_url,
    events,
    get_intent,
    intent_url,
    intents_url,
    ledger_entries,
    ledger_page,
    milestone_url,
    milestones_url,
    new_key,
    order_url,
    pay_by_card,
    payer_approve,
    payment_url,
    public_intent_url,
    run_worker,
    sign,
    transaction_hash_url,
    transactions,
)

# What the hackathon's Postman collection and client code send (no settlement
# fields, fiat currency, durations with units, DvP fields at the top level).
COLLECTION_DVP = {
    "amount": "1000.00",
    "currency": "USD",
    "type": "DELIVERY_VS_PAYMENT",
    "description": "Freelance website - 3 milestones",
    "metadata": {"releaseType": "MILESTONE_LOCKED", "deliveryPeriod": "7d"},
    "autoRelease": True,
}


async def post_intent(client, m, body, headers=None):
    return await client.post(intents_url(), json=body, headers=headers or m.headers)


# --- 8. the whole flow a hackathon client drives -------------------------------------------


async def test_collection_flow_usd_milestones_end_to_end(client, app, make_merchant):
    m = await make_merchant("Hackathon Team")
    r = await post_intent(client, m, COLLECTION_DVP)
    assert r.status_code == 201, r.text
    intent = r.json()
    iid = intent["id"]
    data = intent["data"]
    assert data["currency"] == "USD" and data["amount"] == "1000.00"
    # 3. settlement defaults (test mode)
    assert data["settlementMethod"] == "OFF_RAMP_MOCK"
    assert data["settlementDestination"] == f"mock_account_{m.id}"
    # 6. the top-level DvP field is echoed in data.metadata (and the create answer's)
    assert data["metadata"] == {
        "releaseType": "MILESTONE_LOCKED",
        "deliveryPeriod": "7d",
        "autoRelease": True,
    }
    assert intent["metadata"] == data["metadata"]

    # The payment page: a card, on-ramped to USDC at the sandbox rate (USD 1:1).
    r = await pay_by_card(client, iid)
    assert r.status_code == 200, r.text
    secret = r.json()["clientSecret"]  # the payer's link
    paid = r.json()["data"]
    assert paid["status"] == "SUCCEEDED"
    assert paid["stablecoinAmount"] == "1000.00" and paid["stablecoinCurrency"] == "USDC"

    order = await escrow(client, m, iid)
    assert order["object"] == "escrow_order" and order["currency"] == "USD"
    assert order["deliveryPeriod"] == 7 * 86_400 and order["autoRelease"] is True

    mids = await add_milestones(client, m, iid, ["300.00", "300.00", "400.00"])
    for mid in mids[:2]:
        done = await complete(client, m, iid, mid)
        # Planned after funding: autoRelease never covered them, the payer approves
        # (docs/release-paths.md); a client planning before paying sees RELEASED here.
        assert done["data"]["status"] == "COMPLETED"
        r = await payer_approve(client, iid, mid, secret)
        assert r.status_code == 200, r.text
        released = {x["id"]: x["status"] for x in r.json()["order"]["milestones"]}
        assert released[mid] == "RELEASED"
    await run_worker(app)  # the mock off-ramp

    r = await client.get(order_url(iid), headers=m.headers)
    assert r.json()["object"] == "escrow_order"
    assert r.json()["data"]["releasedAmount"] == "600.00"
    assert r.json()["data"]["heldAmount"] == "400.00"

    body = await balance_body(client, m)
    top = body["data"]
    assert top["currency"] == "USD"
    assert top["reservedBalance"] == "400.00"
    assert top["availableBalance"] == "600.00" and top["pendingBalance"] == "0.00"
    assert top["totalBalance"] == "1000.00"
    assert [b["currency"] for b in top["balances"]] == ["USD"]

    entries = await ledger_entries(client, m)
    assert {e["currency"] for e in entries} == {"USD"}
    transactions(entries)
    # The reference backend's paging: limit + offset.
    first = (await ledger_page(client, m, limit=2)).json()["data"]
    second = (await ledger_page(client, m, limit=2, offset=2)).json()["data"]
    assert [e["id"] for e in first + second] == [e["id"] for e in entries[:4]]
    await audit_clean(app)


# --- 1. fiat currencies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "shown", "usdc"),
    [
        ("USD", "10.5", "10.50", "10.50"),
        ("EUR", "100.00", "100.00", "108.00"),
        ("INR", "999.99", "999.99", "11.99988"),
        ("JPY", "1000", "1000", "6.70"),
        ("KWD", "1.5", "1.500", "4.875"),
    ],
)
async def test_fiat_intent_is_card_funded_at_the_sandbox_rate(
    client, app, make_merchant, currency, amount, shown, usdc
):
    m = await make_merchant()
    r = await post_intent(
        client, m, {**COLLECTION_DVP, "currency": currency, "amount": amount, "metadata": {}}
    )
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    assert r.json()["data"]["amount"] == shown
    r = await pay_by_card(client, iid)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["stablecoinAmount"] == usdc
    assert r.json()["data"]["stablecoinCurrency"] == "USDC"
    order = await escrow(client, m, iid)
    assert order["currency"] == currency and order["heldAmount"] == shown
    entries = await ledger_entries(client, m)
    assert {e["currency"] for e in entries} == {currency}
    assert sorted(e["amount"] for e in entries) == sorted([shown, "-" + shown])
    assert (await balance_body(client, m))["data"]["reservedBalance"] == shown
    await audit_clean(app)


@pytest.mark.parametrize(("sent", "stored"), [("usdc", "USDC"), ("usd", "USD"), ("Eur", "EUR")])
async def test_currency_codes_are_upper_cased(client, make_merchant, sent, stored):
    m = await make_merchant()
    intent = await create_intent(client, m, currency=sent)
    assert intent["data"]["currency"] == stored


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        ("JPY", "1000.5", "Amount must be a whole number for JPY"),
        ("USD", "10.001", "Amount must have at most 2 decimal places for USD"),
        ("KWD", "1.0001", "Amount must have at most 3 decimal places for KWD"),
    ],
)
async def test_amount_finer_than_the_minor_unit_is_400(
    client, make_merchant, currency, amount, message
):
    m = await make_merchant()
    r = await post_intent(client, m, {**COLLECTION_DVP, "currency": currency, "amount": amount})
    assert_error(r, 400, "invalid_request", message, param="amount")


async def test_milestones_and_refunds_keep_the_minor_unit(client, app, make_merchant):
    m = await make_merchant()
    r = await post_intent(client, m, {**COLLECTION_DVP, "currency": "JPY", "amount": "1000"})
    iid = r.json()["id"]
    r = await client.post(
        milestones_url(iid), json={"milestoneIndex": 0, "amount": "333.5"}, headers=m.headers
    )
    assert_error(r, 400, "invalid_request", "Amount must be a whole number for JPY", param="amount")
    await add_milestones(client, m, iid, ["400", "600"])
    assert (await pay_by_card(client, iid)).status_code == 200
    order = await escrow(client, m, iid)
    assert [x["amount"] for x in order["milestones"]] == ["400", "600"]
    # ...and every other answer about a milestone, events included, says the same.
    listed = (await client.get(milestones_url(iid), headers=m.headers)).json()["data"]
    assert [x["amount"] for x in listed] == ["400", "600"]
    one = (await client.get(milestone_url(iid, listed[0]["id"]), headers=m.headers)).json()
    assert one["data"]["amount"] == "400"
    done = await complete(client, m, iid, listed[0]["id"])
    assert done["data"]["amount"] == "400"
    created = await events(client, m, type="milestone.created")
    assert {e["data"]["object"]["amount"] for e in created[:2]} == {"400", "600"}
    for kind in ("payment_intent.settlement_initiated", "payment_intent.settlement_completed"):
        (paid_out,) = await events(client, m, type=kind)
        assert paid_out["data"]["object"]["amount"] == "400", kind
    # A release in full names the amount in the currency's minor units too.
    whole = (
        await post_intent(
            client,
            m,
            {**COLLECTION_DVP, "currency": "JPY", "amount": "1000",
             "metadata": {"releaseType": "DELIVERY_PROOF"}},
        )
    ).json()["id"]
    assert (await pay_by_card(client, whole)).status_code == 200
    r = await client.post(delivery_proof_url(whole), json=PROOF, headers=m.headers)
    assert r.status_code == 200, r.text
    released = [
        e for e in await events(client, m, type="escrow_order.released")
        if e["data"]["object"]["paymentIntentId"] == whole
    ]
    assert [e["data"]["object"]["amount"] for e in released] == ["1000"]
    r = await client.post(intent_url(iid, "/refund"), json={"amount": "0.5"}, headers=m.headers)
    assert_error(r, 400, "invalid_request", "Amount must be a whole number for JPY", param="amount")
    r = await client.post(intent_url(iid, "/refund"), json={"amount": "100"}, headers=m.headers)
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == "100" and r.json()["currency"] == "JPY"
    await audit_clean(app)


async def test_wallet_payment_of_a_fiat_intent_is_400(client, make_merchant):
    m = await make_merchant()
    iid = (await post_intent(client, m, COLLECTION_DVP)).json()["id"]
    payer = Account.create()
    typed = (await get_intent(client, m, iid))["data"]["typedData"]
    r = await client.post(
        confirm_url(iid),
        json={"signature": sign(typed, payer), "payerAddress": payer.address},
        headers=m.headers,
    )
    message = (
        "A payment intent in USD can only be paid by card; wallet (EIP-712) payments "
        "need a USDC, USDT or DAI intent"
    )
    assert_error(r, 400, "invalid_request", message, param="signature")
    r = await client.post(transaction_hash_url(iid), json={"transactionHash": TX_HASH})
    assert_error(r, 400, "invalid_request", message, param="transactionHash")
    assert (await get_intent(client, m, iid))["status"] == "INITIATED"


async def test_balances_are_per_currency_with_the_first_currency_on_top(client, app, make_merchant):
    m = await make_merchant()
    usd = (await post_intent(client, m, {**COLLECTION_DVP, "amount": "50.00"})).json()["id"]
    usdc = (await create_intent(client, m, amount="20.00", metadata={}))["id"]
    for iid in (usd, usdc):
        assert (await pay_by_card(client, iid)).status_code == 200
    data = (await balance_body(client, m))["data"]
    assert data["currency"] == "USD" and data["reservedBalance"] == "50.00"
    rows = {b["currency"]: b["reservedBalance"] for b in data["balances"]}
    assert rows == {"USD": "50.00", "USDC": "20.00"}
    await audit_clean(app)


# --- 2. durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "seconds"),
    [("24h", 86_400), ("72h", 259_200), ("7d", 604_800), ("30m", 1_800), ("3600s", 3_600),
     (3600, 3600), ("3600", 3600)],
)
async def test_period_fields_take_durations(client, make_merchant, period, seconds):
    m = await make_merchant()
    iid = (
        await create_intent(
            client,
            m,
            metadata={
                "releaseType": "DELIVERY_PROOF",
                "deliveryPeriod": period,
                "disputeWindow": period,
            },
        )
    )["id"]
    order = await escrow(client, m, iid)
    assert order["deliveryPeriod"] == seconds and order["disputeWindow"] == str(seconds)
    top = await create_intent(client, m, deliveryPeriod=period, metadata={})
    assert (await escrow(client, m, top["id"]))["deliveryPeriod"] == seconds
    # The dispute body's window too.
    iid = (await create_intent(client, m, metadata={"releaseType": "DELIVERY_PROOF"}))["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    r = await client.post(
        dispute_url(iid),
        json={"reason": "late", "raisedBy": "payer", "disputeWindow": period},
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["disputeWindow"] == str(seconds)


@pytest.mark.parametrize("bad", ["1w", "24 h", "h", "7.5d", "-1h", "24H", "", True, 1.5])
async def test_other_period_forms_are_400_naming_the_accepted_forms(client, make_merchant, bad):
    m = await make_merchant()
    r = await post_intent(
        client, m, {**COLLECTION_DVP, "metadata": {"deliveryPeriod": bad}}
    )
    assert_error(
        r, 400, "invalid_request", f"metadata.deliveryPeriod must be {FORMS}",
        param="metadata.deliveryPeriod",
    )
    r = await post_intent(client, m, {**COLLECTION_DVP, "deliveryPeriod": bad})
    assert_error(r, 400, "invalid_request", f"deliveryPeriod must be {FORMS}",
                 param="deliveryPeriod")


# --- 3. optional settlement ----------------------------------------------------------------


async def test_settlement_defaults_settle_a_conditional_payment(client, app, make_merchant):
    m = await make_merchant()
    r = await post_intent(
        client, m, {"amount": "25.00", "currency": "USD", "type": "CONDITIONAL"}
    )
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    assert r.json()["data"]["settlementMethod"] == "OFF_RAMP_MOCK"
    assert r.json()["data"]["settlementDestination"] == f"mock_account_{m.id}"
    assert (await pay_by_card(client, iid)).status_code == 200
    await run_worker(app)
    intent = await get_intent(client, m, iid)
    assert intent["status"] == "SETTLED" and intent["data"]["settlementStatus"] == "COMPLETED"
    assert (await balance_body(client, m))["data"]["availableBalance"] == "25.00"


async def test_live_mode_requires_the_settlement_fields(client, app, make_merchant):
    m = await make_merchant()
    live = await new_key(app, m, "live")
    body = {"amount": "25.00", "currency": "USDC", "type": "CONDITIONAL"}
    r = await post_intent(client, live, body)
    assert_error(r, 400, "invalid_request", "settlementMethod is required in live mode",
                 param="settlementMethod")
    r = await post_intent(client, live, {**body, "settlementMethod": "OFF_RAMP_TO_BANK"})
    assert_error(r, 400, "invalid_request", "settlementDestination is required in live mode",
                 param="settlementDestination")


# --- 4. a decline keeps the intent payable ---------------------------------------------------


async def test_decline_keeps_the_intent_payable_for_another_card(client, app, make_merchant):
    m = await make_merchant()
    iid = (await post_intent(client, m, COLLECTION_DVP)).json()["id"]
    r = await pay_by_card(client, iid, card=card(DECLINED_CARD_NUMBER))
    assert_error(r, 400, "payment_failed", "Your card was declined.", param="card")
    # The payment page reads the public intent: still payable, the decline shown.
    public = (await client.get(public_intent_url(iid))).json()
    assert public["status"] == "INITIATED"
    error = {"code": "payment_failed", "message": "Your card was declined.", "cardLast4": "0002"}
    assert public["data"]["lastPaymentError"] == error
    assert (await get_intent(client, m, iid))["data"]["lastPaymentError"] == error
    r = await pay_by_card(client, iid, card=card("4000000000009995"))
    assert_error(r, 400, "insufficient_funds", param="card")
    assert (await get_intent(client, m, iid))["data"]["lastPaymentError"]["cardLast4"] == "9995"
    r = await pay_by_card(client, iid)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "SUCCEEDED" and r.json()["data"]["lastPaymentError"] is None
    await audit_clean(app)


async def test_a_declined_intent_can_still_be_canceled(client, make_merchant):
    m = await make_merchant()
    iid = (await post_intent(client, m, COLLECTION_DVP)).json()["id"]
    await pay_by_card(client, iid, card=card(DECLINED_CARD_NUMBER))
    r = await client.post(cancel_url(iid), headers=m.headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELED"


# --- 5. sandbox-shaped ids -----------------------------------------------------------------


async def test_sandbox_ids_that_do_not_exist_are_404_with_the_id(client, make_merchant):
    m = await make_merchant()
    iid = f"intent_{uuid.uuid4()}"
    not_found = f"Payment intent not found: {iid}"
    for r in (
        await client.get(intent_url(iid), headers=m.headers),
        await client.get(order_url(iid), headers=m.headers),
        await client.get(order_url(iid, spelling="conditional-payment"), headers=m.headers),
        await client.get(milestones_url(iid), headers=m.headers),
        await client.post(cancel_url(iid), headers=m.headers),
        await client.get(public_intent_url(iid)),
        await client.post(payment_url(iid), json={"card": card("4242424242424242")}),
        await client.post(transaction_hash_url(iid), json={"transactionHash": TX_HASH}),
    ):
        assert_error(r, 404, "resource_missing", not_found, param="intentId")
    real = (await create_intent(client, m))["id"]
    for mid in (f"milestone_{uuid.uuid4()}", str(uuid.uuid4())):
        r = await client.get(milestone_url(real, mid), headers=m.headers)
        assert_error(r, 404, "resource_missing", "Milestone not found", param="milestoneId")
    r = await client.get(event_url(f"evt_{uuid.uuid4()}"), headers=m.headers)
    assert_error(r, 404, "resource_missing", "Event not found", param="eventId")


@pytest.mark.parametrize("bad", ["intent_abc-def", "intent_%20x", "intent_" + "a" * 80, "in.tent"])
async def test_malformed_ids_are_the_documented_400(client, make_merchant, bad):
    m = await make_merchant()
    for r in (
        await client.get(intent_url(bad), headers=m.headers),
        await client.get(public_intent_url(bad)),
        await client.get(order_url(bad), headers=m.headers),
    ):
        assert_error(r, 400, "invalid_request", "Invalid payment intent ID format",
                     param="intentId")
    real = (await create_intent(client, m))["id"]
    r = await client.get(milestone_url(real, bad.replace("intent", "milestone")), headers=m.headers)
    assert_error(r, 400, "invalid_request", "Invalid milestone ID format", param="milestoneId")
    r = await client.get(event_url(bad.replace("intent", "evt")), headers=m.headers)
    assert_error(r, 400, "invalid_request", "Invalid event ID format", param="eventId")


# --- 6. shapes clients read ------------------------------------------------------------------


async def test_escrow_spellings_name_their_object(client, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.get(order_url(iid), headers=m.headers)
    assert r.json()["object"] == r.json()["data"]["object"] == "escrow_order"
    r = await client.get(order_url(iid, spelling="conditional-payment"), headers=m.headers)
    assert r.json()["object"] == r.json()["data"]["object"] == "conditional_payment"


async def test_ledger_offset(client, app, make_merchant):
    m = await make_merchant()
    for _ in range(3):
        iid = (await create_intent(client, m, amount="10.00", metadata={}))["id"]
        assert (await pay_by_card(client, iid)).status_code == 200
    everything = await ledger_entries(client, m)
    assert len(everything) == 6
    r = await ledger_page(client, m, limit=4, offset=3)
    assert [e["id"] for e in r.json()["data"]] == [e["id"] for e in everything[3:6]]
    assert r.json()["hasMore"] is False
    assert (await ledger_page(client, m, limit=2, offset=3)).json()["hasMore"] is True
    assert (await ledger_page(client, m, offset=6)).json()["data"] == []
    r = await ledger_page(client, m, offset=1, starting_after=everything[0]["id"])
    assert_error(r, 400, "invalid_request",
                 "Use only one of offset and starting_after/ending_before", param="offset")
    r = await ledger_page(client, m, offset=-1)
    assert_error(r, 400, "invalid_request", param="offset")


async def test_top_level_dvp_fields_are_echoed_in_metadata(client, make_merchant):
    m = await make_merchant()
    oracle = "0x" + "12" * 20
    proof = "0x" + "34" * 32
    intent = await create_intent(
        client, m, metadata={"releaseType": "DELIVERY_PROOF", "orderRef": "A-1"},
        deliveryPeriod="24h", expectedDeliveryHash=proof, autoRelease=False,
        deliveryOracle=oracle,
    )
    assert intent["data"]["metadata"] == {
        "releaseType": "DELIVERY_PROOF", "orderRef": "A-1", "deliveryPeriod": 86_400,
        "expectedDeliveryHash": proof, "autoRelease": False, "deliveryOracle": oracle,
    }
    again = await get_intent(client, m, intent["id"])
    assert again["data"]["metadata"] == intent["data"]["metadata"]


async def test_public_intent_carries_the_payer_safe_fields(client, make_merchant):
    m = await make_merchant()
    iid = (await post_intent(client, m, COLLECTION_DVP)).json()["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    d = (await client.get(public_intent_url(iid))).json()["data"]
    for key in ("livemode", "settlementStatus", "transactionHash", "estimatedFee",
                "estimatedDeliveryTime", "lastPaymentError", "fiatPaymentStatus",
                "paymentProcessorType", "onRampStatus", "stablecoinAmount",
                "stablecoinCurrency", "cardLast4", "typedData", "phases", "paymentUrl"):
        assert key in d, key
    for private in ("merchantId", "settlementMethod", "settlementDestination", "metadata",
                    "signature", "signerAddress", "paymentProcessorTxId", "onRampTxId"):
        assert private not in d, private


# --- 7. keys ---------------------------------------------------------------------------------


async def test_hackathon_keys_are_test_keys(client, app, make_merchant):
    m = await make_merchant()
    hack = await new_key(app, m, "hackathon")
    assert hack.key.startswith("sk_hackathon_")
    r = await post_intent(client, hack, COLLECTION_DVP)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["livemode"] is False
    # The same world as the merchant's sk_test_ key.
    assert (await get_intent(client, m, r.json()["id"]))["id"] == r.json()["id"]


async def test_basic_auth_with_the_key_as_user_name(client, make_merchant):
    m = await make_merchant()
    r = await post_intent(client, m, COLLECTION_DVP, headers=basic_auth(m.key))
    assert r.status_code == 201, r.text
    r = await client.get(intents_url(), auth=(m.key, ""))  # what curl -u key: sends
    assert r.status_code == 200, r.text
    # The same key twice is one credential; two different ones are 401.
    r = await client.get(intents_url(), headers={**m.headers, **basic_auth(m.key)})
    assert r.status_code == 200, r.text
    other = await make_merchant()
    r = await client.get(intents_url(), headers={**other.headers, **basic_auth(m.key)})
    assert_error(r, 401, "invalid_api_key", type_="authentication_error")
    for headers in (
        basic_auth(m.key, "secret"),  # a password is not a key
        basic_auth("sk_test_" + "0" * 32),  # unknown key
        {"Authorization": "Basic not-base64!"},
        basic_auth(""),
    ):
        r = await client.get(intents_url(), headers=headers)
        assert_error(r, 401, "invalid_api_key", type_="authentication_error")


def test_decimal_conversion_rounds_down_to_the_micro_unit():
    assert currencies.on_ramp(1_000_000, "JPY") == 6_700  # 1 JPY -> 0.0067 USDC
    assert currencies.on_ramp(999_990_000, "INR") == 11_999_880
    assert currencies.on_ramp(1, "AED") == 0  # 0.2723 micro-units: rounded down
    assert Decimal(currencies.on_ramp(3_000_000, "EUR")) == Decimal(3_240_000)
