"""The answers about one intent or one milestone are their renderer's wire object,
written without the model (payments/render.py `*_envelope_object`, api/context.py
`answer_object`). Each must be what its model makes of it, byte for byte: valid (the
models refuse extra keys), written back the same, and the bytes the validated renderers
(`intent_wire`, `milestone_wire`) give for the same rows loaded by the ORM. A create's
answer and its event carry one shape: the event's payload is the answer's `data`."""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account

from escrowgate.auth.principal import Principal
from escrowgate.payments.wire import IntentEnvelope, MilestoneEnvelope
from tests.support.answers import (
    assert_as_its_model,
    intent_answer_model,
    milestone_answer_model,
)
from tests.support.driver import (
    WINDOW,
    add_milestone,
    advance,
    approve,
    cancel_url,
    complete,
    dvp,
    events_url,
    intent_body,
    intents_url,
    list_all,
    make_operator,
    milestone_url,
    milestones_url,
    operator_approve_url,
    post_complete,
)


async def _payload(client: httpx.AsyncClient, merchant: Any, type_: str, obj_id: str) -> Any:
    events = await list_all(client, merchant, events_url(), type=type_)
    return next(e["data"]["object"] for e in events if e["data"]["object"]["id"] == obj_id)


async def test_a_create_intent_answers_its_models_bytes_and_its_event_has_its_data(
    app, client, merchant
):
    caller = Principal(merchant.key_id, merchant.id, merchant.mode, False)
    bodies = [
        intent_body(),
        intent_body(metadata={"releaseType": "MILESTONE_LOCKED", "n": 1.5, "s": "é", "x": None}),
        intent_body(type="CONDITIONAL"),  # no metadata: the answer's top-level key is null
    ]
    for body in bodies:
        r = await client.post(intents_url(), json=body, headers=merchant.headers)
        iid = r.json()["id"]
        reference = await intent_answer_model(app, caller, iid, create=True)
        assert_as_its_model(r, IntentEnvelope, reference)
        assert r.json()["metadata"] == body.get("metadata")
        assert await _payload(client, merchant, "payment_intent.created", iid) == r.json()["data"]
    cancelled = await client.post(cancel_url(iid), headers=merchant.headers)
    assert cancelled.json()["status"] == "CANCELED" and "metadata" not in cancelled.json()
    assert_as_its_model(cancelled, IntentEnvelope, await intent_answer_model(app, caller, iid))


async def test_the_milestone_answers_are_their_models_bytes(app, client, merchant):
    payer = Account.create()
    iid = await dvp(client, merchant, "MILESTONE_LOCKED", payer=payer)
    body = {"milestoneIndex": 0, "description": "Désign", "amount": "400.00"}
    r = await client.post(milestones_url(iid), json=body, headers=merchant.headers)
    mid = r.json()["id"]
    reference = await milestone_answer_model(app, mid, approval=False)
    assert_as_its_model(r, MilestoneEnvelope, reference)
    assert "approvalTypedData" not in r.json()["data"] and "status" not in r.json()
    assert await _payload(client, merchant, "milestone.created", mid) == r.json()["data"]

    r = await post_complete(client, merchant, iid, mid)
    assert r.json()["status"] == "completed"
    reference = await milestone_answer_model(app, mid, approval=True, status="completed")
    assert_as_its_model(r, MilestoneEnvelope, reference)

    r = await client.get(milestone_url(iid, mid), headers=merchant.headers)
    assert_as_its_model(r, MilestoneEnvelope, await milestone_answer_model(app, mid, approval=True))

    # Approved by the payer's signature (the dispute window passed): released.
    await advance(client, merchant, iid, WINDOW + 1)
    r = await approve(client, merchant, iid, mid, payer)
    assert r.json()["status"] == "released" and r.json()["data"]["status"] == "RELEASED"
    reference = await milestone_answer_model(app, mid, approval=True, status="released")
    assert_as_its_model(r, MilestoneEnvelope, reference)

    # An operator's approval of another one.
    late = await add_milestone(client, merchant, iid, 1, "100.00")
    await complete(client, merchant, iid, late)
    r = await client.post(operator_approve_url(iid, late), headers=await make_operator(app))
    reference = await milestone_answer_model(app, late, approval=True, status="released")
    assert_as_its_model(r, MilestoneEnvelope, reference)
