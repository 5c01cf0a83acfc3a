"""Authentication, tenancy and mode isolation (API.md §1 Auth)."""

from __future__ import annotations

import json

import pytest

from tests.support.driver import (
    API_ALIAS,
    AUTH,
    FORBIDDEN,
    ORDER_ALIAS,
    PREFIXES,
    assert_error,
    cancel_url,
    create_intent,
    intent_body,
    intent_url,
    intents_url,
    milestones_url,
    order_url,
    post_milestone,
    public_intent_url,
)


def assert_missing_key(r) -> None:  # type: ignore[no-untyped-def]
    err = assert_error(r, 401, "authentication_required", "API key is required", type_=AUTH)
    assert set(err) == {"code", "message", "type"}


def assert_invalid_key(r) -> None:  # type: ignore[no-untyped-def]
    err = assert_error(r, 401, "invalid_api_key", "Invalid API key", type_=AUTH)
    assert set(err) == {"code", "message", "type"}


# --- both header forms -------------------------------------------------------------


async def test_x_api_key_header_authenticates(client, merchant):
    r = await client.post(intents_url(), json=intent_body(), headers={"X-API-Key": merchant.key})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["merchantId"] == merchant.id


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_authorization_bearer_authenticates(client, merchant, scheme):
    r = await client.post(
        intents_url(),
        json=intent_body(),
        headers={"Authorization": f"{scheme} {merchant.key}"},
    )
    assert r.status_code == 201, r.text
    intent_id = r.json()["id"]
    got = await client.get(
        intent_url(intent_id), headers={"Authorization": f"Bearer {merchant.key}"}
    )
    assert got.status_code == 200, got.text
    assert got.json()["data"]["merchantId"] == merchant.id


async def test_both_headers_reach_the_same_objects(client, merchant):
    intent = await create_intent(client, merchant)
    a = await client.get(intent_url(intent["id"]), headers={"X-API-Key": merchant.key})
    b = await client.get(
        intent_url(intent["id"], prefix=API_ALIAS),
        headers={"Authorization": f"Bearer {merchant.key}"},
    )
    assert a.status_code == b.status_code == 200
    assert a.json()["data"] == b.json()["data"]


# --- missing / invalid ---------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", intents_url()),
        ("GET", intents_url()),
        ("GET", intent_url("intent_abc", prefix=API_ALIAS)),
        ("POST", milestones_url("intent_abc")),
        ("GET", order_url("intent_abc")),
        ("GET", order_url("intent_abc", spelling=ORDER_ALIAS)),
        ("POST", cancel_url("intent_abc")),
    ],
)
async def test_missing_key_is_401_authentication_required(client, method, path):
    r = await client.request(
        method, path, json={"milestoneIndex": 0, "amount": "1.00"} if method == "POST" else None
    )
    assert_missing_key(r)


@pytest.mark.parametrize("headers", [{"X-API-Key": ""}, {}])
async def test_empty_key_header_is_missing(client, headers):
    assert_missing_key(await client.post(intents_url(), json=intent_body(), headers=headers))


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "garbage"},
        {"X-API-Key": "sk_test_"},
        {"X-API-Key": "pk_test_" + "a" * 48},
        {"X-API-Key": "sk_hackathon_" + "a" * 48},
        {"X-API-Key": "sk_test_" + "a" * 48},  # well-formed, unknown
        {"X-API-Key": "sk_live_" + "0" * 48},
        {"X-API-Key": "sk_test_" + "a" * 500},
        {"Authorization": "Bearer sk_test_" + "b" * 48},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic c2tfdGVzdF9hYmM6"},
        {"Authorization": "Token sk_test_" + "a" * 48},
    ],
)
async def test_malformed_or_unknown_key_is_401_invalid_api_key(client, headers):
    assert_invalid_key(await client.post(intents_url(), json=intent_body(), headers=headers))
    assert_invalid_key(await client.get(intents_url(), headers=headers))


async def test_a_real_key_with_one_character_changed_is_invalid(client, merchant):
    last = merchant.key[-1]
    tampered = merchant.key[:-1] + ("0" if last != "0" else "1")
    assert_invalid_key(await client.get(intents_url(), headers={"X-API-Key": tampered}))
    # the same key in the other mode's prefix is another (unknown) key
    other_mode = merchant.key.replace("sk_test_", "sk_live_", 1)
    assert_invalid_key(await client.get(intents_url(), headers={"X-API-Key": other_mode}))


async def test_invalid_key_is_rejected_before_the_body_is_looked_at(client):
    r = await client.post(
        intents_url(),
        content=b"{not json",
        headers={"X-API-Key": "sk_test_" + "c" * 48, "Content-Type": "application/json"},
    )
    assert_invalid_key(r)


async def test_revoked_key_is_invalid_at_once(client, app, make_merchant):
    from escrowgate.merchants import revoke_key

    m = await make_merchant()
    intent = await create_intent(client, m)
    async with app.state.session_factory() as session:
        assert await revoke_key(session, m.key_id) is True
        await session.commit()
    assert_invalid_key(await client.get(intent_url(intent["id"]), headers=m.headers))
    assert_invalid_key(
        await client.post(
            intents_url(), json=intent_body(), headers={"Authorization": f"Bearer {m.key}"}
        )
    )
    assert_invalid_key(
        await post_milestone(client, m, intent["id"], {"milestoneIndex": 0, "amount": "1.00"})
    )


async def test_a_revoked_key_does_not_affect_the_merchants_other_keys(
    client, app, merchant, add_key
):
    from escrowgate.merchants import revoke_key

    second = await add_key(merchant, "test")
    intent = await create_intent(client, merchant)
    async with app.state.session_factory() as session:
        await revoke_key(session, merchant.key_id)
        await session.commit()
    r = await client.get(intent_url(intent["id"]), headers=second.headers)
    assert r.status_code == 200, r.text


async def test_public_intent_needs_no_key_even_a_bad_one(client, merchant):
    intent = await create_intent(client, merchant)
    for headers in ({}, {"X-API-Key": "garbage"}):
        r = await client.get(public_intent_url(intent["id"]), headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == intent["id"]


# --- tenancy: another merchant's objects ------------------------------------------------


def assert_forbidden_without_leak(r, intent: dict) -> None:  # type: ignore[no-untyped-def]
    err = assert_error(r, 403, "forbidden", FORBIDDEN, type_=AUTH)
    assert set(err) == {"code", "message", "type"}
    assert set(r.json()) == {"error"}
    text = r.text
    data = intent["data"]
    for secret in (
        intent["id"],
        data["merchantId"],
        data["settlementDestination"],
        data["description"],
        data["amount"],
    ):
        assert secret not in text, secret


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("GET", "", None),
        ("GET", "/escrow", None),
        ("GET", "/conditional-payment", None),
        ("GET", "/escrow/milestones", None),
        ("POST", "/escrow/milestones", {"milestoneIndex": 5, "amount": "1.00"}),
        ("POST", "/cancel", None),
    ],
)
async def test_another_merchants_intent_is_403_and_leaks_nothing(
    client, merchant, other_merchant, method, suffix, body
):
    intent = await create_intent(
        client,
        merchant,
        description="Secret project Zeta",
        settlementDestination="acct_secret_991",
        amount="4321.09",
    )
    r0 = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "100.00"}
    )
    assert r0.status_code == 201, r0.text
    for prefix in PREFIXES:
        r = await client.request(
            method,
            intent_url(intent["id"], suffix, prefix=prefix),
            json=body,
            headers=other_merchant.headers,
        )
        assert_forbidden_without_leak(r, intent)
    # nothing changed for the owner
    owner = await client.get(order_url(intent["id"]), headers=merchant.headers)
    assert owner.status_code == 200
    assert owner.json()["data"]["orderStatus"] == "PENDING"
    assert [m["milestoneIndex"] for m in owner.json()["data"]["milestones"]] == [0]
    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["status"] == "INITIATED"


async def test_another_merchants_milestone_by_id_is_403(client, merchant, other_merchant):
    intent = await create_intent(client, merchant)
    created = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "100.00"}
    )
    mid = created.json()["id"]
    r = await client.get(f"{milestones_url(intent['id'])}/{mid}", headers=other_merchant.headers)
    assert_forbidden_without_leak(r, intent)
    assert mid not in r.text


async def test_another_merchants_intents_are_not_listed(client, make_merchant):
    a = await make_merchant("A")
    b = await make_merchant("B")
    mine = await create_intent(client, a)
    r = await client.get(f"{intents_url()}?limit=100", headers=b.headers)
    assert r.status_code == 200
    assert r.json()["data"] == []
    assert mine["id"] not in r.text


# --- modes -------------------------------------------------------------------------------


async def test_test_key_cannot_see_live_objects_and_vice_versa(client, merchant, add_key):
    live = await add_key(merchant, "live")
    assert live.key.startswith("sk_live_")
    live_intent = await create_intent(client, live)
    assert live_intent["data"]["livemode"] is True
    test_intent = await create_intent(client, merchant)
    assert test_intent["data"]["livemode"] is False

    for suffix in ("", "/escrow", "/escrow/milestones"):
        r = await client.get(intent_url(live_intent["id"], suffix), headers=merchant.headers)
        err = assert_error(r, 404, "resource_missing")
        assert err["message"] == f"Payment intent not found: {live_intent['id']}"
        r = await client.get(intent_url(test_intent["id"], suffix), headers=live.headers)
        assert_error(r, 404, "resource_missing", f"Payment intent not found: {test_intent['id']}")

    r = await post_milestone(
        client, merchant, live_intent["id"], {"milestoneIndex": 0, "amount": "1.00"}
    )
    assert_error(r, 404, "resource_missing")

    listed_test = await client.get(f"{intents_url()}?limit=100", headers=merchant.headers)
    listed_live = await client.get(f"{intents_url()}?limit=100", headers=live.headers)
    assert [i["id"] for i in listed_test.json()["data"]] == [test_intent["id"]]
    assert [i["id"] for i in listed_live.json()["data"]] == [live_intent["id"]]

    own = await client.get(intent_url(live_intent["id"]), headers=live.headers)
    assert own.status_code == 200 and own.json()["data"]["livemode"] is True


# --- Request-Id on every answer -------------------------------------------------------


async def test_request_id_header_on_every_answer(client, merchant):
    intent = await create_intent(client, merchant)
    cases = [
        ("GET", "/health", {}, None),
        ("GET", intents_url(), merchant.headers, None),  # 200
        ("POST", intents_url(), merchant.headers, intent_body()),  # 201
        ("GET", public_intent_url(intent["id"]), {}, None),  # public 200
        ("GET", intents_url(), {}, None),  # 401
        ("GET", intents_url(), {"X-API-Key": "nope"}, None),  # 401
        ("GET", intent_url("intent_missing"), merchant.headers, None),  # 404
        ("GET", "/v1/no-such-route", merchant.headers, None),  # 404
        ("DELETE", intents_url(), merchant.headers, None),  # 405
        ("POST", intents_url(), merchant.headers, {"amount": 1}),  # 400
    ]
    seen = set()
    for method, path, headers, body in cases:
        r = await client.request(method, path, headers=headers, json=body)
        rid = r.headers.get("request-id", "")
        assert rid.startswith("req_") and len(rid) > 8, (method, path, r.status_code)
        seen.add(rid)
    big = await client.post(
        intents_url(),
        content=b"x" * (65 * 1024),
        headers={**merchant.headers, "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.headers["request-id"].startswith("req_")
    seen.add(big.headers["request-id"])
    assert len(seen) == len(cases) + 1  # unique per request


async def test_error_bodies_are_json_objects_with_only_the_envelope(client):
    r = await client.get(intents_url())
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.text) == {
        "error": {
            "code": "authentication_required",
            "message": "API key is required",
            "type": "authentication_error",
        }
    }
