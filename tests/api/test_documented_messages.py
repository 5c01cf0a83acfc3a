"""Every error message of docs/api-guide.md that no other test asserted exactly: the
status, code, exact message and `param` as documented, and that the refused request
changed nothing (the intent, its order, the events, the ledger and the balance)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from tests.support.driver import (
    AUTH,
    DISPUTE,
    FORMS,
    GOOD_CARD,
    PROOF,
    SIG,
    SPELLINGS,
    add_milestones,
    advance_clock_url,
    approve_url,
    assert_error,
    audit_clean,
    balance,
    cancel_url,
    complete,
    confirm_url,
    create_intent,
    deliver,
    delivery_proof_url,
    dispute_url,
    dvp,
    escrow,
    events_url,
    intent_body,
    intent_url,
    intents_url,
    ledger_entries,
    list_all,
    make_operator,
    milestone,
    milestone_url,
    milestones_url,
    order_url,
    pay_by_card,
    payment_url,
    post_milestone,
    raise_dispute,
    refund_url,
    resolve_url,
    sign,
)

# --- helpers --------------------------------------------------------------------------


async def snapshot(client, m, iid: str | None = None) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    state: dict[str, Any] = {
        "intents": [i["id"] for i in await list_all(client, m, intents_url())],
        "events": [e["id"] for e in await list_all(client, m, events_url())],
        "ledger": [e["id"] for e in await ledger_entries(client, m)],
        "balance": await balance(client, m),
    }
    if iid is not None:
        r = await client.get(intent_url(iid), headers=m.headers)
        assert r.status_code == 200, r.text
        state["intent"] = r.json()
        if r.json()["data"]["type"] == "DELIVERY_VS_PAYMENT":
            state["order"] = await escrow(client, m, iid)
    return state


def no_param(err: dict[str, Any]) -> None:
    assert "param" not in err, err


# --- fields any route validates (shown on POST /payment-intents) ----------------------


@pytest.mark.parametrize(
    "value, message",
    [
        (5, "settlementDestination must be a string"),
        ("   ", "settlementDestination must not be empty"),
        ("x" * 256, "settlementDestination must be at most 255 characters"),
        ("acct\x00123", "settlementDestination must not contain NUL characters"),
    ],
)
async def test_text_field_messages(client, make_merchant, value, message):
    """The four generic text-field messages name the field and create nothing."""
    m = await make_merchant()
    before = await snapshot(client, m)
    r = await client.post(
        intents_url(), json=intent_body(settlementDestination=value), headers=m.headers
    )
    assert_error(r, 400, "invalid_request", message, param="settlementDestination")
    assert await snapshot(client, m) == before


@pytest.mark.parametrize(
    "amount, message",
    [
        (300, 'Amount must be a decimal string, e.g. "300.00"'),
        ("1e3", 'Amount must be a decimal string, e.g. "300.00"'),
        ("1.1234567", "Amount must have at most 6 decimal places"),
        ("0", "Amount must be greater than 0"),
        ("1000000000001", "Amount must be at most 1000000000000"),
    ],
)
async def test_amount_messages(client, make_merchant, amount, message):
    """The documented amount messages, with param "amount"; nothing is created."""
    m = await make_merchant()
    before = await snapshot(client, m)
    r = await client.post(intents_url(), json=intent_body(amount=amount), headers=m.headers)
    assert_error(r, 400, "invalid_request", message, param="amount")
    assert await snapshot(client, m) == before


# --- POST /payment-intents ---------------------------------------------------------------

DVP_META = {"releaseType": "DELIVERY_PROOF"}
CREATE_ERRORS = [
    (
        {"currency": "ETH"},
        "Invalid currency. Must be USDC, USDT, DAI or a supported fiat currency "
        "(USD, EUR, GBP, INR, JPY, SGD, AUD, CAD, CHF, AED, KWD)",
        "currency",
    ),
    ({"currency": "JPY", "amount": "1000.5"}, "Amount must be a whole number for JPY", "amount"),
    (
        {"currency": "USD", "amount": "10.001"},
        "Amount must have at most 2 decimal places for USD",
        "amount",
    ),
    (
        {"settlementMethod": "WIRE"},
        "Invalid settlementMethod. Must be one of OFF_RAMP_MOCK, OFF_RAMP_TO_RTP, OFF_RAMP_TO_BANK",
        "settlementMethod",
    ),
    ({"metadata": "notes"}, "metadata must be a JSON object", "metadata"),
    ({"metadata": {"": 1}}, "metadata keys must be 1 to 40 characters", "metadata"),
    ({"metadata": {"k" * 41: 1}}, "metadata keys must be 1 to 40 characters", "metadata"),
    (
        {"metadata": {"blob": "x" * 8200}},
        "metadata must be at most 8192 bytes when serialized",
        "metadata",
    ),
    (
        {"deliveryPeriod": 0},
        "deliveryPeriod must be greater than 0",
        "deliveryPeriod",
    ),
    (
        {"deliveryPeriod": "2 weeks"},
        f"deliveryPeriod must be {FORMS}",
        "deliveryPeriod",
    ),
    (
        {"deliveryPeriod": 315360001},
        "deliveryPeriod must be between 0 and 315360000",
        "deliveryPeriod",
    ),
    (
        {"expectedDeliveryHash": "0x1234"},
        "expectedDeliveryHash must be a valid bytes32 hex string",
        "expectedDeliveryHash",
    ),
    ({"autoRelease": "yes"}, "autoRelease must be a boolean", "autoRelease"),
    (
        {"deliveryOracle": "0x12"},
        "deliveryOracle must be an Ethereum address (0x + 40 hex)",
        "deliveryOracle",
    ),
    (
        {"metadata": {"releaseType": "INSTANT"}},
        "Invalid release type. Must be one of DELIVERY_PROOF, TIME_LOCKED, MILESTONE_LOCKED, "
        "AUTO_RELEASE",
        "metadata.releaseType",
    ),
    (
        {"metadata": {"releaseType": "TIME_LOCKED"}},
        "metadata.timeLockUntil is required for release type TIME_LOCKED",
        "metadata.timeLockUntil",
    ),
    (
        {"metadata": {"releaseType": "TIME_LOCKED", "timeLockUntil": "soon"}},
        "metadata.timeLockUntil must be a whole number of seconds",
        "metadata.timeLockUntil",
    ),
    (
        {"metadata": {"releaseType": "TIME_LOCKED", "timeLockUntil": 32503680001}},
        "metadata.timeLockUntil must be between 0 and 32503680000",
        "metadata.timeLockUntil",
    ),
    (
        {"metadata": {**DVP_META, "disputeWindow": "a week"}},
        f"metadata.disputeWindow must be {FORMS}",
        "metadata.disputeWindow",
    ),
    (
        {"metadata": {**DVP_META, "disputeWindow": 315360001}},
        "metadata.disputeWindow must be between 0 and 315360000",
        "metadata.disputeWindow",
    ),
    (
        {"metadata": {**DVP_META, "deliveryPeriod": "a month"}},
        f"metadata.deliveryPeriod must be {FORMS}",
        "metadata.deliveryPeriod",
    ),
    (
        {"metadata": {**DVP_META, "deliveryPeriod": 0}},
        "metadata.deliveryPeriod must be greater than 0",
        "metadata.deliveryPeriod",
    ),
    (
        {"metadata": {**DVP_META, "autoRelease": "yes"}},
        "metadata.autoRelease must be a boolean",
        "metadata.autoRelease",
    ),
    (
        {"metadata": {**DVP_META, "expectedDeliveryHash": "0x12"}},
        "metadata.expectedDeliveryHash must be a valid bytes32 hex string",
        "metadata.expectedDeliveryHash",
    ),
    (
        {"metadata": {**DVP_META, "deliveryOracle": "oracle.example"}},
        "metadata.deliveryOracle must be an Ethereum address",
        "metadata.deliveryOracle",
    ),
]


@pytest.mark.parametrize(
    "overrides, message, param", CREATE_ERRORS, ids=[c[2] + ":" + c[1][:40] for c in CREATE_ERRORS]
)
async def test_create_intent_messages(client, make_merchant, overrides, message, param):
    """Each documented create error, with its param; no intent and no event is created."""
    m = await make_merchant()
    before = await snapshot(client, m)
    r = await client.post(intents_url(), json=intent_body(**overrides), headers=m.headers)
    assert_error(r, 400, "invalid_request", message, param=param)
    assert await snapshot(client, m) == before


async def test_metadata_number_out_of_double_range(client, make_merchant):
    """A metadata number no client could read back (1e309) is refused as documented."""
    m = await make_merchant()
    before = await snapshot(client, m)
    for raw in (b"1e309", b"1e-309"):
        body = (
            b'{"amount": "10.00", "currency": "USDC", "type": "DELIVERY_VS_PAYMENT",'
            b' "settlementMethod": "OFF_RAMP_MOCK", "settlementDestination": "acct",'
            b' "metadata": {"n": ' + raw + b"}}"
        )
        r = await client.post(
            intents_url(),
            content=body,
            headers={**m.headers, "Content-Type": "application/json"},
        )
        assert_error(
            r,
            400,
            "invalid_request",
            "metadata numbers must be between 1e-308 and 1e308 in magnitude",
            param="metadata",
        )
    assert await snapshot(client, m) == before


# --- conventions: methods, lists, operator keys, unknown ids, test clock ----------------


async def test_wrong_method_message_and_allow_header(client, make_merchant):
    """405 names the method and the path exactly and lists the allowed methods."""
    m = await make_merchant()
    before = await snapshot(client, m)
    r = await client.delete(intents_url(), headers=m.headers)
    err = assert_error(
        r, 405, "method_not_allowed", f"Method DELETE is not allowed for {intents_url()}"
    )
    no_param(err)
    assert {"GET", "POST"} <= {x.strip() for x in r.headers["allow"].split(",")}
    assert await snapshot(client, m) == before


async def test_both_cursors_at_once(client, make_merchant):
    """starting_after together with ending_before is the documented 400."""
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.get(
        intents_url(),
        params={"starting_after": iid, "ending_before": iid},
        headers=m.headers,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "Use only one of starting_after and ending_before",
        param="ending_before",
    )


async def test_both_cursors_at_once_on_events(client, make_merchant):
    """The same rule on the event list."""
    m = await make_merchant()
    await create_intent(client, m)
    eid = (await list_all(client, m, events_url()))[0]["id"]
    r = await client.get(
        events_url(), params={"starting_after": eid, "ending_before": eid}, headers=m.headers
    )
    assert_error(r, 400, "invalid_request", "Use only one of starting_after and ending_before")


async def test_operator_key_on_merchant_routes(client, app, make_merchant):
    """An operator key may only resolve disputes: other routes are 403 and do nothing."""
    m = await make_merchant()
    operator = await make_operator(app)
    iid = await dvp(client, m)
    before = await snapshot(client, m, iid)
    for method, path, body in [
        ("GET", intents_url(), None),
        ("POST", intents_url(), intent_body()),
        ("GET", intent_url(iid), None),
        ("POST", dispute_url(iid), DISPUTE),
        ("POST", refund_url(iid), {"amount": "1.00"}),
        ("POST", delivery_proof_url(iid), PROOF),
    ]:
        r = await client.request(method, path, json=body, headers=operator)
        err = assert_error(r, 403, "forbidden", "This endpoint needs a merchant key", type_=AUTH)
        no_param(err)
    assert await snapshot(client, m, iid) == before
    await audit_clean(app)


async def test_unknown_intent_names_param_intent_id(client, make_merchant):
    """The 404 for an unknown intent carries param "intentId"."""
    m = await make_merchant()
    for method, path in [
        ("GET", intent_url("intent_nothere")),
        ("GET", order_url("intent_nothere")),
    ]:
        r = await client.request(method, path, headers=m.headers)
        assert_error(
            r,
            404,
            "resource_missing",
            "Payment intent not found: intent_nothere",
            param="intentId",
        )


async def test_unknown_milestone_names_param_milestone_id(client, make_merchant):
    """GET of an unknown milestone: 404 "Milestone not found", param "milestoneId"."""
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.get(f"{milestones_url(iid)}/milestone_nothere", headers=m.headers)
    assert_error(r, 404, "resource_missing", "Milestone not found", param="milestoneId")


@pytest.mark.parametrize("seconds", [0, 315360001, "60", 1.5])
async def test_advance_clock_seconds_message(client, app, make_merchant, seconds):
    """The test clock refuses a bad `seconds` and moves nothing."""
    m = await make_merchant()
    iid = await dvp(client, m, deliveryPeriod=3600)
    before = await snapshot(client, m, iid)
    r = await client.post(
        advance_clock_url(iid),
        json={"seconds": seconds},
        headers=m.headers,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "seconds must be an integer from 1 to 315360000",
        param="seconds",
    )
    assert await snapshot(client, m, iid) == before
    await audit_clean(app)


# --- funding ------------------------------------------------------------------------------

CARD_ERRORS = [
    ({"card": {**GOOD_CARD, "expiry": "1239"}}, "Card expiry must be MM/YY", "card.expiry"),
    ({"card": {**GOOD_CARD, "expiry": "13/39"}}, "Card expiry must be MM/YY", "card.expiry"),
    ({"card": {**GOOD_CARD, "cvv": "12"}}, "Your card's security code is invalid.", "card.cvv"),
    ({"card": {**GOOD_CARD, "cvv": "12a"}}, "Your card's security code is invalid.", "card.cvv"),
    ({"card": {**GOOD_CARD, "state": "NYC"}}, "state must be exactly 2 letters", "card.state"),
    ({"card": {**GOOD_CARD, "country": "U1"}}, "country must be exactly 2 letters", "card.country"),
    (
        {"card": GOOD_CARD, "payerAddress": "0x1234"},
        "payerAddress must be an Ethereum address (0x + 40 hex)",
        "payerAddress",
    ),
]


@pytest.mark.parametrize("body, message, param", CARD_ERRORS, ids=[c[2] for c in CARD_ERRORS])
async def test_card_payment_messages(client, app, make_merchant, body, message, param):
    """A badly filled card form is refused before anything is charged or held."""
    m = await make_merchant()
    iid = await dvp(client, m, fund=False)
    before = await snapshot(client, m, iid)
    r = await client.post(payment_url(iid), json=body)
    assert_error(r, 400, "invalid_request", message, param=param)
    after = await snapshot(client, m, iid)
    assert after == before
    assert after["intent"]["status"] == "INITIATED"
    assert after["order"]["heldAmount"] == "0.00"
    await audit_clean(app)


@pytest.mark.parametrize(
    "body, message, param",
    [
        (
            {"signature": "0x1234", "payerAddress": "0x" + "22" * 20},
            "signature must be a 65-byte hex string (0x + 130 hex)",
            "signature",
        ),
        (
            {"signature": SIG, "payerAddress": "0x22"},
            "payerAddress must be an Ethereum address (0x + 40 hex)",
            "payerAddress",
        ),
    ],
)
async def test_confirm_format_messages(client, make_merchant, body, message, param):
    """confirm refuses a malformed signature or payer address; the intent stays INITIATED."""
    m = await make_merchant()
    iid = await dvp(client, m, fund=False)
    before = await snapshot(client, m, iid)
    r = await client.post(confirm_url(iid), json=body, headers=m.headers)
    assert_error(r, 400, "invalid_request", message, param=param)
    assert await snapshot(client, m, iid) == before


# --- refused on the order's state: one row a documented message -----------------------------
# Each row: the scenario that sets the order up, the refused request(s), the documented
# status, code, exact message and param, and what the (unchanged) state shows.


@dataclass
class Row:
    setup: Callable[..., Awaitable[SimpleNamespace]]  # (client, m) -> the scenario
    request: Callable[..., list[Awaitable[Any]]]  # (client, m, s) -> the refused request(s)
    status: int
    code: str
    message: str
    param: str | None = None
    no_param: bool = False  # the error must carry no param at all
    state: dict[str, Any] = field(default_factory=dict)  # path in the snapshot -> value


def at(snap: dict[str, Any], path: str) -> Any:
    """snap["order"]["milestones"][0]["status"] for "order.milestones.0.status"; "*" maps."""
    head, _, rest = path.partition(".")
    if head == "*":
        return [at(x, rest) if rest else x for x in snap]
    value = snap[int(head)] if isinstance(snap, list) else snap[head]
    return at(value, rest) if rest else value


# Scenarios ---------------------------------------------------------------------------------


async def funded(client, m, **kw):
    return SimpleNamespace(iid=await dvp(client, m, **kw))


async def cancelled(client, m, release_type="DELIVERY_PROOF"):
    iid = await dvp(client, m, release_type, fund=False)
    r = await client.post(cancel_url(iid), headers=m.headers)
    assert r.status_code == 200, r.text
    return SimpleNamespace(iid=iid)


async def disputed_with_a_milestone(client, m):
    iid = await dvp(client, m, "MILESTONE_LOCKED")
    await add_milestones(client, m, iid, ["300.00"])
    await raise_dispute(client, m, iid)
    return SimpleNamespace(iid=iid)


async def all_released(client, m):
    # Planned before funding: autoRelease covers only milestones the payer saw.
    iid = await dvp(client, m, "MILESTONE_LOCKED", autoRelease=True, fund=False)
    (mid,) = await add_milestones(client, m, iid, ["1000.00"])
    assert (await pay_by_card(client, iid)).status_code == 200
    assert (await complete(client, m, iid, mid))["data"]["status"] == "RELEASED"
    return SimpleNamespace(iid=iid)


async def milestone_5_completed(client, m):
    iid = await dvp(client, m, "MILESTONE_LOCKED")
    r = await post_milestone(client, m, iid, {"milestoneIndex": 5, "amount": "100.00"})
    assert r.status_code == 201, r.text
    await complete(client, m, iid, r.json()["id"])
    return SimpleNamespace(iid=iid)


async def second_milestone_refunded(client, m):
    iid = await dvp(client, m, "MILESTONE_LOCKED")
    mids = await add_milestones(client, m, iid, ["500.00", "500.00"])
    r = await client.post(refund_url(iid), json={"amount": "500.00"}, headers=m.headers)
    assert r.status_code == 200, r.text
    await complete(client, m, iid, mids[0])
    return SimpleNamespace(iid=iid, mid=mids[1])


async def pending_milestone(client, m):
    payer = Account.create()
    iid = await dvp(client, m, "MILESTONE_LOCKED", payer=payer)
    (mid,) = await add_milestones(client, m, iid, ["300.00"])
    typed = (await milestone(client, m, iid, mid))["approvalTypedData"]
    return SimpleNamespace(iid=iid, mid=mid, signature=sign(typed, payer))


async def completed_milestone(client, m, *, payer=None, dispute=False):
    """A completed milestone; its approval signed by the payer (a stranger without one)."""
    iid = await dvp(client, m, "MILESTONE_LOCKED", payer=payer)
    (mid,) = await add_milestones(client, m, iid, ["300.00"])
    typed = (await complete(client, m, iid, mid))["data"]["approvalTypedData"]
    if dispute:
        await raise_dispute(client, m, iid)
    return SimpleNamespace(iid=iid, mid=mid, signature=sign(typed, payer or Account.create()))


async def delivered(client, m, *, payer=None, dispute=False):
    """A delivered order; its approval signed by the payer (a stranger without one)."""
    iid = await dvp(client, m, payer=payer)
    typed = (await deliver(client, m, iid))["approvalTypedData"]
    if dispute:
        await raise_dispute(client, m, iid)
    return SimpleNamespace(iid=iid, signature=sign(typed, payer or Account.create()))


async def fully_refunded(client, m):
    iid = await dvp(client, m)
    assert (await client.post(refund_url(iid), headers=m.headers)).is_success
    return SimpleNamespace(iid=iid)


# Requests ----------------------------------------------------------------------------------


def new_milestone(index, amount):
    return lambda c, m, s: [
        post_milestone(c, m, s.iid, {"milestoneIndex": index, "amount": amount})
    ]


def approve_milestone(c, m, s):
    return [
        c.post(
            milestone_url(s.iid, s.mid, "approve"),
            json={"signature": s.signature},
            headers=m.headers,
        )
    ]


def complete_milestone(c, m, s):
    url = milestone_url(s.iid, s.mid, "complete")
    return [c.post(url, json={"completedBy": "dev"}, headers=m.headers)]


def approve_order(c, m, s):
    return [c.post(approve_url(s.iid), json={"signature": s.signature}, headers=m.headers)]


NO_MILESTONE_ON = "Cannot create milestone for order with status: {}"
DISPUTE_OPEN = "Cannot release funds while a dispute is open"
NO_PAYER = "This order has no payer address to approve with"
NOT_DELIVERED = "Cannot approve release: order status is PENDING, must be DELIVERED"
DISPUTE_CANCELLED = "Cannot raise dispute: order is cancelled"

REFUSED_ON_STATE = {
    # cancel
    "cancel_a_funded_intent": Row(
        funded,
        lambda c, m, s: [c.post(cancel_url(s.iid), headers=m.headers)],
        400,
        "invalid_request",
        "Cannot cancel a funded payment intent; refund it instead",
        state={"intent.status": "SUCCEEDED", "order.heldAmount": "1000.00"},
    ),
    # create milestone
    "milestone_on_a_cancelled_order": Row(
        lambda c, m: cancelled(c, m, "MILESTONE_LOCKED"),
        new_milestone(0, "100.00"),
        400,
        "invalid_status",
        NO_MILESTONE_ON.format("CANCELLED"),
        no_param=True,
    ),
    "milestone_on_a_disputed_order": Row(
        disputed_with_a_milestone,
        new_milestone(1, "100.00"),
        400,
        "invalid_status",
        NO_MILESTONE_ON.format("DISPUTED"),
        no_param=True,
        state={"order.orderStatus": "DISPUTED"},
    ),
    "milestone_on_a_completed_order": Row(
        all_released,
        new_milestone(1, "0.01"),
        400,
        "invalid_status",
        NO_MILESTONE_ON.format("COMPLETED"),
        no_param=True,
        state={"order.orderStatus": "COMPLETED"},
    ),
    "index_below_a_completed_milestone_message": Row(
        milestone_5_completed,
        new_milestone(4, "100.00"),
        400,
        "invalid_request",
        "Milestone index 4 is below already completed milestone index 5",
        param="milestoneIndex",
    ),
    # complete and approve milestones
    "completing_a_cancelled_milestone": Row(
        second_milestone_refunded,
        complete_milestone,
        400,
        "invalid_status",
        "Milestone is cancelled",
        state={"order.milestones.*.status": ["COMPLETED", "CANCELLED"]},
    ),
    "approving_a_pending_milestone": Row(
        pending_milestone,
        approve_milestone,
        400,
        "invalid_status",
        "Milestone must be COMPLETED to approve (status: PENDING)",
    ),
    "approving_a_milestone_during_a_dispute": Row(
        lambda c, m: completed_milestone(c, m, payer=Account.create(), dispute=True),
        approve_milestone,
        400,
        "invalid_status",
        DISPUTE_OPEN,
        state={"order.releasedAmount": "0.00", "order.milestones.0.status": "COMPLETED"},
    ),
    "approving_a_milestone_without_payer_address": Row(
        completed_milestone,
        approve_milestone,
        400,
        "invalid_status",
        NO_PAYER,
    ),
    # delivered-order approval
    "approving_an_undelivered_order": Row(
        lambda c, m: funded(c, m, payer=Account.create()),
        lambda c, m, s: [
            c.post(approve_url(s.iid, spelling=sp), json={"signature": SIG}, headers=m.headers)
            for sp in SPELLINGS
        ],
        400,
        "invalid_status",
        NOT_DELIVERED,
        state={"order.releasedAmount": "0.00"},
    ),
    "approving_a_delivered_order_during_a_dispute": Row(
        lambda c, m: delivered(c, m, payer=Account.create(), dispute=True),
        approve_order,
        400,
        "invalid_status",
        DISPUTE_OPEN,
        state={"order.orderStatus": "DISPUTED", "order.heldAmount": "1000.00"},
    ),
    "approving_a_delivered_order_without_payer_address": Row(
        delivered,
        approve_order,
        400,
        "invalid_status",
        NO_PAYER,
    ),
    # disputes
    "dispute_on_a_cancelled_order": Row(
        cancelled,
        lambda c, m, s: [
            c.post(dispute_url(s.iid, spelling=sp), json=DISPUTE, headers=m.headers)
            for sp in SPELLINGS
        ],
        400,
        "invalid_status",
        DISPUTE_CANCELLED,
    ),
    "dispute_on_a_fully_refunded_order": Row(
        fully_refunded,
        lambda c, m, s: [c.post(dispute_url(s.iid), json=DISPUTE, headers=m.headers)],
        400,
        "invalid_status",
        DISPUTE_CANCELLED,
        state={"order.orderStatus": "CANCELLED"},
    ),
}


@pytest.mark.parametrize("row", REFUSED_ON_STATE.values(), ids=REFUSED_ON_STATE.keys())
async def test_refused_on_the_order_state(client, app, make_merchant, row):
    """The documented status, code, exact message and param; the refused request changed
    nothing (intent, order, events, ledger, balance) and the books balance."""
    m = await make_merchant()
    s = await row.setup(client, m)
    before = await snapshot(client, m, s.iid)
    for request in row.request(client, m, s):
        err = assert_error(await request, row.status, row.code, row.message, param=row.param)
        if row.no_param:
            no_param(err)
    after = await snapshot(client, m, s.iid)
    assert after == before
    for path, value in row.state.items():
        assert at(after, path) == value, path
    await audit_clean(app)


# --- create milestone: field messages ------------------------------------------------------


async def test_at_most_100_milestones_message(client, make_merchant):
    """The 101st milestone: the exact message, param milestoneIndex, still 100 milestones."""
    m = await make_merchant()
    iid = (await create_intent(client, m, amount="1000.00"))["id"]
    for i in range(100):
        r = await post_milestone(client, m, iid, {"milestoneIndex": i, "amount": "1.00"})
        assert r.status_code == 201, (i, r.text)
    before = await snapshot(client, m, iid)
    r = await post_milestone(client, m, iid, {"milestoneIndex": 500, "amount": "1.00"})
    assert_error(
        r,
        400,
        "invalid_request",
        "An order can have at most 100 milestones",
        param="milestoneIndex",
    )
    assert await snapshot(client, m, iid) == before
    assert len(before["order"]["milestones"]) == 100


@pytest.mark.parametrize(
    "amount, pct, message",
    [
        (
            "300.00",
            40,
            "percentage 40 does not match amount 300.00 of order amount 1000.00 (expected 30.00)",
        ),
        (
            "333.33",
            33.35,
            "percentage 33.35 does not match amount 333.33 of order amount 1000.00 "
            "(expected 33.33)",
        ),
    ],
)
async def test_percentage_disagreeing_message(client, make_merchant, amount, pct, message):
    """A percentage that disagrees with amount / order amount names all four numbers."""
    m = await make_merchant()
    iid = (await create_intent(client, m, amount="1000.00"))["id"]
    before = await snapshot(client, m, iid)
    r = await post_milestone(
        client, m, iid, {"milestoneIndex": 0, "amount": amount, "percentage": pct}
    )
    assert_error(r, 400, "invalid_request", message, param="percentage")
    assert await snapshot(client, m, iid) == before


@pytest.mark.parametrize("pct", [-0.01, 100.01, 101, "30", True, [30]])
async def test_percentage_range_message(client, make_merchant, pct):
    """percentage outside 0..100 or not a number: the documented message."""
    m = await make_merchant()
    iid = (await create_intent(client, m, amount="1000.00"))["id"]
    before = await snapshot(client, m, iid)
    r = await post_milestone(
        client, m, iid, {"milestoneIndex": 0, "amount": "300.00", "percentage": pct}
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "percentage must be a number between 0 and 100",
        param="percentage",
    )
    assert await snapshot(client, m, iid) == before


@pytest.mark.parametrize("index", [-1, 1000, "1", 1.5, True])
async def test_milestone_index_range_message(client, make_merchant, index):
    """milestoneIndex outside 0..999 or not an integer: the documented message."""
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    before = await snapshot(client, m, iid)
    r = await post_milestone(client, m, iid, {"milestoneIndex": index, "amount": "1.00"})
    assert_error(
        r,
        400,
        "invalid_request",
        "milestoneIndex must be an integer from 0 to 999",
        param="milestoneIndex",
    )
    assert await snapshot(client, m, iid) == before


async def test_duplicate_index_and_total_name_their_params(client, make_merchant):
    """The seed's two 400s carry the documented params (milestoneIndex, amount)."""
    m = await make_merchant()
    iid = (await create_intent(client, m, amount="1000.00"))["id"]
    await add_milestones(client, m, iid, ["600.00"])
    before = await snapshot(client, m, iid)
    r = await post_milestone(client, m, iid, {"milestoneIndex": 0, "amount": "1.00"})
    assert_error(
        r, 400, "invalid_request", "Milestone with index 0 already exists", param="milestoneIndex"
    )
    r = await post_milestone(client, m, iid, {"milestoneIndex": 1, "amount": "400.01"})
    assert_error(
        r,
        400,
        "invalid_request",
        "Total milestone amounts exceed escrow order amount",
        param="amount",
    )
    assert await snapshot(client, m, iid) == before


# --- delivery proof ----------------------------------------------------------------------


async def test_proof_hash_must_match_the_expected_hash(client, app, make_merchant):
    """With expectedDeliveryHash set, another proofHash is refused; the order stays PENDING."""
    m = await make_merchant()
    expected = "0x" + "ab" * 32
    iid = await dvp(client, m, expectedDeliveryHash=expected)
    before = await snapshot(client, m, iid)
    r = await client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert_error(
        r,
        400,
        "invalid_request",
        "proofHash does not match the expectedDeliveryHash of this order",
        param="proofHash",
    )
    after = await snapshot(client, m, iid)
    assert after == before
    assert after["order"]["orderStatus"] == "PENDING" and after["order"]["deliveryProofs"] == []
    # The expected hash, in upper case, is accepted.
    r = await client.post(
        delivery_proof_url(iid),
        json=dict(PROOF, proofHash="0x" + "AB" * 32),
        headers=m.headers,
    )
    assert r.status_code == 200, r.text
    await audit_clean(app)


# --- disputes ------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["0", 0, "315360001", 315360001, "7 days", -5, "1w", "3650d1"])
async def test_dispute_window_message(client, app, make_merchant, window):
    """A bad disputeWindow is refused; the order is not disputed."""
    out_of_range = "disputeWindow must be a whole number of seconds from 1 to 315360000"
    message = (
        f"disputeWindow must be {FORMS}" if window in ("7 days", "1w", "3650d1") else (out_of_range)
    )
    if window in ("0", 0):  # the same words as metadata.disputeWindow
        message = "disputeWindow must be greater than 0"
    m = await make_merchant()
    iid = await dvp(client, m)
    before = await snapshot(client, m, iid)
    r = await client.post(
        dispute_url(iid),
        json={**DISPUTE, "disputeWindow": window},
        headers=m.headers,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        message,
        param="disputeWindow",
    )
    after = await snapshot(client, m, iid)
    assert after == before
    assert after["order"]["orderStatus"] == "PENDING"
    await audit_clean(app)


@pytest.fixture
async def disputed(client, app, make_merchant):
    """A funded DELIVERY_PROOF order with an open dispute, and an operator key."""
    m = await make_merchant()
    iid = await dvp(client, m)
    await raise_dispute(client, m, iid)
    return m, iid, await make_operator(app)


async def resolve(client, iid, body, headers):
    return await client.post(resolve_url(iid), json=body, headers=headers)


async def assert_still_disputed(client, app, m, iid, before):
    after = await snapshot(client, m, iid)
    assert after == before
    assert after["order"]["orderStatus"] == "DISPUTED"
    assert after["order"]["heldAmount"] == "1000.00"
    assert after["order"]["disputeResolution"] is None
    await audit_clean(app)


async def test_partial_refund_needs_refund_amount(client, app, disputed):
    """PARTIAL_REFUND without refundAmount (operator key): the dispute stays open."""
    m, iid, operator = disputed
    before = await snapshot(client, m, iid)
    r = await resolve(client, iid, {"resolution": "PARTIAL_REFUND"}, operator)
    assert_error(
        r,
        400,
        "invalid_request",
        "refundAmount is required for PARTIAL_REFUND",
        param="refundAmount",
    )
    await assert_still_disputed(client, app, m, iid, before)


@pytest.mark.parametrize("resolution", ["MERCHANT_WON", "BUYER_WON"])
async def test_refund_amount_only_with_partial_refund_operator(client, app, disputed, resolution):
    """refundAmount with another resolution (operator key) is refused; nothing moves."""
    m, iid, operator = disputed
    before = await snapshot(client, m, iid)
    r = await resolve(client, iid, {"resolution": resolution, "refundAmount": "100.00"}, operator)
    assert_error(
        r,
        400,
        "invalid_request",
        "refundAmount is only valid with PARTIAL_REFUND",
        param="refundAmount",
    )
    await assert_still_disputed(client, app, m, iid, before)


async def test_refund_amount_only_with_partial_refund_merchant(client, app, disputed):
    """The same rule for a merchant's BUYER_WON (the only resolution it may choose)."""
    m, iid, _ = disputed
    before = await snapshot(client, m, iid)
    r = await resolve(client, iid, {"resolution": "BUYER_WON", "refundAmount": "1.00"}, m.headers)
    assert_error(
        r,
        400,
        "invalid_request",
        "refundAmount is only valid with PARTIAL_REFUND",
        param="refundAmount",
    )
    await assert_still_disputed(client, app, m, iid, before)


@pytest.mark.parametrize("resolution", ["SPLIT", "buyer_won", "", 1, None])
async def test_resolution_must_be_one_of(client, app, disputed, resolution):
    """An unknown resolution is refused with param resolution."""
    m, iid, operator = disputed
    before = await snapshot(client, m, iid)
    r = await resolve(client, iid, {"resolution": resolution}, operator)
    assert_error(
        r,
        400,
        "invalid_request",
        "resolution must be one of MERCHANT_WON, BUYER_WON, PARTIAL_REFUND",
        param="resolution",
    )
    await assert_still_disputed(client, app, m, iid, before)
