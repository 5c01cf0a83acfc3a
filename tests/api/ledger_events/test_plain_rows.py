"""Events and ledger legs are plain rows written at the next flush point (db/rows.py):
they commit with their transaction or not at all, a failed savepoint drops what was
written inside it only, and a read in the same transaction sees them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from escrowgate.events.service import emit
from escrowgate.ledger import service as ledger
from escrowgate.models import Event, LedgerEntry
from escrowgate.wire import WireModel


def _emit(session: Any, merchant_id: str, n: int) -> str:
    return emit(
        session, merchant_id=merchant_id, mode="test", type="test.plain_row", obj={"id": f"o{n}"}
    )


async def _stored(app: Any, ids: list[str]) -> set[str]:
    async with app.state.session_factory() as session:
        found = await session.execute(select(Event.id).where(Event.id.in_(ids)))
        return {row[0] for row in found}


async def test_committed_with_the_transaction(app, merchant):
    async with app.state.session_factory() as session:
        ids = [_emit(session, merchant.id, n) for n in range(3)]
        await session.commit()
    assert await _stored(app, ids) == set(ids)


async def test_rollback_writes_none(app, merchant):
    async with app.state.session_factory() as session:
        ids = [_emit(session, merchant.id, n) for n in range(2)]
        await session.rollback()
        await session.commit()  # nothing left to write
    assert await _stored(app, ids) == set()


async def test_close_without_commit_writes_none(app, merchant):
    async with app.state.session_factory() as session:
        ids = [_emit(session, merchant.id, 0)]
    async with app.state.session_factory() as session:
        await session.commit()
    assert await _stored(app, ids) == set()


async def test_failed_savepoint_drops_only_its_rows(app, merchant):
    async with app.state.session_factory() as session:
        await session.execute(select(1))  # the outer transaction has begun
        before = _emit(session, merchant.id, 0)
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                inside = _emit(session, merchant.id, 1)
                raise RuntimeError("the job failed")
        after = _emit(session, merchant.id, 2)
        async with session.begin_nested():  # a savepoint that succeeds keeps its rows
            kept = _emit(session, merchant.id, 3)
        await session.commit()
    assert await _stored(app, [before, inside, after, kept]) == {before, after, kept}


async def test_a_read_in_the_same_transaction_sees_them(app, merchant):
    where = ledger.Posting(merchant.id, "test", "USDC", None, None)
    async with app.state.session_factory() as session:
        event_id = _emit(session, merchant.id, 0)
        txn = ledger.post(session, where, ledger.RELEASE, 5_000_000)
        seen = await session.execute(select(Event.id).where(Event.id == event_id))
        assert seen.scalar_one() == event_id
        legs = await session.execute(
            select(func.count(), func.sum(LedgerEntry.amount)).where(
                LedgerEntry.transaction_id == txn
            )
        )
        assert tuple(legs.one()) == (2, 0)  # two legs, balanced
        await session.rollback()
    assert await _stored(app, [event_id]) == set()


async def _payload(app: Any, event_id: str) -> Any:
    async with app.state.session_factory() as session:
        found = await session.execute(select(Event.payload).where(Event.id == event_id))
        return found.scalar_one()


class _Thing(WireModel):
    id: str
    text: str
    note: str | None = None  # absent unless given
    count: int


async def test_a_wire_model_is_stored_as_its_wire_json(app, merchant):
    # A payload given as a wire model is serialized in one step (events/service.py):
    # the stored object is exactly its wire(): keys given, in order, unset ones absent,
    # non-ASCII text kept.
    model = _Thing(id="t1", text="déjà vu ✓", count=3)
    async with app.state.session_factory() as session:
        event_id = emit(session, merchant_id=merchant.id, mode="test", type="test.model", obj=model)
        with_extra = emit(
            session,
            merchant_id=merchant.id,
            mode="test",
            type="test.model",
            obj=model,
            extra={"previous_status": "PENDING", "n": 2},
        )
        await session.commit()
    stored = await _payload(app, event_id)
    assert stored == model.model_dump(mode="json", exclude_unset=True)
    assert list(stored.items()) == [("id", "t1"), ("text", "déjà vu ✓"), ("count", 3)]
    assert list((await _payload(app, with_extra)).items()) == [
        ("id", "t1"),
        ("text", "déjà vu ✓"),
        ("count", 3),
        ("previous_status", "PENDING"),
        ("n", 2),
    ]


async def test_a_dict_payload_takes_extra_keys_after_its_own(app, merchant):
    async with app.state.session_factory() as session:
        event_id = emit(
            session,
            merchant_id=merchant.id,
            mode="test",
            type="test.dict",
            obj={"id": "o1", "object": "thing"},
            extra={"previous_status": "PENDING"},
        )
        await session.commit()
    stored = await _payload(app, event_id)
    assert list(stored.items()) == [
        ("id", "o1"),
        ("object", "thing"),
        ("previous_status", "PENDING"),
    ]
