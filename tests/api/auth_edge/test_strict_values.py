"""Values a client may send by mistake are refused, never read as something else:
a body on a route that takes none, an explicit null amount on a refund, an unknown
event type in a filter, an integer past a double in metadata, a card that is not an
object. Each with the documented message and `param`, and nothing changed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from escrowgate.api.routing import ExactJSONRoute
from tests.support.driver import (
    GOOD_CARD,
    assert_error,
    audit_clean,
    cancel_url,
    complete,
    deliver,
    dvp,
    escrow,
    events_url,
    get_intent,
    intent_body,
    intents_url,
    list_all,
    make_operator,
    milestone,
    payer_approve,
    payer_url,
    payment_url,
    planned,
    raise_dispute,
    refund_url,
    resolve_url,
)

JSON = {"Content-Type": "application/json"}
NOT_JSON = "Request body is not valid JSON"
NOT_OBJECT = "Request body must be a JSON object"
NULL_AMOUNT = 'Amount must be a decimal string, e.g. "300.00"'
FAKE = {
    "intent_id": "intent_" + "0" * 44,
    "milestone_id": "milestone_" + "0" * 44,
    "endpoint_id": "we_" + "0" * 44,
}

# --- a route that takes no body -------------------------------------------------------


def bodyless_post_paths(app: Any) -> list[str]:
    paths = []
    for route in app.routes:
        if isinstance(route, ExactJSONRoute) and route.no_body and "POST" in route.methods:
            paths.append(route.path_format.format(**FAKE))
    return paths


async def test_every_bodyless_post_refuses_a_stray_body_before_anything_else(
    client, app, make_merchant
):
    """Any POST route whose endpoint declares no body answers a stray body as a body
    route would, before it looks at the ids (so these made-up ids never reach a 404)."""
    m = await make_merchant()
    paths = bodyless_post_paths(app)
    # the five known today: cancel, the payer's two approvals, the operator's, rotate-secret
    assert len(paths) == 5, paths
    for path in paths:
        r = await client.post(path, content=b'{"foo": 1}', headers={**m.headers, **JSON})
        assert_error(r, 400, "invalid_request", "Received unknown parameter: foo", param="foo")
        r = await client.post(path, content=b"not json", headers={**m.headers, **JSON})
        err = assert_error(r, 400, "invalid_request", NOT_JSON)
        assert "param" not in err, err
        r = await client.post(path, content=b"[]", headers={**m.headers, **JSON})
        assert_error(r, 400, "invalid_request", NOT_OBJECT)


@pytest.mark.parametrize("body", [b'{"foo": 1}', b"not json", b"null", b'{"amount": "1.00"'])
async def test_cancel_with_a_stray_body_cancels_nothing(client, make_merchant, body):
    m = await make_merchant()
    iid = (await client.post(intents_url(), json=intent_body(), headers=m.headers)).json()["id"]
    before = await get_intent(client, m, iid)
    r = await client.post(cancel_url(iid), content=body, headers={**m.headers, **JSON})
    assert r.status_code == 400, r.text
    assert await get_intent(client, m, iid) == before
    assert before["data"]["status"] == "INITIATED"


@pytest.mark.parametrize("body", [b"", b"{}", b"  {}\n"])
async def test_cancel_takes_no_body_or_an_empty_object(client, make_merchant, body):
    m = await make_merchant()
    iid = (await client.post(intents_url(), json=intent_body(), headers=m.headers)).json()["id"]
    headers = {**m.headers, **JSON} if body else m.headers
    r = await client.post(cancel_url(iid), content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert (await get_intent(client, m, iid))["data"]["status"] == "CANCELED"


async def test_a_payer_approval_with_a_stray_body_releases_nothing(client, app, make_merchant):
    """The payer's approval releases money: a garbled body must not release it."""
    m = await make_merchant()
    iid, mids, secret = await planned(client, m, ["400.00", "600.00"])
    await complete(client, m, iid, mids[0])
    headers = {"X-Client-Secret": secret, **JSON}
    url = payer_url(iid, f"/milestones/{mids[0]}/approve")
    for body in (b'{"amount": "999.00"', b'{"foo": 1}'):
        r = await client.post(url, content=body, headers=headers)
        assert r.status_code == 400, r.text
    assert (await milestone(client, m, iid, mids[0]))["status"] == "COMPLETED"
    assert (await escrow(client, m, iid))["releasedAmount"] == "0.00"
    r = await payer_approve(client, iid, mids[0], secret)  # no body: approved and released
    assert r.status_code == 200, r.text
    assert (await milestone(client, m, iid, mids[0]))["status"] == "RELEASED"
    await audit_clean(app)


async def test_a_payer_delivery_approval_with_a_stray_body_releases_nothing(client, make_merchant):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF", fund=False)
    secret = (await client.post(payment_url(iid), json={"card": GOOD_CARD})).json()["clientSecret"]
    await deliver(client, m, iid)
    r = await client.post(
        payer_url(iid, "/approve"), content=b"nonsense", headers={"X-Client-Secret": secret, **JSON}
    )
    assert_error(r, 400, "invalid_request", NOT_JSON)
    order = await escrow(client, m, iid)
    assert order["releasedAmount"] == "0.00", order


# --- an explicit null amount ------------------------------------------------------------


async def test_a_refund_with_a_null_amount_refunds_nothing(client, app, make_merchant):
    """`amount` left out means "all held"; `null` is a value, refused as one."""
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF")
    before = await escrow(client, m, iid)
    r = await client.post(refund_url(iid), json={"amount": None}, headers=m.headers)
    assert_error(r, 400, "invalid_request", NULL_AMOUNT, param="amount")
    assert await escrow(client, m, iid) == before
    assert before["refundedAmount"] == "0.00"
    r = await client.post(refund_url(iid), json={}, headers=m.headers)  # left out: all held
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == "1000.00"
    await audit_clean(app)


async def test_a_dispute_resolution_with_a_null_refund_amount_is_refused(
    client, app, make_merchant
):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF")
    await raise_dispute(client, m, iid)
    operator = await make_operator(app)
    before = await escrow(client, m, iid)
    r = await client.post(
        resolve_url(iid),
        json={"resolution": "PARTIAL_REFUND", "refundAmount": None},
        headers=operator,
    )
    assert_error(r, 400, "invalid_request", NULL_AMOUNT, param="refundAmount")
    assert await escrow(client, m, iid) == before


# --- an unknown event type in a filter ------------------------------------------------


async def test_an_unknown_event_type_filter_is_a_400(client, make_merchant):
    m = await make_merchant()
    await client.post(intents_url(), json=intent_body(), headers=m.headers)
    r = await client.get(events_url(), params={"type": "payment_intent.craeted"}, headers=m.headers)
    assert_error(
        r, 400, "invalid_request", "Unknown event type: payment_intent.craeted", param="type"
    )
    r = await client.get(events_url(), params={"type": "payment_intent.created"}, headers=m.headers)
    assert r.status_code == 200, r.text
    assert [e["type"] for e in r.json()["data"]] == ["payment_intent.created"]


# --- an integer past a double in metadata ---------------------------------------------


@pytest.mark.parametrize("digits", [310, 400, 4000])
async def test_metadata_integers_past_a_double_are_refused(client, make_merchant, digits):
    m = await make_merchant()
    body = intent_body(metadata={"releaseType": "MILESTONE_LOCKED", "n": 0})
    raw = _with_number(body, "1" + "0" * (digits - 1))
    r = await client.post(intents_url(), content=raw, headers={**m.headers, **JSON})
    assert_error(
        r,
        400,
        "invalid_request",
        "metadata numbers must be between 1e-308 and 1e308 in magnitude",
        param="metadata",
    )
    assert await list_all(client, m, intents_url()) == []


async def test_metadata_integers_up_to_1e308_are_kept_exactly(client, make_merchant):
    m = await make_merchant()
    body = intent_body(metadata={"releaseType": "MILESTONE_LOCKED", "n": 0})
    big = "9" * 309  # just under 1e309
    r = await client.post(
        intents_url(), content=_with_number(body, big), headers={**m.headers, **JSON}
    )
    assert r.status_code == 201, r.text
    assert f'"n":{big}' in r.text.replace(" ", "")


def _with_number(body: dict[str, Any], digits: str) -> bytes:
    return json.dumps(body).replace('"n": 0', f'"n": {digits}').encode()


# --- a card that is not an object ---------------------------------------------------------


@pytest.mark.parametrize("card", ["x", 4242, ["4242"]])
async def test_a_card_that_is_not_an_object_names_the_field(client, make_merchant, card):
    m = await make_merchant()
    iid = await dvp(client, m, "DELIVERY_PROOF", fund=False)
    before = await get_intent(client, m, iid)
    r = await client.post(payment_url(iid), json={"card": card})
    assert_error(r, 400, "invalid_request", "card must be an object", param="card")
    assert await get_intent(client, m, iid) == before
