"""Tenancy and modes: for every route, merchant B using merchant A's ids gets the
documented 403 and changes nothing; test keys never see live objects; revoked keys
fail at once."""

from __future__ import annotations

import pytest

from tests.support.driver import (
    FORBIDDEN,
    ORDER_ALIAS,
    advance_clock_url,
    approve_url,
    assert_error,
    cancel_url,
    confirm_url,
    create_intent,
    delivery_proof_url,
    dispute_url,
    escrow,
    events_url,
    intent_url,
    intents_url,
    milestone_url,
    milestones_url,
    order_url,
    pay_by_card,
    refund_url,
    resolve_url,
)


def routes(iid: str, mid: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", intent_url(iid), None),
        ("POST", cancel_url(iid), None),
        (
            "POST",
            confirm_url(iid),
            {"signature": "0x" + "11" * 65, "payerAddress": "0x" + "22" * 20},
        ),
        ("GET", order_url(iid), None),
        ("GET", order_url(iid, spelling=ORDER_ALIAS), None),
        ("GET", milestones_url(iid), None),
        ("POST", milestones_url(iid), {"milestoneIndex": 5, "amount": "1.00"}),
        ("GET", milestone_url(iid, mid), None),
        ("POST", milestone_url(iid, mid, "complete"), {"completedBy": "x"}),
        ("POST", milestone_url(iid, mid, "approve"), {"signature": "0x" + "11" * 65}),
        (
            "POST",
            delivery_proof_url(iid),
            {"proofHash": "0x" + "1" * 64, "submittedBy": "x"},
        ),
        (
            "POST",
            delivery_proof_url(iid, spelling=ORDER_ALIAS),
            {"proofHash": "0x" + "1" * 64, "submittedBy": "x"},
        ),
        ("POST", approve_url(iid), {"signature": "0x" + "11" * 65}),
        ("POST", dispute_url(iid), {"reason": "r", "raisedBy": "x"}),
        (
            "POST",
            dispute_url(iid, spelling=ORDER_ALIAS),
            {"reason": "r", "raisedBy": "x"},
        ),
        ("POST", resolve_url(iid), {"resolution": "BUYER_WON"}),
        ("POST", refund_url(iid), {"amount": "1.00"}),
        ("POST", advance_clock_url(iid), {"seconds": 60}),
    ]


@pytest.fixture
async def victim(client, make_merchant):
    a = await make_merchant(name="Victim Ltd")
    iid = (await create_intent(client, a))["id"]
    r = await client.post(
        milestones_url(iid),
        json={"milestoneIndex": 0, "amount": "100.00"},
        headers=a.headers,
    )
    mid = r.json()["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    return a, iid, mid


async def snapshot(client, a, iid):
    intent = (await client.get(intent_url(iid), headers=a.headers)).json()
    events = (await client.get(f"{events_url()}?limit=100", headers=a.headers)).json()["data"]
    return intent, await escrow(client, a, iid), [e["id"] for e in events]


async def test_every_route_forbids_another_merchant(client, make_merchant, victim):
    a, iid, mid = victim
    b = await make_merchant(name="Intruder Inc")
    before = await snapshot(client, a, iid)
    for method, path, body in routes(iid, mid):
        r = await client.request(method, path, json=body, headers=b.headers)
        err = assert_error(r, 403, "forbidden", FORBIDDEN, type_="authentication_error")
        assert iid not in r.text and "Victim" not in r.text, (method, path)
        assert set(err) <= {"code", "message", "type", "param"}
    assert await snapshot(client, a, iid) == before
    r = await client.get(intents_url(), headers=b.headers)
    assert r.json()["data"] == []


async def test_test_key_never_sees_live_objects(client, make_merchant):
    m_live = await make_merchant(mode="live")
    live_iid = (await create_intent(client, m_live))["id"]
    m_test = await make_merchant()
    for method, path, body in routes(live_iid, "milestone_x")[:8]:
        r = await client.request(method, path, json=body, headers=m_test.headers)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "resource_missing"


async def test_live_key_gets_404_for_the_test_clock(client, make_merchant):
    m_live = await make_merchant(mode="live")
    iid = (await create_intent(client, m_live))["id"]
    r = await client.post(
        advance_clock_url(iid),
        json={"seconds": 60},
        headers=m_live.headers,
    )
    assert_error(r, 404, "resource_missing")


async def test_revoked_key_fails_at_once(client, app, make_merchant):
    from escrowgate.merchants import revoke_key

    m = await make_merchant()
    assert (await client.get(intents_url(), headers=m.headers)).status_code == 200
    async with app.state.session_factory() as s:
        assert await revoke_key(s, m.key_id)
        await s.commit()
    r = await client.get(intents_url(), headers=m.headers)
    assert_error(r, 401, "invalid_api_key", "Invalid API key", type_="authentication_error")
