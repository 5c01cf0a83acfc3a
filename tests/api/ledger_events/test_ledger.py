"""The ledger (balances, entries, filters, cursors) and the event log of a money flow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from tests.support.driver import (
    API_ALIAS,
    ZERO,
    add_milestone,
    assert_error,
    audit_clean,
    balance,
    balance_url,
    cancel_url,
    complete,
    create_intent,
    event_url,
    events_url,
    intents_url,
    kinds,
    ledger_entries,
    ledger_url,
    list_all,
    milestone_url,
    order_url,
    pay_by_card,
    sign,
    transactions,
)


async def money_flow(client: httpx.AsyncClient, m: Any) -> dict[str, Any]:
    """A: 1000.00 DvP, autoRelease, milestones 300 + 700, funded, first milestone released.
    B: 50.00 CONDITIONAL, paid (straight to the merchant)."""
    a = (await create_intent(client, m, autoRelease=True))["id"]
    m0 = await add_milestone(client, m, a, 0, "300.00")
    m1 = await add_milestone(client, m, a, 1, "700.00")
    assert (await pay_by_card(client, a)).status_code == 200
    assert (await complete(client, m, a, m0))["data"]["status"] == "RELEASED"
    b = (await create_intent(client, m, amount="50.00", type="CONDITIONAL", metadata=None))["id"]
    r = await pay_by_card(client, b)
    assert r.status_code == 200 and r.json()["status"] == "SETTLED", r.text
    return {"a": a, "b": b, "m0": m0, "m1": m1}


def account_sums(entries: list[dict[str, Any]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for e in entries:
        out[e["account"]] = out.get(e["account"], ZERO) + Decimal(e["amount"])
    return out


# --- Balances and ledger entries ----------------------------------------------------


async def test_balance_and_entries_agree_at_both_documented_paths(client, app, make_merchant):
    m = await make_merchant()
    flow = await money_flow(client, m)

    answers = []
    for path in (
        balance_url(),
        balance_url(under_intents=True),
        balance_url(prefix=API_ALIAS),
    ):
        r = await client.get(path, headers=m.headers)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[0] == answers[1] == answers[2]
    body = answers[0]
    assert body["object"] == "balance" and body["livemode"] is False
    assert body["data"] == {
        # The primary currency, where the reference backend puts it...
        "availableBalance": "350.00",
        "pendingBalance": "0.00",
        "reservedBalance": "700.00",
        "totalBalance": "1050.00",
        "currency": "USDC",
        # ...and every currency.
        "balances": [
            {
                "currency": "USDC",
                "reservedBalance": "700.00",
                "pendingBalance": "0.00",
                "availableBalance": "350.00",
                "totalBalance": "1050.00",
            }
        ],
    }

    entries = await ledger_entries(client, m)
    other_path = await list_all(client, m, ledger_url(under_intents=True))
    assert entries == other_path
    assert len(entries) == 10
    assert all(e["object"] == "ledger_entry" and e["id"].startswith("le_") for e in entries)
    assert all(e["currency"] == "USDC" for e in entries)
    txns = transactions(entries)  # asserts every transaction's two legs sum to zero
    assert len(txns) == 5
    assert kinds(entries) == ["FUND", "FUND", "RELEASE", "SETTLE", "SETTLE"]
    # The balance is exactly what the entries add up to.
    sums = account_sums(entries)
    assert sums == {
        "escrow": Decimal("700.00"),
        "merchant_pending": ZERO,
        "merchant_settled": Decimal("350.00"),
        "payer": Decimal("-1050.00"),
    }
    assert sum(sums.values()) == ZERO

    release = [e for e in entries if e["transactionType"] == "RELEASE"]
    assert {e["account"]: e["amount"] for e in release} == {
        "merchant_pending": "300.00",
        "escrow": "-300.00",
    }
    assert all(
        e["referenceId"] == flow["m0"] and e["paymentIntentId"] == flow["a"] for e in release
    )
    order_id = release[0]["conditionalPaymentId"]
    assert order_id.startswith("conditional_payment_")
    a_entries = [e for e in entries if e["paymentIntentId"] == flow["a"]]
    assert {e["conditionalPaymentId"] for e in a_entries} == {order_id}
    # Newest first: ids descending, and the release listed before the funding it spends.
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    types_a = [e["transactionType"] for e in a_entries]
    assert types_a == ["SETTLE", "SETTLE", "RELEASE", "RELEASE", "FUND", "FUND"]
    await audit_clean(app)


async def test_ledger_filters(client, app, make_merchant):
    m = await make_merchant()
    flow = await money_flow(client, m)

    a = await ledger_entries(client, m, paymentIntentId=flow["a"])
    assert len(a) == 6 and {e["paymentIntentId"] for e in a} == {flow["a"]}
    assert kinds(a) == ["FUND", "RELEASE", "SETTLE"]
    b = await ledger_entries(client, m, paymentIntentId=flow["b"])
    assert len(b) == 4 and kinds(b) == ["FUND", "SETTLE"]

    settles = await ledger_entries(client, m, transactionType="SETTLE")
    assert len(settles) == 4 and {e["transactionType"] for e in settles} == {"SETTLE"}
    assert sum(Decimal(e["amount"]) for e in settles if e["amount"][0] != "-") == Decimal("350.00")
    both = await ledger_entries(client, m, paymentIntentId=flow["b"], transactionType="FUND")
    assert {e["account"]: e["amount"] for e in both} == {
        "merchant_pending": "50.00",
        "payer": "-50.00",
    }
    assert await ledger_entries(client, m, transactionType="REFUND") == []
    assert await ledger_entries(client, m, paymentIntentId="intent_unknown") == []

    r = await client.get(ledger_url(), params={"transactionType": "CREDIT"}, headers=m.headers)
    assert_error(r, 400, "invalid_request", param="transactionType")
    for limit in (0, 101, "ten"):
        r = await client.get(ledger_url(), params={"limit": limit}, headers=m.headers)
        assert_error(r, 400, "invalid_request", param="limit")
    r = await client.get(ledger_url())
    assert_error(
        r, 401, "authentication_required", "API key is required", type_="authentication_error"
    )
    r = await client.get(balance_url())
    assert_error(
        r, 401, "authentication_required", "API key is required", type_="authentication_error"
    )


async def test_ledger_cursors(client, app, make_merchant):
    m = await make_merchant()
    await money_flow(client, m)
    everything = [e["id"] for e in await ledger_entries(client, m)]
    assert len(everything) == 10

    r = await client.get(ledger_url(), headers=m.headers)
    assert len(r.json()["data"]) == 10 and r.json()["hasMore"] is False  # default limit 10

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["starting_after"] = cursor
        r = await client.get(ledger_url(), params=params, headers=m.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append([e["id"] for e in page["data"]])
        if not page["hasMore"]:
            break
        cursor = page["data"][-1]["id"]
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [i for p in pages for i in p] == everything

    # ending_before walks back: the page before the second page is the first page.
    r = await client.get(
        ledger_url(),
        headers=m.headers,
        params={"limit": 3, "ending_before": pages[1][0]},
    )
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()["data"]] == pages[0]
    assert r.json()["hasMore"] is False
    r = await client.get(
        ledger_url(),
        headers=m.headers,
        params={"limit": 2, "ending_before": pages[2][0]},
    )
    assert [e["id"] for e in r.json()["data"]] == pages[1][1:]
    assert r.json()["hasMore"] is True
    # Cursor and filter together.
    r = await client.get(
        ledger_url(),
        headers=m.headers,
        params={"transactionType": "FUND", "starting_after": everything[0], "limit": 100},
    )
    fund_ids = [e["id"] for e in await ledger_entries(client, m, transactionType="FUND")]
    assert [e["id"] for e in r.json()["data"]] == fund_ids


async def test_another_merchant_sees_nothing(client, app, make_merchant):
    m, other = await make_merchant(), await make_merchant("Someone Else")
    flow = await money_flow(client, m)
    assert await ledger_entries(client, other) == []
    assert await ledger_entries(client, other, paymentIntentId=flow["a"]) == []
    r = await client.get(balance_url(), headers=other.headers)
    assert r.status_code == 200 and r.json()["data"]["balances"] == []
    assert r.json()["data"]["totalBalance"] == "0.00"
    b = await balance(client, other)
    assert b["totalBalance"] == ZERO
    # A live key of a merchant sees none of the test-mode money either.
    live = await make_merchant("Live Shop", mode="live")
    assert await ledger_entries(client, live) == []
    r = await client.get(balance_url(), headers=live.headers)
    zero = "0.00"
    assert r.json() == {
        "object": "balance",
        "livemode": True,
        "data": {
            "availableBalance": zero,
            "pendingBalance": zero,
            "reservedBalance": zero,
            "totalBalance": zero,
            "currency": "USDC",  # no intent in this mode yet: the default primary currency
            "balances": [],
        },
    }


# --- Events ---------------------------------------------------------------------------


FLOW_TYPES = {
    "payment_intent.created",
    "payment_intent.status_changed",
    "escrow_order.created",
    "milestone.created",
    "milestone.completed",
    "milestone.released",
}


async def test_events_of_a_flow_newest_first(client, app, make_merchant):
    m = await make_merchant()
    a = (await create_intent(client, m, autoRelease=True))["id"]
    m0 = await add_milestone(client, m, a, 0, "300.00")
    m1 = await add_milestone(client, m, a, 1, "700.00")
    assert (await pay_by_card(client, a)).status_code == 200
    await complete(client, m, a, m0)
    await complete(client, m, a, m1)

    events = await list_all(client, m, events_url())
    for e in events:
        assert e["object"] == "event" and e["id"].startswith("evt_")
        assert e["livemode"] is False and isinstance(e["created"], int)
        assert isinstance(e["data"]["object"], dict)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    created = [e["created"] for e in events]
    assert created == sorted(created, reverse=True)

    oldest_first = [e for e in reversed(events) if e["type"] in FLOW_TYPES]
    seen = [(e["type"], e["data"]["object"].get("id")) for e in oldest_first]
    order_id = oldest_first[1]["data"]["object"]["id"]
    assert seen == [
        ("payment_intent.created", a),
        ("escrow_order.created", order_id),
        ("milestone.created", m0),
        ("milestone.created", m1),
        ("payment_intent.status_changed", a),
        ("payment_intent.status_changed", a),
        ("milestone.completed", m0),
        ("milestone.released", m0),
        ("milestone.completed", m1),
        ("milestone.released", m1),
        ("payment_intent.status_changed", a),
    ]
    created_evt = oldest_first[0]["data"]["object"]
    assert created_evt["status"] == "INITIATED" and created_evt["amount"] == "1000.00"
    assert oldest_first[1]["data"]["object"]["paymentIntentId"] == a
    changes = [
        (e["data"]["object"]["previous_status"], e["data"]["object"]["status"])
        for e in oldest_first
        if e["type"] == "payment_intent.status_changed"
    ]
    assert changes == [
        ("INITIATED", "PROCESSING"),
        ("PROCESSING", "SUCCEEDED"),
        ("SUCCEEDED", "SETTLED"),
    ]
    released = [e["data"]["object"] for e in oldest_first if e["type"] == "milestone.released"]
    assert [(o["status"], o["amount"], o["releasedBy"]) for o in released] == [
        ("RELEASED", "300.00", "auto_release"),
        ("RELEASED", "700.00", "auto_release"),
    ]
    completed = [e["data"]["object"] for e in oldest_first if e["type"] == "milestone.completed"]
    assert [o["milestoneIndex"] for o in completed] == [0, 1]
    # Each release was settled (delay 0), and the event says how much as the API writes it.
    settled = [
        e["data"]["object"]
        for e in reversed(events)
        if e["type"] == "payment_intent.settlement_completed"
    ]
    assert [(o["id"], o["amount"], o["currency"]) for o in settled] == [
        (a, "300.00", "USDC"),
        (a, "700.00", "USDC"),
    ]
    assert all(o["settlementId"].startswith("settlement_") and o["settlementTxId"] for o in settled)

    # Type filter, newest first.
    r = await client.get(events_url(), params={"type": "milestone.created"}, headers=m.headers)
    assert r.status_code == 200, r.text
    assert [e["data"]["object"]["id"] for e in r.json()["data"]] == [m1, m0]
    assert r.json()["hasMore"] is False
    r = await client.get(events_url(), params={"type": "dispute.raised"}, headers=m.headers)
    assert r.json()["data"] == []
    r = await client.get(events_url(), params={"type": "Not A Type!"}, headers=m.headers)
    assert_error(r, 400, "invalid_request", param="type")

    # GET one event.
    for e in events[:3] + events[-2:]:
        r = await client.get(event_url(e["id"]), headers=m.headers)
        assert r.status_code == 200, r.text
        assert r.json() == e
    r = await client.get(event_url("evt_doesnotexist"), headers=m.headers)
    assert_error(r, 404, "resource_missing", "Event not found", param="eventId")
    r = await client.get(event_url(events[0]["id"], prefix=API_ALIAS), headers=m.headers)
    assert r.json() == events[0]


async def test_event_cursors(client, app, make_merchant):
    m = await make_merchant()
    await money_flow(client, m)
    everything = [e["id"] for e in await list_all(client, m, events_url())]
    assert len(everything) >= 12

    r = await client.get(events_url(), headers=m.headers)
    assert [e["id"] for e in r.json()["data"]] == everything[:10]  # default limit 10
    assert r.json()["hasMore"] is True

    walked: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["starting_after"] = cursor
        page = (await client.get(events_url(), params=params, headers=m.headers)).json()
        assert len(page["data"]) <= 5
        walked += [e["id"] for e in page["data"]]
        if not page["hasMore"]:
            break
        cursor = page["data"][-1]["id"]
    assert walked == everything

    r = await client.get(
        events_url(), headers=m.headers, params={"limit": 4, "ending_before": everything[6]}
    )
    assert [e["id"] for e in r.json()["data"]] == everything[2:6]
    assert r.json()["hasMore"] is True
    r = await client.get(
        events_url(), headers=m.headers, params={"limit": 4, "ending_before": everything[2]}
    )
    assert [e["id"] for e in r.json()["data"]] == everything[:2]
    assert r.json()["hasMore"] is False
    changes = await list_all(client, m, events_url(), type="payment_intent.status_changed")
    r = await client.get(
        events_url(),
        headers=m.headers,
        params={
            "type": "payment_intent.status_changed",
            "starting_after": changes[0]["id"],
            "limit": 2,
        },
    )
    assert [e["id"] for e in r.json()["data"]] == [e["id"] for e in changes[1:3]]
    for limit in (0, 101):
        r = await client.get(events_url(), params={"limit": limit}, headers=m.headers)
        assert_error(r, 400, "invalid_request", param="limit")


async def test_another_merchant_sees_none_of_the_events(client, app, make_merchant):
    m, other = await make_merchant(), await make_merchant("Other Shop")
    flow = await money_flow(client, m)
    mine = await list_all(client, m, events_url())
    assert {e["type"] for e in mine} >= FLOW_TYPES

    other_intent = (await create_intent(client, other))["id"]
    theirs = await list_all(client, other, events_url())
    assert {e["type"] for e in theirs} == {"payment_intent.created", "escrow_order.created"}
    assert not {e["id"] for e in theirs} & {e["id"] for e in mine}
    assert theirs[-1]["data"]["object"]["id"] == other_intent
    for e in mine[:3]:
        r = await client.get(event_url(e["id"]), headers=other.headers)
        assert_error(r, 404, "resource_missing", "Event not found")
    r = await client.get(events_url(), params={"type": "milestone.released"}, headers=other.headers)
    assert r.json()["data"] == []
    live = await make_merchant("Live Shop", mode="live")
    assert await list_all(client, live, events_url()) == []
    r = await client.get(events_url())
    assert_error(
        r, 401, "authentication_required", "API key is required", type_="authentication_error"
    )
    assert flow["a"] not in {e["data"]["object"].get("id") for e in theirs}


async def test_approval_and_cancel_write_their_events(client, app, make_merchant):
    """A payer approval is a state change even when an earlier milestone still holds
    the release (milestone.approved, no release yet); cancelling a DvP intent cancels
    its order (escrow_order.cancelled). Each event once, with its object."""
    from eth_account import Account

    m = await make_merchant()
    payer = Account.create()
    a = (await create_intent(client, m))["id"]
    m0 = await add_milestone(client, m, a, 0, "300.00")
    m1 = await add_milestone(client, m, a, 1, "700.00")
    assert (await pay_by_card(client, a, payer=payer)).status_code == 200
    await complete(client, m, a, m0)
    typed = (await complete(client, m, a, m1))["data"]["approvalTypedData"]
    r = await client.post(
        milestone_url(a, m1, "approve"),
        json={"signature": sign(typed, payer)},
        headers=m.headers,
    )
    assert r.status_code == 200 and r.json()["data"]["status"] == "COMPLETED", r.text
    approved = await list_all(client, m, events_url(), type="milestone.approved")
    assert [e["data"]["object"]["id"] for e in approved] == [m1]
    assert approved[0]["data"]["object"]["status"] == "COMPLETED"
    assert await list_all(client, m, events_url(), type="milestone.released") == []

    c = (await create_intent(client, m))["id"]
    order_id = (await client.get(order_url(c), headers=m.headers)).json()["id"]
    r = await client.post(cancel_url(c), headers=m.headers)
    assert r.status_code == 200, r.text
    cancelled = await list_all(client, m, events_url(), type="escrow_order.cancelled")
    assert [e["data"]["object"]["id"] for e in cancelled] == [order_id]
    assert cancelled[0]["data"]["object"]["paymentIntentId"] == c
    assert cancelled[0]["data"]["object"]["orderStatus"] == "CANCELLED"
    await audit_clean(app)


async def test_a_cursor_must_name_an_object_of_the_list(client, app, make_merchant):
    """A stale, mistyped or foreign cursor is 400 with the cursor's param on every list,
    never a silent first page (a client paging through would start over unawares)."""
    m, other = await make_merchant(), await make_merchant()
    await money_flow(client, m)
    theirs = (await create_intent(client, other))["id"]
    for path in (intents_url(), events_url(), ledger_url()):
        for param in ("starting_after", "ending_before"):
            for cursor in ("intent_nope", theirs):
                r = await client.get(path, params={param: cursor}, headers=m.headers)
                assert_error(
                    r,
                    400,
                    "invalid_request",
                    f"No such object in this list: {cursor}",
                    param=param,
                )
        # A real cursor of this list still pages, filters or not.
        first = (await client.get(path, params={"limit": 1}, headers=m.headers)).json()
        r = await client.get(
            path,
            params={"limit": 1, "starting_after": first["data"][0]["id"]},
            headers=m.headers,
        )
        assert r.status_code == 200 and r.json()["data"][0]["id"] < first["data"][0]["id"]
    changes = await list_all(client, m, events_url(), type="payment_intent.status_changed")
    created = await list_all(client, m, events_url(), type="payment_intent.created")
    r = await client.get(
        events_url(),
        params={"type": "payment_intent.status_changed", "starting_after": created[0]["id"]},
        headers=m.headers,
    )
    assert r.status_code == 200  # the cursor need not match the filter
    assert [e["id"] for e in r.json()["data"]] == [
        e["id"] for e in changes if e["id"] < created[0]["id"]
    ][:10]
