"""GET answers read the intent straight from the driver (db/direct.py): the values
must be exactly those an ORM load gives, JSON columns included, on SQLite and on
PostgreSQL, and nothing pending in the session is needed for them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from escrowgate.auth.principal import Principal
from escrowgate.db.direct import fetch_one
from escrowgate.domain.errors import Forbidden, NotFound
from escrowgate.models import PaymentIntent
from escrowgate.payments import repository
from escrowgate.payments.wire import IntentEnvelope
from tests.support.answers import assert_as_its_model, intent_answer_model
from tests.support.driver import (
    DECLINED_CARD_NUMBER as DECLINED,
)
from tests.support.driver import (
    GOOD_CARD,
    create_intent,
    intent_url,
    pay_by_card,
)


async def _both(app: Any, caller: Principal, iid: str) -> tuple[PaymentIntent, PaymentIntent]:
    async with app.state.read_session_factory() as session:
        direct = await repository.read_owned_intent(session, caller, iid)
    async with app.state.read_session_factory() as session:
        loaded = await repository.owned_intent(session, caller, iid)
    return direct, loaded


async def test_a_direct_read_gives_every_column_as_the_orm_does(app, client, merchant):
    intent = await create_intent(
        client, merchant, metadata={"releaseType": "MILESTONE_LOCKED", "nested": {"a": [1, "x"]}}
    )
    await pay_by_card(client, intent["id"])  # fills `funding` (JSON) and the statuses
    caller = Principal(merchant.key_id, merchant.id, merchant.mode, False)
    direct, loaded = await _both(app, caller, intent["id"])
    columns = [attr.key for attr in inspect(PaymentIntent).column_attrs]
    assert len(columns) > 20
    assert {c: getattr(direct, c) for c in columns} == {c: getattr(loaded, c) for c in columns}
    assert direct.metadata_json == {"releaseType": "MILESTONE_LOCKED", "nested": {"a": [1, "x"]}}
    assert isinstance(direct.funding, dict) and direct.funding  # a JSON object, not its text
    assert isinstance(direct.amount, int) and isinstance(direct.created_at, int)
    # An answer's record, not an entity: no ORM state, so never flushed back.
    assert inspect(direct, raiseerr=False) is None and inspect(loaded).has_identity


async def test_another_merchants_intent_is_403_and_an_unknown_one_404(
    app, client, merchant, other_merchant
):
    intent = await create_intent(client, merchant)
    stranger = Principal(other_merchant.key_id, other_merchant.id, other_merchant.mode, False)
    missing = "intent_" + "0" * 44
    async with app.state.read_session_factory() as session:
        with pytest.raises(Forbidden):
            await repository.read_owned_intent(session, stranger, intent["id"])
        with pytest.raises(NotFound, match=f"Payment intent not found: {missing}"):
            await repository.read_owned_intent(session, stranger, missing)


async def test_no_row_is_none(app):
    query = repository._OWNED[(True, False)]
    async with app.state.read_session_factory() as session:
        row = await fetch_one(session, query, {"intent_id": "intent_nope", "mode": "test"})
    assert row is None


async def test_a_get_answers_the_bytes_its_model_gives(app, client, merchant):
    """The GET writes the renderer's object without validating it (api/context.py:
    answer_object): it must be what the model makes of it, byte for byte, and valid."""
    caller = Principal(merchant.key_id, merchant.id, merchant.mode, False)
    plain = await create_intent(client, merchant)
    meta = await create_intent(client, merchant, metadata={"n": 1.5, "s": "é", "x": [1, None]})
    declined = await create_intent(client, merchant)
    r = await pay_by_card(client, declined["id"], card=dict(GOOD_CARD, cardNumber=DECLINED))
    assert r.status_code == 400, r.text
    paid = await create_intent(client, merchant)
    assert (await pay_by_card(client, paid["id"])).status_code == 200
    for intent in (plain, meta, declined, paid):
        r = await client.get(intent_url(intent["id"]), headers=merchant.headers)
        assert r.status_code == 200, r.text
        reference = await intent_answer_model(app, caller, intent["id"])
        assert_as_its_model(r, IntentEnvelope, reference)
    bodies = {
        i["id"]: (await client.get(intent_url(i["id"]), headers=merchant.headers)).json()
        for i in (meta, declined, paid)
    }
    assert bodies[meta["id"]]["data"]["metadata"] == {"n": 1.5, "s": "é", "x": [1, None]}
    assert bodies[declined["id"]]["data"]["lastPaymentError"]["cardLast4"] == DECLINED[-4:]
    assert bodies[paid["id"]]["data"]["fiatPaymentStatus"] == "succeeded"
