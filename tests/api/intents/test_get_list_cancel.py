"""Payment intents: get, list, public get, cancel, and the conditional payment behind a
DELIVERY_VS_PAYMENT intent (API.md §2)."""

from __future__ import annotations

import re
import time

import pytest

from tests.support.driver import (
    API_ALIAS,
    ISO_Z_RE,
    PREFIXES,
    assert_error,
    cancel_url,
    create_intent,
    escrow,
    intent_url,
    intents_url,
    order_url,
    post_milestone,
    public_intent_url,
)


def assert_recent(ts: object) -> None:
    assert isinstance(ts, int) and not isinstance(ts, bool)
    assert abs(ts - time.time()) < 120, ts


# --- get --------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_get_returns_the_intent(client, merchant, prefix):
    intent = await create_intent(client, merchant, amount="42.5")
    r = await client.get(intent_url(intent["id"], prefix=prefix), headers=merchant.headers)
    assert r.status_code == 200, r.text
    env = r.json()
    assert {"id", "object", "status", "data", "created", "updated"} <= set(env)
    assert env["id"] == intent["id"] and env["object"] == "payment_intent"
    assert env["data"] == intent["data"]
    assert env["data"]["amount"] == "42.50"


async def test_get_unknown_intent_is_404(client, merchant):
    r = await client.get(intent_url("intent_doesnotexist"), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_doesnotexist")


# --- list -------------------------------------------------------------------------------


async def test_list_pagination_and_filters(client, make_merchant):
    m = await make_merchant()
    created = []
    for i in range(7):
        type_ = "CONDITIONAL" if i % 3 == 0 else "DELIVERY_VS_PAYMENT"
        metadata = {} if type_ == "CONDITIONAL" else {"releaseType": "MILESTONE_LOCKED"}
        created.append(
            await create_intent(client, m, type=type_, metadata=metadata, amount=f"{i + 1}.00")
        )
    canceled = created[1]["id"]
    r = await client.post(cancel_url(canceled), headers=m.headers)
    assert r.status_code == 200, r.text
    newest_first = [c["id"] for c in reversed(created)]

    async def page(query: str) -> dict:
        r = await client.get(f"{intents_url()}?{query}", headers=m.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "list"
        return body

    body = await page("")
    assert [i["id"] for i in body["data"]] == newest_first
    assert body["hasMore"] is False
    assert body["data"][0]["object"] == "payment_intent"
    assert body["data"][0]["amount"] == "7.00"

    # forward with starting_after
    p1 = await page("limit=3")
    assert [i["id"] for i in p1["data"]] == newest_first[:3] and p1["hasMore"] is True
    p2 = await page(f"limit=3&starting_after={p1['data'][-1]['id']}")
    assert [i["id"] for i in p2["data"]] == newest_first[3:6] and p2["hasMore"] is True
    p3 = await page(f"limit=3&starting_after={p2['data'][-1]['id']}")
    assert [i["id"] for i in p3["data"]] == newest_first[6:] and p3["hasMore"] is False

    # backward with ending_before: the page just before, still newest first
    back = await page(f"limit=2&ending_before={newest_first[5]}")
    assert [i["id"] for i in back["data"]] == newest_first[3:5] and back["hasMore"] is True
    back = await page(f"limit=10&ending_before={newest_first[2]}")
    assert [i["id"] for i in back["data"]] == newest_first[:2] and back["hasMore"] is False
    first = await page(f"ending_before={newest_first[0]}")
    assert first["data"] == [] and first["hasMore"] is False

    # filters
    conditional = [c["id"] for c in reversed(created) if c["data"]["type"] == "CONDITIONAL"]
    dvp = [c["id"] for c in reversed(created) if c["data"]["type"] == "DELIVERY_VS_PAYMENT"]
    assert [i["id"] for i in (await page("type=CONDITIONAL"))["data"]] == conditional
    assert [i["id"] for i in (await page("type=DELIVERY_VS_PAYMENT"))["data"]] == dvp
    assert [i["id"] for i in (await page("status=CANCELED"))["data"]] == [canceled]
    initiated = [i for i in newest_first if i != canceled]
    assert [i["id"] for i in (await page("status=INITIATED"))["data"]] == initiated
    both = await page("status=INITIATED&type=DELIVERY_VS_PAYMENT&limit=2")
    assert [i["id"] for i in both["data"]] == [i for i in dvp if i != canceled][:2]
    assert both["hasMore"] is True
    assert (await page("status=SETTLED"))["data"] == []

    # limit bounds and the default of 10
    assert len((await page("limit=1"))["data"]) == 1
    assert len((await page("limit=100"))["data"]) == 7


async def test_list_default_limit_is_ten(client, make_merchant):
    m = await make_merchant()
    for _ in range(11):
        await create_intent(client, m)
    r = await client.get(intents_url(prefix=API_ALIAS), headers=m.headers)
    assert len(r.json()["data"]) == 10 and r.json()["hasMore"] is True


async def test_list_rejects_both_cursors(client, merchant):
    r = await client.get(
        f"{intents_url()}?starting_after=intent_a&ending_before=intent_b",
        headers=merchant.headers,
    )
    assert_error(r, 400, "invalid_request", param="ending_before")


# --- public get ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_public_get_shows_only_what_a_payment_page_needs(client, make_merchant, prefix):
    m = await make_merchant("Payee Studio")
    intent = await create_intent(
        client,
        m,
        description="Logo design",
        settlementDestination="acct_private_123",
        metadata={"releaseType": "MILESTONE_LOCKED", "internalNote": "secret-note-xyz"},
    )
    r = await post_milestone(
        client,
        m,
        intent["id"],
        {"milestoneIndex": 0, "amount": "300.00", "description": "Sketches"},
    )
    assert r.status_code == 201
    r = await client.get(public_intent_url(intent["id"], prefix=prefix))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == intent["id"] and body["status"] == "INITIATED"
    d = body["data"]
    assert d["amount"] == "1000.00"
    assert d["currency"] == "USDC"
    assert d["description"] == "Logo design"
    assert d["merchantName"] == "Payee Studio"
    assert d["status"] == "INITIATED"
    assert d["typedData"] == intent["data"]["typedData"]
    assert d["milestones"] == [
        {
            "milestoneIndex": 0,
            "description": "Sketches",
            "amount": "300.00",
            "percentage": 30,
            "status": "PENDING",
        }
    ]
    for private in (
        "settlementDestination",
        "metadata",
        "merchantId",
        "settlementMethod",
        "signature",
        "signerAddress",
    ):
        assert private not in d, private
        assert private not in body, private
    assert "acct_private_123" not in r.text
    assert "secret-note-xyz" not in r.text
    assert m.id not in r.text


async def test_public_get_of_unknown_intent_is_404(client):
    r = await client.get(public_intent_url("intent_nope"))
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_nope")


# --- cancel -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_cancel_initiated_intent(client, merchant, prefix):
    intent = await create_intent(client, merchant)
    ok = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "100.00"}
    )
    assert ok.status_code == 201
    r = await client.post(cancel_url(intent["id"], prefix=prefix), headers=merchant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELED"
    assert r.json()["data"]["status"] == "CANCELED"

    again = await client.post(cancel_url(intent["id"], prefix=prefix), headers=merchant.headers)
    assert_error(
        again, 400, "invalid_state_transition", "Cannot transition from CANCELED to CANCELED"
    )

    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["status"] == "CANCELED"
    order = await escrow(client, merchant, intent["id"])
    assert order["orderStatus"] == "CANCELLED"

    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 1, "amount": "100.00"}
    )
    err = assert_error(r, 400, "invalid_status")
    assert "CANCELLED" in err["message"]
    order = await escrow(client, merchant, intent["id"])
    assert [ms["milestoneIndex"] for ms in order["milestones"]] == [0]


async def test_cancel_conditional_intent(client, merchant):
    intent = await create_intent(client, merchant, type="CONDITIONAL", metadata={})
    r = await client.post(cancel_url(intent["id"]), headers=merchant.headers)
    assert r.status_code == 200 and r.json()["status"] == "CANCELED"


async def test_cancel_unknown_intent_is_404(client, merchant):
    r = await client.post(cancel_url("intent_unknown1"), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_unknown1")


# --- the conditional payment ---------------------------------------------------------


async def test_escrow_and_conditional_payment_return_the_same_order(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "250.00", "percentage": 25}
    )
    mid = r.json()["id"]
    bodies = []
    for prefix in PREFIXES:
        for path in ("escrow", "conditional-payment"):
            r = await client.get(
                intent_url(intent["id"], f"/{path}", prefix=prefix), headers=merchant.headers
            )
            assert r.status_code == 200, r.text
            body = r.json()
            # /escrow names it "escrow_order" (older docs, hackathon collection).
            name = "escrow_order" if path == "escrow" else "conditional_payment"
            assert body["object"] == body["data"]["object"] == name
            body["object"] = body["data"]["object"] = "conditional_payment"
            bodies.append(body)
    assert all(b == bodies[0] for b in bodies)
    env = bodies[0]
    assert set(env) == {"id", "object", "data"}
    assert env["object"] == "conditional_payment"
    assert env["id"].startswith("conditional_payment_")
    d = env["data"]
    assert d["id"] == env["id"]
    assert d["paymentIntentId"] == intent["id"]
    assert d["amount"] == "1000.00"
    assert d["releasedAmount"] == "0.00"
    assert d["refundedAmount"] == "0.00"
    assert d["heldAmount"] == "0.00"  # nothing funded yet
    assert d["fundedAt"] is None
    assert d["orderStatus"] == "PENDING"
    assert d["releaseType"] == "MILESTONE_LOCKED"
    assert [m["id"] for m in d["milestones"]] == [mid]
    assert d["deliveryProofs"] == []
    assert re.fullmatch(ISO_Z_RE, d["createdAt"]) and re.fullmatch(ISO_Z_RE, d["updatedAt"])


async def test_escrow_of_a_conditional_intent_is_400(client, merchant):
    intent = await create_intent(client, merchant, type="CONDITIONAL", metadata={})
    for prefix in PREFIXES:
        for path in ("escrow", "conditional-payment", "escrow/milestones"):
            r = await client.get(
                intent_url(intent["id"], f"/{path}", prefix=prefix), headers=merchant.headers
            )
            assert_error(
                r, 400, "invalid_request", "Payment intent is not of type DELIVERY_VS_PAYMENT"
            )


async def test_escrow_of_unknown_intent_is_404(client, merchant):
    r = await client.get(order_url("intent_zzz"), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_zzz")
