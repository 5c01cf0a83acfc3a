"""Create Milestone: every sentence of create-milestone.txt, plus API.md's additions."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest

from tests.support.driver import (
    EXCEED,
    ISO_Z_RE,
    PREFIXES,
    assert_error,
    create_intent,
    escrow,
    intent_url,
    milestones_url,
    pay_by_card,
    post_milestone,
)

DOC_BODY = {
    "milestoneIndex": 0,
    "description": "Initial payment - 30%",
    "amount": "300.00",
    "percentage": 30,
}
SEED_PLAN = [
    {
        "milestoneIndex": 0,
        "description": "Project kickoff - 20%",
        "amount": "200.00",
        "percentage": 20,
    },
    {
        "milestoneIndex": 1,
        "description": "Mid-point delivery - 50%",
        "amount": "500.00",
        "percentage": 50,
    },
    {
        "milestoneIndex": 2,
        "description": "Final delivery - 30%",
        "amount": "300.00",
        "percentage": 30,
    },
]


async def listed(client, m, intent_id):  # type: ignore[no-untyped-def]
    r = await client.get(milestones_url(intent_id), headers=m.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    return body["data"]


# --- Endpoint, 201, response ---------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_the_documented_request_gets_the_documented_response(client, merchant, prefix):
    """POST /v1/payment-intents/:intentId/escrow/milestones with the page's exact curl body."""
    intent = await create_intent(client, merchant, amount="1000.00")
    order = await escrow(client, merchant, intent["id"])
    before = int(time.time())
    r = await client.post(
        milestones_url(intent["id"], prefix=prefix),
        content=json.dumps(DOC_BODY).encode(),
        headers={"X-API-Key": merchant.key, "Content-Type": "application/json"},
    )
    after = int(time.time())
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "object", "data"}
    assert re.fullmatch(r"milestone_[A-Za-z0-9]+", body["id"])
    assert body["object"] == "milestone"
    d = body["data"]
    documented = {
        "id",
        "conditionalPaymentId",
        "paymentIntentId",
        "milestoneIndex",
        "description",
        "amount",
        "percentage",
        "status",
        "createdAt",
    }
    assert documented <= set(d)
    assert d["id"] == body["id"]
    assert d["conditionalPaymentId"] == order["id"]
    assert d["conditionalPaymentId"].startswith("conditional_payment_")
    assert d["paymentIntentId"] == intent["id"]
    assert d["milestoneIndex"] == 0
    assert d["description"] == "Initial payment - 30%"
    assert d["amount"] == "300.00"
    assert d["percentage"] == 30 and type(d["percentage"]) is int  # `"percentage": 30`
    assert d["status"] == "PENDING"
    assert re.fullmatch(ISO_Z_RE, d["createdAt"]), d["createdAt"]
    created = datetime.strptime(d["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before - 1 <= created.timestamp() <= after + 1


async def test_bearer_auth_works_for_create(client, merchant):
    intent = await create_intent(client, merchant)
    r = await client.post(
        milestones_url(intent["id"]),
        json=DOC_BODY,
        headers={"Authorization": f"Bearer {merchant.key}"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["paymentIntentId"] == intent["id"]
    assert [m["id"] for m in await listed(client, merchant, intent["id"])] == [r.json()["id"]]


async def test_requires_an_api_key(client, merchant):
    intent = await create_intent(client, merchant)
    r = await client.post(milestones_url(intent["id"]), json=DOC_BODY)
    assert_error(
        r, 401, "authentication_required", "API key is required", type_="authentication_error"
    )
    assert await listed(client, merchant, intent["id"]) == []


async def test_description_is_optional(client, merchant):
    intent = await create_intent(client, merchant)
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "100.00"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["description"] is None


# --- Milestone Requirements: MILESTONE_LOCKED only ------------------------------------


@pytest.mark.parametrize(
    "metadata, release_type",
    [
        ({"releaseType": "DELIVERY_PROOF"}, "DELIVERY_PROOF"),
        ({}, "DELIVERY_PROOF"),  # the default
        ({"releaseType": "TIME_LOCKED", "timeLockUntil": "1893456000"}, "TIME_LOCKED"),
        ({"releaseType": "AUTO_RELEASE"}, "AUTO_RELEASE"),
    ],
)
async def test_invalid_release_type_is_the_documented_400(client, merchant, metadata, release_type):
    intent = await create_intent(client, merchant, metadata=metadata)
    r = await post_milestone(client, merchant, intent["id"], DOC_BODY)
    err = assert_error(
        r,
        400,
        "invalid_request",
        f"Cannot create milestone for order with release type: {release_type}",
    )
    assert err["type"] == "invalid_request_error"
    assert (await escrow(client, merchant, intent["id"]))["milestones"] == []


# --- unique index ------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 57, 999])
async def test_duplicate_index_is_the_documented_400(client, merchant, index):
    intent = await create_intent(client, merchant)
    first = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": index, "amount": "100.00"}
    )
    assert first.status_code == 201, first.text
    r = await post_milestone(
        client,
        merchant,
        intent["id"],
        {"milestoneIndex": index, "amount": "50.00", "description": "again"},
    )
    assert_error(r, 400, "invalid_request", f"Milestone with index {index} already exists")
    rows = await listed(client, merchant, intent["id"])
    assert [(m["milestoneIndex"], m["amount"]) for m in rows] == [(index, "100.00")]


async def test_the_same_index_on_another_order_is_fine(client, merchant):
    a = await create_intent(client, merchant)
    b = await create_intent(client, merchant)
    for intent in (a, b):
        r = await post_milestone(client, merchant, intent["id"], DOC_BODY)
        assert r.status_code == 201, r.text
        assert r.json()["data"]["paymentIntentId"] == intent["id"]
        assert r.json()["data"]["milestoneIndex"] == 0


# --- total amount -----------------------------------------------------------------------


async def test_total_may_reach_but_not_exceed_the_order_amount(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    for index, amount in [(0, "999.999998"), (1, "0.000002")]:
        r = await post_milestone(
            client, merchant, intent["id"], {"milestoneIndex": index, "amount": amount}
        )
        assert r.status_code == 201, r.text
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 2, "amount": "0.000001"}
    )
    err = assert_error(r, 400, "invalid_request", EXCEED)
    assert err["type"] == "invalid_request_error"
    rows = await listed(client, merchant, intent["id"])
    assert [m["amount"] for m in rows] == ["999.999998", "0.000002"]


async def test_a_single_milestone_above_the_order_is_rejected(client, merchant):
    intent = await create_intent(client, merchant, amount="100.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "100.000001"}
    )
    assert_error(r, 400, "invalid_request", EXCEED)
    r = await post_milestone(client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "100"})
    assert r.status_code == 201 and r.json()["data"]["amount"] == "100.00"


async def test_exceeding_by_the_last_one_leaves_the_others(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    for body in SEED_PLAN[:2]:
        assert (await post_milestone(client, merchant, intent["id"], body)).status_code == 201
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 2, "amount": "300.01"}
    )
    assert_error(r, 400, "invalid_request", EXCEED)
    r = await post_milestone(client, merchant, intent["id"], SEED_PLAN[2])
    assert r.status_code == 201, r.text


# --- the seed's plans ---------------------------------------------------------------------


async def test_seed_20_50_30_plan(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    ids = []
    for milestone in SEED_PLAN:
        r = await post_milestone(client, merchant, intent["id"], milestone)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["id"].startswith("milestone_")
        for key in ("milestoneIndex", "description", "amount", "percentage"):
            assert created["data"][key] == milestone[key]
        ids.append(created["id"])
    assert len(set(ids)) == 3
    rows = await listed(client, merchant, intent["id"])
    assert [m["id"] for m in rows] == ids
    assert [m["status"] for m in rows] == ["PENDING"] * 3
    order = await escrow(client, merchant, intent["id"])
    assert [(m["milestoneIndex"], m["amount"], m["percentage"]) for m in order["milestones"]] == [
        (0, "200.00", 20),
        (1, "500.00", 50),
        (2, "300.00", 30),
    ]
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 3, "amount": "0.01"}
    )
    assert_error(r, 400, "invalid_request", EXCEED)


@pytest.mark.parametrize("plan", [[30, 40, 30], [25, 25, 25, 25]])
async def test_common_patterns(client, merchant, plan):
    intent = await create_intent(client, merchant, amount="1000.00")
    for index, pct in enumerate(plan):
        r = await post_milestone(
            client,
            merchant,
            intent["id"],
            {
                "milestoneIndex": index,
                "description": f"{pct}%",
                "amount": f"{pct * 10}.00",
                "percentage": pct,
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["data"]["percentage"] == pct
    rows = await listed(client, merchant, intent["id"])
    assert [m["percentage"] for m in rows] == plan
    assert sum(float(m["amount"]) for m in rows) == 1000.0


# --- milestoneIndex type and range -------------------------------------------------------


@pytest.mark.parametrize(
    "index", [1.5, "1", "0", True, False, -1, 1000, 10**6, None, [0], {"i": 0}, "one"]
)
async def test_bad_milestone_index_is_400_with_param(client, merchant, index):
    intent = await create_intent(client, merchant)
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": index, "amount": "1.00"}
    )
    assert_error(r, 400, "invalid_request", param="milestoneIndex")
    assert await listed(client, merchant, intent["id"]) == []


@pytest.mark.parametrize("raw", [b"1.0", b"1e0", b"1E2", b"0.0", b"-0.5"])
async def test_milestone_index_as_float_literal_is_400(client, merchant, raw):
    intent = await create_intent(client, merchant)
    r = await client.post(
        milestones_url(intent["id"]),
        content=b'{"milestoneIndex": ' + raw + b', "amount": "1.00"}',
        headers={**merchant.headers, "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_request", param="milestoneIndex")


@pytest.mark.parametrize("index", [0, 999])
async def test_index_bounds_are_inclusive(client, merchant, index):
    intent = await create_intent(client, merchant)
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": index, "amount": "1.00"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["milestoneIndex"] == index


async def test_at_most_100_milestones(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    for i in range(100):
        r = await post_milestone(
            client, merchant, intent["id"], {"milestoneIndex": i * 3, "amount": "1.00"}
        )
        assert r.status_code == 201, (i, r.text)
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 998, "amount": "1.00"}
    )
    assert_error(r, 400, "invalid_request", param="milestoneIndex")
    rows = await listed(client, merchant, intent["id"])
    assert len(rows) == 100
    assert [m["milestoneIndex"] for m in rows] == [i * 3 for i in range(100)]


# --- percentage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, expected",
    [
        ("333.33", 33.33),
        ("300.00", 30),
        ("100", 10),
        ("0.01", 0),
        ("666.666", 66.67),
        ("1000.00", 100),
        ("0.05", 0.01),
        ("125.5", 12.55),
    ],
)
async def test_percentage_omitted_is_computed_with_two_decimals(client, merchant, amount, expected):
    intent = await create_intent(client, merchant, amount="1000.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": amount}
    )
    assert r.status_code == 201, r.text
    got = r.json()["data"]["percentage"]
    assert got == expected
    assert type(got) is type(expected)
    assert (await listed(client, merchant, intent["id"]))[0]["percentage"] == expected


# A given percentage is stored to 2 decimals, rounded half up like a computed one.
@pytest.mark.parametrize(
    "pct, shown", [(33.33, 33.33), (33.34, 33.34), (33.333, 33.33), (33.325, 33.33)]
)
async def test_percentage_within_a_hundredth_of_a_point_is_accepted(client, merchant, pct, shown):
    intent = await create_intent(client, merchant, amount="1000.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "333.33", "percentage": pct}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["percentage"] == shown


@pytest.mark.parametrize(
    "amount, pct",
    [
        ("300.00", 40),
        ("300.00", 30.02),
        ("333.33", 33.35),
        ("333.33", 33),
        ("1000.00", 99.98),
        ("0.01", 1),
    ],
)
async def test_percentage_disagreeing_with_amount_is_400(client, merchant, amount, pct):
    intent = await create_intent(client, merchant, amount="1000.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": amount, "percentage": pct}
    )
    assert_error(r, 400, "invalid_request", param="percentage")
    assert await listed(client, merchant, intent["id"]) == []


@pytest.mark.parametrize("pct", [-0.01, -1, 100.01, 101, 1e9, "30", "30%", True, [30], {"p": 1}])
async def test_percentage_outside_0_to_100_or_not_a_number_is_400(client, merchant, pct):
    intent = await create_intent(client, merchant, amount="1000.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "300.00", "percentage": pct}
    )
    assert_error(r, 400, "invalid_request", param="percentage")


async def test_percentage_bounds_0_and_100(client, merchant):
    intent = await create_intent(client, merchant, amount="1000000.00")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 0, "amount": "0.01", "percentage": 0}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["percentage"] == 0
    other = await create_intent(client, merchant, amount="50.00")
    r = await post_milestone(
        client, merchant, other["id"], {"milestoneIndex": 0, "amount": "50.00", "percentage": 100}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["percentage"] == 100


# --- not found, forbidden -----------------------------------------------------------------


async def test_unknown_intent_is_404_resource_missing(client, merchant):
    r = await post_milestone(client, merchant, "intent_2xYz9AbC123", DOC_BODY)
    err = assert_error(r, 404, "resource_missing", "Payment intent not found: intent_2xYz9AbC123")
    assert err["type"] == "invalid_request_error"


async def test_another_merchants_intent_is_403(client, merchant, other_merchant):
    intent = await create_intent(client, merchant)
    r = await post_milestone(client, other_merchant, intent["id"], DOC_BODY)
    assert_error(
        r,
        403,
        "forbidden",
        "You do not have access to this payment intent",
        type_="authentication_error",
    )
    assert intent["id"] not in r.text
    assert await listed(client, merchant, intent["id"]) == []


async def test_conditional_intent_has_no_escrow_for_milestones(client, merchant):
    intent = await create_intent(client, merchant, type="CONDITIONAL", metadata={})
    r = await post_milestone(client, merchant, intent["id"], DOC_BODY)
    assert_error(r, 400, "invalid_request", "Payment intent is not of type DELIVERY_VS_PAYMENT")


# --- list and get ------------------------------------------------------------------------


async def test_list_is_ordered_by_index_and_get_returns_one(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    created = {}
    for index in (7, 0, 3, 1):
        r = await post_milestone(
            client,
            merchant,
            intent["id"],
            {"milestoneIndex": index, "amount": "10.00", "description": f"step {index}"},
        )
        assert r.status_code == 201, r.text
        created[index] = r.json()
    for prefix in PREFIXES:
        r = await client.get(milestones_url(intent["id"], prefix), headers=merchant.headers)
        assert r.status_code == 200
        body = r.json()
        assert body["object"] == "list" and body["hasMore"] is False
        assert [m["milestoneIndex"] for m in body["data"]] == [0, 1, 3, 7]
        assert [m["id"] for m in body["data"]] == [created[i]["id"] for i in (0, 1, 3, 7)]
    for index, c in created.items():
        r = await client.get(f"{milestones_url(intent['id'])}/{c['id']}", headers=merchant.headers)
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["id"] == c["id"] and got["object"] == "milestone"
        assert {k: got["data"][k] for k in c["data"]} == c["data"]
        assert got["data"]["description"] == f"step {index}"


async def test_get_unknown_milestone_is_404(client, merchant):
    intent = await create_intent(client, merchant)
    r = await client.get(
        f"{milestones_url(intent['id'])}/milestone_xyz789", headers=merchant.headers
    )
    assert_error(r, 404, "resource_missing", "Milestone not found")


async def test_a_milestone_is_only_found_under_its_own_intent(client, merchant):
    a = await create_intent(client, merchant)
    b = await create_intent(client, merchant)
    mid = (await post_milestone(client, merchant, a["id"], DOC_BODY)).json()["id"]
    r = await client.get(f"{milestones_url(b['id'])}/{mid}", headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Milestone not found")


async def test_list_of_unknown_intent_is_404(client, merchant):
    r = await client.get(milestones_url("intent_nothing"), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_nothing")


# --- before and after funding ---------------------------------------------------------


async def test_milestones_may_be_created_before_funding(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    order = await escrow(client, merchant, intent["id"])
    assert order["fundedAt"] is None and order["heldAmount"] == "0.00"
    r = await post_milestone(client, merchant, intent["id"], SEED_PLAN[0])
    assert r.status_code == 201, r.text
    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["status"] == "INITIATED"  # creating a milestone funds nothing


async def test_milestones_may_also_be_created_after_funding(client, merchant):
    intent = await create_intent(client, merchant, amount="1000.00")
    assert (await post_milestone(client, merchant, intent["id"], SEED_PLAN[0])).status_code == 201
    paid = await pay_by_card(client, intent["id"])
    assert paid.status_code == 200, paid.text
    order = await escrow(client, merchant, intent["id"])
    assert order["heldAmount"] == "1000.00"
    for body in SEED_PLAN[1:]:
        r = await post_milestone(client, merchant, intent["id"], body)
        assert r.status_code == 201, r.text
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 3, "amount": "0.01"}
    )
    assert_error(r, 400, "invalid_request", EXCEED)


async def test_index_below_a_completed_milestone_is_rejected(client, merchant):
    """Milestones are processed in order: one that could never be processed is refused."""
    intent = await create_intent(client, merchant, amount="1000.00")
    first = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 5, "amount": "100.00"}
    )
    assert (await pay_by_card(client, intent["id"])).status_code == 200
    done = await client.post(
        f"{milestones_url(intent['id'])}/{first.json()['id']}/complete",
        json={"completedBy": "0x" + "ab" * 20},
        headers=merchant.headers,
    )
    assert done.status_code == 200, done.text
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 4, "amount": "100.00"}
    )
    assert_error(r, 400, "invalid_request", param="milestoneIndex")
    r = await post_milestone(
        client, merchant, intent["id"], {"milestoneIndex": 6, "amount": "100.00"}
    )
    assert r.status_code == 201, r.text


# --- idempotency of the create ------------------------------------------------------------


async def test_idempotent_retry_creates_one_milestone(client, merchant):
    intent = await create_intent(client, merchant)
    headers = {**merchant.headers, "Idempotency-Key": f"ms-{intent['id']}"}
    first = await client.post(milestones_url(intent["id"]), json=DOC_BODY, headers=headers)
    again = await client.post(milestones_url(intent["id"]), json=DOC_BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(await listed(client, merchant, intent["id"])) == 1


async def test_a_rejected_create_stores_nothing_under_its_idempotency_key(client, merchant):
    """A request rejected by validation stores nothing: the corrected retry is processed."""
    intent = await create_intent(client, merchant, amount="1000.00")
    headers = {**merchant.headers, "Idempotency-Key": f"retry-{intent['id']}"}
    bad = await client.post(
        milestones_url(intent["id"]),
        headers=headers,
        json={"milestoneIndex": 0, "amount": "1000.01"},
    )
    assert_error(bad, 400, "invalid_request", EXCEED)
    assert "idempotent-replayed" not in bad.headers
    good = await client.post(
        milestones_url(intent["id"]),
        headers=headers,
        json={"milestoneIndex": 0, "amount": "1000.00"},
    )
    assert good.status_code == 201, good.text
    assert good.json()["data"]["percentage"] == 100


@pytest.mark.parametrize(
    "description, ok",
    [
        ("d" * 1000, True),
        ("d" * 1001, False),
        ("", False),
        ("   ", False),
        ("a\x00b", False),
        (7, False),
    ],
)
async def test_description_rules(client, merchant, description, ok):
    intent = await create_intent(client, merchant)
    r = await post_milestone(
        client,
        merchant,
        intent["id"],
        {"milestoneIndex": 0, "amount": "1.00", "description": description},
    )
    if ok:
        assert r.status_code == 201, r.text
        assert r.json()["data"]["description"] == description
    else:
        assert_error(r, 400, "invalid_request", param="description")
