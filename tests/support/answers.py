"""The answers the validated renderers give (payments/render.py `intent_wire`,
`milestone_wire`) for rows loaded by the ORM: what the answers written as wire objects
(`*_envelope_object`) are held to, byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from escrowgate.auth.principal import Principal
from escrowgate.models import Milestone
from escrowgate.payments import render, repository
from escrowgate.payments.wire import IntentEnvelope, MilestoneEnvelope


async def intent_answer_model(
    app: Any, caller: Principal, iid: str, *, create: bool = False
) -> IntentEnvelope:
    """`create`: the create answer, which repeats `metadata` at the top level."""
    async with app.state.session_factory() as session:
        i = await repository.owned_intent(session, caller, iid)
        envelope = IntentEnvelope(
            id=i.id,
            object="payment_intent",
            status=i.status,
            data=render.intent_wire(i, app.state.settings),
            created=i.created_at,
            updated=i.updated_at,
        )
        if create:
            envelope.metadata = i.metadata_json
        return envelope


async def milestone_answer_model(
    app: Any, mid: str, *, approval: bool, status: str | None = None
) -> MilestoneEnvelope:
    """`approval`: with the milestone's approvalTypedData; `status`: the top-level one."""
    async with app.state.session_factory() as session:
        m = await session.get(Milestone, mid)
        assert m is not None
        data = render.milestone_wire(m, app.state.settings if approval else None)
    envelope = MilestoneEnvelope(id=mid, object="milestone", data=data)
    if status is not None:
        envelope.status = status
    return envelope


def assert_as_its_model(r: httpx.Response, model: type[BaseModel], reference: BaseModel) -> None:
    """`r`'s body is valid for `model` (extra keys refused), the model writes the same
    bytes back, and they are `reference`'s bytes."""
    assert r.status_code in (200, 201), r.text
    modelled = model.model_validate_json(r.content)  # extra keys are refused
    assert modelled.model_dump_json(exclude_unset=True).encode() == r.content
    assert r.content == reference.model_dump_json(exclude_unset=True).encode()
