"""Create Milestone under concurrency: "Under any concurrency the sum of an order's
milestones never exceeds its amount and an index exists once" (API.md §2).

Every request runs concurrently through the ASGI client (asyncio.gather), and each
opens its own session, so each gets its own database connection: on PostgreSQL these
are real parallel transactions."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

from tests.support.driver import EXCEED, create_intent, escrow, milestones_url

DOCUMENTED_400 = {"code": "invalid_request", "type": "invalid_request_error"}


async def fire(client, m, intent_id, bodies):  # type: ignore[no-untyped-def]
    url = milestones_url(intent_id)
    return await asyncio.wait_for(
        asyncio.gather(*(client.post(url, json=b, headers=m.headers) for b in bodies)),
        timeout=60,
    )


async def test_parallel_creates_never_exceed_the_order_amount(client, make_merchant):
    m = await make_merchant()
    intent = await create_intent(client, m, amount="1000.00")
    # 50 distinct indexes, 10.00 to 59.00 each: 1725.00 in all, far past the 1000.00 order
    bodies = [
        {"milestoneIndex": i, "amount": f"{10 + i}.00", "description": f"part {i}"}
        for i in range(50)
    ]
    assert sum(Decimal(b["amount"]) for b in bodies) > Decimal("1000.00")
    responses = await fire(client, m, intent["id"], bodies)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 400}, {r.status_code: r.text for r in responses}
    assert statuses[201] > 0 and statuses[400] > 0
    created = {}
    for body, r in zip(bodies, responses, strict=True):
        assert r.headers["request-id"].startswith("req_")
        if r.status_code == 201:
            data = r.json()["data"]
            assert data["milestoneIndex"] == body["milestoneIndex"]
            assert data["amount"] == body["amount"]
            created[data["id"]] = Decimal(data["amount"])
        else:
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert {k: err[k] for k in ("code", "type", "message")} == {
                **DOCUMENTED_400,
                "message": EXCEED,
            }
            assert err.get("param") in (None, "amount")

    total = sum(created.values())
    assert total <= Decimal("1000.00")
    # every rejected one really did not fit at the moment it was decided, so the
    # cheapest rejected milestone would not fit on top of what was created
    cheapest_rejected = min(
        Decimal(b["amount"]) for b, r in zip(bodies, responses, strict=True) if r.status_code == 400
    )
    assert total + cheapest_rejected > Decimal("1000.00")

    order = await escrow(client, m, intent["id"])
    stored = {ms["id"]: Decimal(ms["amount"]) for ms in order["milestones"]}
    assert stored == created  # what was answered 201 is exactly what is stored
    indexes = [ms["milestoneIndex"] for ms in order["milestones"]]
    assert len(indexes) == len(set(indexes))

    # the order still accepts exactly what is left, and not a micro-unit more
    left = Decimal("1000.00") - total
    if left > 0:
        too_much = f"{left + Decimal('0.000001')}"
        over = await client.post(
            milestones_url(intent["id"]),
            headers=m.headers,
            json={"milestoneIndex": 900, "amount": too_much},
        )
        assert over.status_code == 400 and over.json()["error"]["message"] == EXCEED
        fit = await client.post(
            milestones_url(intent["id"]),
            headers=m.headers,
            json={"milestoneIndex": 900, "amount": f"{left}"},
        )
        assert fit.status_code == 201, fit.text


async def test_parallel_creates_filling_the_order_exactly(client, make_merchant):
    """40 x 25.00 on a 1000.00 order: all fit exactly, so all must succeed."""
    m = await make_merchant()
    intent = await create_intent(client, m, amount="1000.00")
    bodies = [{"milestoneIndex": i, "amount": "25.00"} for i in range(40)]
    responses = await fire(client, m, intent["id"], bodies)
    assert [r.status_code for r in responses] == [201] * 40, [
        r.text for r in responses if r.status_code != 201
    ]
    order = await escrow(client, m, intent["id"])
    assert len(order["milestones"]) == 40
    assert sum(Decimal(ms["amount"]) for ms in order["milestones"]) == Decimal("1000.00")
    extra = await client.post(
        milestones_url(intent["id"]),
        headers=m.headers,
        json={"milestoneIndex": 40, "amount": "0.000001"},
    )
    assert extra.status_code == 400 and extra.json()["error"]["message"] == EXCEED


async def test_parallel_creates_of_one_index_make_exactly_one(client, make_merchant):
    m = await make_merchant()
    intent = await create_intent(client, m, amount="1000.00")
    bodies = [
        {"milestoneIndex": 3, "amount": f"{i + 1}.00", "description": f"try {i}"} for i in range(20)
    ]
    responses = await fire(client, m, intent["id"], bodies)

    ok = [(b, r) for b, r in zip(bodies, responses, strict=True) if r.status_code == 201]
    failed = [r for r in responses if r.status_code != 201]
    assert len(ok) == 1, [r.text for r in responses]
    assert len(failed) == 19
    for r in failed:
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid_request"
        assert err["type"] == "invalid_request_error"
        assert err["message"] == "Milestone with index 3 already exists"

    winner_body, winner = ok[0]
    order = await escrow(client, m, intent["id"])
    assert [(ms["id"], ms["milestoneIndex"], ms["amount"]) for ms in order["milestones"]] == [
        (winner.json()["id"], 3, winner_body["amount"])
    ]


async def test_parallel_mixed_duplicates_and_overflow(client, make_merchant):
    """Indexes 0..9 each requested 5 times at 150.00: at most one per index, and at most
    six fit in 1000.00."""
    m = await make_merchant()
    intent = await create_intent(client, m, amount="1000.00")
    bodies = [{"milestoneIndex": i % 10, "amount": "150.00"} for i in range(50)]
    responses = await fire(client, m, intent["id"], bodies)
    assert {r.status_code for r in responses} <= {201, 400}
    messages = Counter(r.json()["error"]["message"] for r in responses if r.status_code == 400)
    allowed = {EXCEED} | {f"Milestone with index {i} already exists" for i in range(10)}
    assert set(messages) <= allowed, messages
    order = await escrow(client, m, intent["id"])
    indexes = [ms["milestoneIndex"] for ms in order["milestones"]]
    assert len(indexes) == len(set(indexes)) == 6  # 6 x 150.00 = 900.00 <= 1000.00 < 1050.00
    assert sum(1 for r in responses if r.status_code == 201) == 6
