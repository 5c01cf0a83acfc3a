"""Payment intents: create, release configuration and metadata (API.md §2)."""

from __future__ import annotations

import json
import time

import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.support.driver import (
    CHAIN_ID,
    CONTRACT,
    INTENT_ID_RE,
    PREFIXES,
    assert_error,
    create_intent,
    escrow,
    intent_body,
    intent_url,
    intents_url,
    order_url,
)


def assert_recent(ts: object) -> None:
    assert isinstance(ts, int) and not isinstance(ts, bool)
    assert abs(ts - time.time()) < 120, ts


# --- create ------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_create_returns_the_documented_envelope(client, merchant, settings, prefix):
    metadata = {
        "releaseType": "MILESTONE_LOCKED",
        "orderRef": "PO-77",
        "n": 5,
        "flag": True,
        "nested": {"a": [1, 2, "three"]},
    }
    body = intent_body(
        amount="1000.00",
        currency="USDC",
        description="Website build",
        settlementMethod="OFF_RAMP_TO_BANK",
        settlementDestination="DE89370400440532013000",
        metadata=metadata,
    )
    r = await client.post(intents_url(prefix=prefix), json=body, headers=merchant.headers)
    assert r.status_code == 201, r.text
    env = r.json()
    assert set(env) == {"id", "object", "status", "data", "created", "updated", "metadata"}
    assert INTENT_ID_RE.fullmatch(env["id"])
    assert env["object"] == "payment_intent"
    assert env["status"] == "INITIATED"
    assert env["metadata"] == metadata
    assert_recent(env["created"])
    assert env["updated"] == env["created"]

    d = env["data"]
    assert d["id"] == env["id"]
    assert d["object"] == "payment_intent"
    assert d["merchantId"] == merchant.id
    assert d["status"] == "INITIATED"
    assert d["amount"] == "1000.00"
    assert d["currency"] == "USDC"
    assert d["type"] == "DELIVERY_VS_PAYMENT"
    assert d["description"] == "Website build"
    assert d["settlementMethod"] == "OFF_RAMP_TO_BANK"
    assert d["settlementDestination"] == "DE89370400440532013000"
    assert d["settlementStatus"] == "PENDING"
    assert d["contractAddress"] == settings.contract_address == CONTRACT
    assert d["chainId"] == settings.chain_id == CHAIN_ID
    assert d["transactionHash"] is None
    assert d["signature"] is None
    assert d["signerAddress"] is None
    assert d["metadata"] == metadata
    assert d["created"] == env["created"] and d["updated"] == env["updated"]
    assert d["livemode"] is False

    # phases as the docs show them at creation
    assert len(d["phases"]) == 1
    phase = d["phases"][0]
    assert phase["phase"] == "SIGNATURE_VERIFICATION"
    assert phase["status"] == "IN_PROGRESS"
    assert_recent(phase["timestamp"])

    # the hosted payment page
    # escrowgate's own hosted page (PAYMENT_PAGE_URL unset)
    assert d["paymentUrl"] == f"{settings.base_url}/pay/{d['id']}"
    assert env["id"] in d["paymentUrl"]


async def test_typed_data_is_the_documented_eip712_message(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    td = intent["data"]["typedData"]
    assert td["primaryType"] == "PaymentIntent"
    assert td["domain"] == {
        "name": "Finternet Payment Gateway",
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": CONTRACT,
    }
    assert td["types"]["EIP712Domain"] == [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ]
    assert td["types"]["PaymentIntent"] == [
        {"name": "intentId", "type": "bytes32"},
        {"name": "amount", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
    ]
    msg = td["message"]
    assert msg["intentId"] == "0x" + bytes(keccak(text=intent["id"])).hex()
    assert len(msg["intentId"]) == 66
    assert msg["amount"] == "1000000000"  # amount x 10^6 as a decimal string
    assert str(msg["nonce"]) == "0"
    encode_typed_data(full_message=td)  # a wallet can sign it as given


@pytest.mark.parametrize(
    "amount, on_chain", [("0.125", "125000"), ("300", "300000000"), ("0.000001", "1")]
)
async def test_typed_data_amount_is_exact_micro_units(client, merchant, amount, on_chain):
    intent = await create_intent(client, merchant, amount=amount)
    assert intent["data"]["typedData"]["message"]["amount"] == on_chain


@pytest.mark.parametrize("currency", ["USDC", "USDT", "DAI"])
async def test_each_currency_is_accepted(client, merchant, currency):
    intent = await create_intent(client, merchant, currency=currency)
    assert intent["data"]["currency"] == currency


# USD (fiat) and "usdc" are accepted since the compatibility work (tests/api/compat).
@pytest.mark.parametrize("currency", ["ETH", "BTC", "US", "", 1, None])
async def test_other_currencies_are_rejected(client, merchant, currency):
    r = await client.post(
        intents_url(), json=intent_body(currency=currency), headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", param="currency")


@pytest.mark.parametrize("method", ["OFF_RAMP_MOCK", "OFF_RAMP_TO_RTP", "OFF_RAMP_TO_BANK"])
async def test_each_settlement_method_is_accepted(client, merchant, method):
    intent = await create_intent(client, merchant, settlementMethod=method)
    assert intent["data"]["settlementMethod"] == method


@pytest.mark.parametrize(
    "field, value",
    [
        ("settlementMethod", "OFF_RAMP_TO_ACH"),
        ("settlementMethod", 42),
        ("settlementDestination", ""),
        ("settlementDestination", 42),
        ("description", 5),
        ("type", "ESCROW"),
        ("type", None),
    ],
)
async def test_invalid_fields_are_named(client, merchant, field, value):
    r = await client.post(
        intents_url(), json=intent_body(**{field: value}), headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", param=field)


async def test_invalid_type_message(client, merchant):
    r = await client.post(intents_url(), json=intent_body(type="ESCROW"), headers=merchant.headers)
    assert_error(
        r,
        400,
        "invalid_request",
        "Invalid payment type. Must be CONDITIONAL or DELIVERY_VS_PAYMENT",
        param="type",
    )


async def test_conditional_intent_and_consented_pull_alias(client, merchant):
    for given in ("CONDITIONAL", "CONSENTED_PULL"):
        intent = await create_intent(client, merchant, type=given, metadata={"k": "v"})
        assert intent["data"]["type"] == "CONDITIONAL"
        got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
        assert got.json()["data"]["type"] == "CONDITIONAL"


async def test_metadata_is_optional(client, merchant):
    body = intent_body()
    del body["metadata"]
    del body["description"]
    r = await client.post(intents_url(), json=body, headers=merchant.headers)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["description"] is None
    order_r = await client.get(order_url(r.json()["id"]), headers=merchant.headers)
    assert order_r.json()["data"]["releaseType"] == "DELIVERY_PROOF"  # the default


# --- release configuration --------------------------------------------------------------


@pytest.mark.parametrize("release_type", ["DELIVERY_PROOF", "MILESTONE_LOCKED", "AUTO_RELEASE"])
async def test_release_types_are_stored(client, merchant, release_type):
    intent = await create_intent(client, merchant, metadata={"releaseType": release_type})
    order = await escrow(client, merchant, intent["id"])
    assert order["releaseType"] == release_type
    assert order["autoRelease"] is (release_type == "AUTO_RELEASE")
    assert order["disputeWindow"] == "604800"
    assert order["deliveryPeriod"] == 2592000
    assert order["timeLockUntil"] is None


async def test_time_locked_needs_and_keeps_time_lock_until(client, merchant):
    for value in ("1893456000", 1893456000):
        intent = await create_intent(
            client, merchant, metadata={"releaseType": "TIME_LOCKED", "timeLockUntil": value}
        )
        order = await escrow(client, merchant, intent["id"])
        assert order["releaseType"] == "TIME_LOCKED"
        assert order["timeLockUntil"] == "1893456000"
    r = await client.post(
        intents_url(),
        json=intent_body(metadata={"releaseType": "TIME_LOCKED"}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param="metadata.timeLockUntil")


@pytest.mark.parametrize("value", ["tomorrow", "-5", -5, True, 1.5, "1e9", "", None])
async def test_bad_time_lock_until_is_400(client, merchant, value):
    r = await client.post(
        intents_url(),
        json=intent_body(metadata={"releaseType": "TIME_LOCKED", "timeLockUntil": value}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param="metadata.timeLockUntil")


@pytest.mark.parametrize("value", ["MILESTONES", "milestone_locked", "", 3, None, True])
async def test_unknown_release_type_is_400(client, merchant, value):
    if value is None:
        # null means "not given": the default applies
        intent = await create_intent(client, merchant, metadata={"releaseType": None})
        assert (await escrow(client, merchant, intent["id"]))["releaseType"] == "DELIVERY_PROOF"
        return
    r = await client.post(
        intents_url(),
        json=intent_body(metadata={"releaseType": value}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param="metadata.releaseType")


async def test_auto_release_default_and_flags(client, merchant):
    intent = await create_intent(client, merchant, metadata={}, autoRelease=True)
    order = await escrow(client, merchant, intent["id"])
    assert order["releaseType"] == "AUTO_RELEASE" and order["autoRelease"] is True
    intent = await create_intent(client, merchant, metadata={"autoRelease": True})
    order = await escrow(client, merchant, intent["id"])
    assert order["releaseType"] == "AUTO_RELEASE"
    intent = await create_intent(
        client, merchant, autoRelease=True, metadata={"releaseType": "MILESTONE_LOCKED"}
    )
    order = await escrow(client, merchant, intent["id"])
    assert order["releaseType"] == "MILESTONE_LOCKED" and order["autoRelease"] is True


@pytest.mark.parametrize("value", ["yes", 1, "true"])
async def test_auto_release_must_be_boolean(client, merchant, value):
    r = await client.post(
        intents_url(), json=intent_body(autoRelease=value), headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", param="autoRelease")
    r = await client.post(
        intents_url(),
        json=intent_body(metadata={"autoRelease": value}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param="metadata.autoRelease")


async def test_dispute_window(client, merchant):
    intent = await create_intent(
        client, merchant, metadata={"releaseType": "MILESTONE_LOCKED", "disputeWindow": "86400"}
    )
    assert (await escrow(client, merchant, intent["id"]))["disputeWindow"] == "86400"
    intent = await create_intent(
        client, merchant, metadata={"releaseType": "MILESTONE_LOCKED", "disputeWindow": 3600}
    )
    assert (await escrow(client, merchant, intent["id"]))["disputeWindow"] == "3600"


@pytest.mark.parametrize("value", ["a week", "-1", -1, 1.5, True, "86400.0", 10**12, ""])
async def test_bad_dispute_window_is_400(client, merchant, value):
    r = await client.post(
        intents_url(),
        json=intent_body(metadata={"releaseType": "MILESTONE_LOCKED", "disputeWindow": value}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param="metadata.disputeWindow")


async def test_dvp_fields_top_level_and_in_metadata(client, merchant):
    h = "0x" + "AB" * 32
    oracle = "0x" + "12" * 20
    intent = await create_intent(
        client, merchant, deliveryPeriod=86400, expectedDeliveryHash=h, deliveryOracle=oracle
    )
    order = await escrow(client, merchant, intent["id"])
    assert order["deliveryPeriod"] == 86400
    assert order["expectedDeliveryHash"] == h.lower()
    assert order["deliveryOracle"] == oracle
    intent = await create_intent(
        client,
        merchant,
        metadata={
            "releaseType": "DELIVERY_PROOF",
            "deliveryPeriod": 7200,
            "expectedDeliveryHash": h,
        },
    )
    order = await escrow(client, merchant, intent["id"])
    assert order["deliveryPeriod"] == 7200
    assert order["expectedDeliveryHash"] == h.lower()


@pytest.mark.parametrize(
    "field, value",
    [
        ("deliveryPeriod", 0),
        ("deliveryPeriod", -1),
        ("deliveryPeriod", "soon"),
        ("deliveryPeriod", 1.5),
        ("expectedDeliveryHash", "0x1234"),
        ("expectedDeliveryHash", "ab" * 32),
        ("deliveryOracle", "0x123"),
        ("deliveryOracle", "oracle.example"),
    ],
)
async def test_bad_dvp_fields_are_400(client, merchant, field, value):
    r = await client.post(
        intents_url(), json=intent_body(**{field: value}), headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", param=field)
    r = await client.post(
        intents_url(),
        json=intent_body(metadata={"releaseType": "DELIVERY_PROOF", field: value}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param=f"metadata.{field}")


@pytest.mark.parametrize(
    "field, value",
    [
        ("deliveryPeriod", 86400),
        ("expectedDeliveryHash", "0x" + "ab" * 32),
        ("autoRelease", True),
        ("autoRelease", False),
        ("deliveryOracle", "0x" + "12" * 20),
    ],
)
async def test_dvp_only_fields_on_a_conditional_intent_are_400(client, make_merchant, field, value):
    m = await make_merchant()
    for type_ in ("CONDITIONAL", "CONSENTED_PULL"):
        r = await client.post(
            intents_url(),
            json=intent_body(type=type_, metadata={}, **{field: value}),
            headers=m.headers,
        )
        assert_error(
            r,
            400,
            "invalid_request",
            f"{field} is only valid for DELIVERY_VS_PAYMENT intents",
            param=field,
        )
    listed = await client.get(intents_url(), headers=m.headers)
    assert listed.json()["data"] == []  # a rejected request stores nothing


# --- metadata limits ---------------------------------------------------------------------


async def test_metadata_key_count_limit(client, merchant):
    fifty = {f"k{i}": i for i in range(49)} | {"releaseType": "MILESTONE_LOCKED"}
    assert len(fifty) == 50
    intent = await create_intent(client, merchant, metadata=fifty)
    assert intent["metadata"] == fifty
    r = await client.post(
        intents_url(),
        json=intent_body(metadata=fifty | {"extra": 1}),
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", "metadata can have at most 50 keys", param="metadata")


async def test_metadata_size_limit(client, merchant):
    ok = {"releaseType": "MILESTONE_LOCKED", "blob": "x" * 8000}
    intent = await create_intent(client, merchant, metadata=ok)
    assert intent["metadata"]["blob"] == "x" * 8000
    big = {"releaseType": "MILESTONE_LOCKED", "blob": "x" * 8200}
    r = await client.post(intents_url(), json=intent_body(metadata=big), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", param="metadata")
    # multi-byte characters count as bytes: 3000 x 3 bytes > 8 KB
    wide = {"releaseType": "MILESTONE_LOCKED", "blob": "語" * 3000}
    r = await client.post(intents_url(), json=intent_body(metadata=wide), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", param="metadata")


async def test_metadata_numbers_of_every_json_form_are_kept_and_echoed(client, make_merchant):
    """Fractions and exponents (read exactly by the body parser) are stored and shown as
    plain JSON numbers, in the create answer too: never a 500 after the intent is made."""
    m = await make_merchant()
    raw = (
        json.dumps(intent_body(metadata="__M__"))
        .encode()
        .replace(
            b'"__M__"',
            b'{"releaseType": "MILESTONE_LOCKED", "price": 1.5, "rate": 0.1, "tiny": 1e-7,'
            b' "big": 2.5e3, "neg": -0.25, "list": [1.25, {"x": -0.5}], "n": 7, "z": 0.0}',
        )
    )
    r = await client.post(
        intents_url(),
        content=raw,
        headers={**m.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    expected = {
        "releaseType": "MILESTONE_LOCKED",
        "price": 1.5,
        "rate": 0.1,
        "tiny": 1e-7,
        "big": 2500,
        "neg": -0.25,
        "list": [1.25, {"x": -0.5}],
        "n": 7,
        "z": 0,
    }
    assert r.json()["metadata"] == expected
    assert r.json()["data"]["metadata"] == expected
    got = await client.get(intent_url(r.json()["id"]), headers=m.headers)
    assert got.json()["data"]["metadata"] == expected
    listed = await client.get(intents_url(), headers=m.headers)
    assert [i["id"] for i in listed.json()["data"]] == [r.json()["id"]]


@pytest.mark.parametrize("value", [[1, 2], "text", 5, True])
async def test_metadata_must_be_an_object(client, merchant, value):
    r = await client.post(intents_url(), json=intent_body(metadata=value), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", param="metadata")
