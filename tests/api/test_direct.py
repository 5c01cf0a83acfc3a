"""db/direct.py: statements sent straight to the driver must behave as SQLAlchemy's own
in the session: inside its transaction (the row lock held until commit), after its
pending work (autoflush), errors as SQLAlchemy's exception classes, entities in the
session's identity map. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from escrowgate.auth.principal import Principal
from escrowgate.db import rows
from escrowgate.db.direct import (
    _LINK,
    Direct,
    adopt,
    fetch_all,
    fetch_one,
    flush_pending_rows,
    has_sent,
)
from escrowgate.events.service import emit
from escrowgate.models import ConditionalPayment, Event, Milestone, PaymentIntent
from escrowgate.payments import repository
from tests.support.driver import create_intent, milestones_url, sessions_not_freed

_EVENTS = cast(Table, Event.__table__)
_EVENT_BY_ID = Direct(select(Event.id, Event.payload).where(Event.id == bindparam("id")))


def _caller(merchant: Any) -> Principal:
    return Principal(merchant.key_id, merchant.id, merchant.mode, False)


async def test_a_locked_direct_read_holds_its_lock_until_the_transaction_ends(
    app, client, merchant, settings
):
    if settings.is_sqlite:
        pytest.skip("SQLite locks the whole database (BEGIN IMMEDIATE), tested by the races")
    intent = await create_intent(client, merchant)
    factory = app.state.session_factory
    async with factory() as holder, factory() as other:
        # The direct statement is the transaction's first: it must begin it, or its
        # row lock would be released as soon as it ran.
        await repository.owned_order(holder, _caller(merchant), intent["id"], lock=True)
        conn = await other.connection()
        await conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(Exception, match="lock timeout|canceling statement"):
            await conn.execute(
                text("SELECT id FROM payment_intents WHERE id = :id FOR UPDATE"),
                {"id": intent["id"]},
            )
        await other.rollback()
        await holder.commit()
        conn = await other.connection()
        got = await conn.execute(
            text("SELECT id FROM payment_intents WHERE id = :id FOR UPDATE NOWAIT"),
            {"id": intent["id"]},
        )
        assert got.scalar_one() == intent["id"]


async def test_a_second_locked_read_waits_for_the_first(app, client, merchant, settings):
    """Two transactions lock the same aggregate through the direct path: the second
    gets the row only after the first commits, and sees its change."""
    intent = await create_intent(client, merchant)
    factory = app.state.session_factory
    caller = _caller(merchant)
    order_seen: list[int] = []

    async def second() -> None:
        async with factory() as session:
            _, order = await repository.owned_order(session, caller, intent["id"], lock=True)
            order_seen.append(order.clock_offset)

    async with factory() as first:
        _, order = await repository.owned_order(first, caller, intent["id"], lock=True)
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not waiter.done()  # blocked on the lock
        rows.update_entity(first, order, clock_offset=order.clock_offset + 7)
        await first.commit()
    await asyncio.wait_for(waiter, 30)
    assert order_seen == [7]


async def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(app, client, merchant):
    intent = await create_intent(client, merchant)
    async with app.state.session_factory() as session:
        _, order = await repository.owned_order(session, _caller(merchant), intent["id"])
        row = {c.key: getattr(order, a) for a, c in _attr_columns(ConditionalPayment)}
        with pytest.raises(IntegrityError) as raised:
            rows.add_row(session, cast(Table, ConditionalPayment.__table__), row)
            await rows.write_now(session)
        assert raised.value.orig is not None  # the DB-API error, as SQLAlchemy keeps it
        assert "conditional_payments" in str(raised.value.statement)


async def test_rows_added_in_the_session_are_seen_by_a_direct_read(app, merchant):
    async with app.state.session_factory() as session:
        event_id = emit(
            session, merchant_id=merchant.id, mode="test", type="x.y", obj={"id": "o", "n": 1}
        )
        found = await fetch_one(session, _EVENT_BY_ID, {"id": event_id})
        assert found == {"id": event_id, "payload": {"id": "o", "n": 1}}
        await session.rollback()
    async with app.state.session_factory() as session:
        assert await fetch_one(session, _EVENT_BY_ID, {"id": event_id}) is None


async def test_an_entity_is_the_sessions_own_object_and_its_changes_are_flushed(
    app, client, merchant
):
    intent = await create_intent(client, merchant, description="before")
    caller = _caller(merchant)
    async with app.state.session_factory() as session:
        first = await repository.owned_intent(session, caller, intent["id"])
        again, _ = await repository.owned_order(session, caller, intent["id"], lock=True)
        assert again is first  # one object per row in a session, as the ORM's identity map
        assert inspect(first).persistent
        first.description = "after"  # tracked: the unit of work writes it at commit
        await session.commit()
        session.expire_all()
        # An expired object is refreshed by the next read of its row, as a load does.
        assert (await repository.owned_intent(session, caller, intent["id"])) is first
        assert first.description == "after"
    r = await client.get(f"/v1/payment-intents/{intent['id']}", headers=merchant.headers)
    assert r.json()["data"]["description"] == "after"


async def test_literals_of_a_statement_are_its_own_parameters(app, client, merchant):
    intent = await create_intent(client, merchant)
    query = Direct(
        select(PaymentIntent.id)
        .where(PaymentIntent.merchant_id == bindparam("m"), PaymentIntent.status == "INITIATED")
        .limit(5)
    )
    async with app.state.read_session_factory() as session:
        found = await fetch_all(session, query, {"m": merchant.id})
    assert {"id": intent["id"]} in found and len(found) <= 5


def test_an_in_list_is_refused(app):
    dialect = app.state.engine.dialect
    with pytest.raises(TypeError, match="no IN lists"):
        Direct(select(Milestone.id).where(Milestone.status.in_(("A", "B")))).compiled(dialect)


def _attr_columns(cls: type) -> list[tuple[str, Any]]:
    return [(a.key, a.columns[0]) for a in inspect(cls).column_attrs]


def test_a_row_the_session_holds_is_not_overwritten():
    session = Session()
    row = {a: None for a, _ in _attr_columns(Milestone)} | {"id": "milestone_x", "amount": 5}
    one = adopt(session, Milestone, row)
    assert inspect(one).persistent and one in session
    assert adopt(session, Milestone, {**row, "amount": 9}) is one
    assert one.amount == 5  # loaded values are kept, as a load without populate_existing
    assert not session.dirty
    one.amount = 7  # tracked as the ORM tracks a loaded object's change
    assert one in session.dirty
    assert session.is_modified(one)
    session.expunge_all()
    assert inspect(one).detached and not session.dirty


def test_an_adopted_rows_change_is_undone_by_a_rollback():
    session = Session()  # no transaction yet: the change begins one, as for a loaded object
    row = {a: None for a, _ in _attr_columns(Milestone)} | {"id": "milestone_y", "amount": 5}
    one = adopt(session, Milestone, row)
    one.amount = 7
    session.rollback()
    assert not session.dirty and one not in session.dirty
    assert "amount" not in inspect(one).dict  # expired, as a loaded object is by a rollback


_COUNT_EVENTS = Direct(
    select(func.count().label("n")).select_from(Event).where(Event.type == bindparam("type"))
)


async def test_a_large_batch_is_split_below_the_parameter_limits(app, merchant):
    """5,000 queued events (45,000 parameters: more than one statement may carry on
    either database) are all written, in the one transaction."""
    kind = f"bulk.{merchant.id[-8:]}"
    async with app.state.session_factory() as session:
        for i in range(5000):
            emit(session, merchant_id=merchant.id, mode="test", type=kind, obj={"id": f"o{i}"})
        await flush_pending_rows(session, last=True)
        await session.rollback()  # the split statements ran in one transaction
        assert await fetch_one(session, _COUNT_EVENTS, {"type": kind}) == {"n": 0}
        for i in range(5000):
            emit(session, merchant_id=merchant.id, mode="test", type=kind, obj={"id": f"o{i}"})
        await rows.commit(session)
    async with app.state.session_factory() as session:
        assert await fetch_one(session, _COUNT_EVENTS, {"type": kind}) == {"n": 5000}


async def test_a_requests_only_statement_is_sent_alone_and_committed(app, merchant, settings):
    """Writes queued in a session that has sent nothing else are, on PostgreSQL, one
    statement on a pooled connection: the session never holds one, and the rows are
    committed (another session sees them). On SQLite they go through the session."""
    kind = f"alone.{merchant.id[-8:]}"
    async with app.state.session_factory() as session:
        connections: list[Any] = []
        event.listen(session.sync_session, "after_begin", lambda *a: connections.append(a[2]))
        for i in range(3):
            emit(session, merchant_id=merchant.id, mode="test", type=kind, obj={"id": f"o{i}"})
        assert not has_sent(session)
        await rows.commit(session)
        assert len(connections) == (1 if settings.is_sqlite else 0)
    async with app.state.session_factory() as session:
        assert await fetch_one(session, _COUNT_EVENTS, {"type": kind}) == {"n": 3}


async def test_an_error_of_the_only_statement_is_sqlalchemys_and_writes_nothing(app, merchant):
    """A constraint broken by the lone statement: SQLAlchemy's IntegrityError, none of
    its rows written, and the pool's connections still good for the next request."""
    kind = f"clash.{merchant.id[-8:]}"
    async with app.state.session_factory() as session:
        first = emit(session, merchant_id=merchant.id, mode="test", type=kind, obj={"id": "a"})
        await rows.commit(session)
    async with app.state.session_factory() as session:
        emit(session, merchant_id=merchant.id, mode="test", type=kind, obj={"id": "b"})
        again = {
            "id": first,
            "merchant_id": merchant.id,
            "mode": "test",
            "type": kind,
            "object_id": "a",
            "payload": {"id": "a"},
            "created_at": 0,
        }
        rows.add_row(session, _EVENTS, again)  # the same primary key as the first event
        with pytest.raises(IntegrityError) as raised:
            await rows.commit(session)
        assert raised.value.orig is not None
        assert "events" in str(raised.value.statement)
    for _ in range(3):  # every pooled connection still answers
        async with app.state.session_factory() as session:
            assert await fetch_one(session, _COUNT_EVENTS, {"type": kind}) == {"n": 1}


async def test_write_changes_refuses_to_drop_a_pending_deletion(app, client, merchant):
    """write_changes detaches every entity at once; a DELETE still pending in the session
    would vanish with them, so it refuses (and the row stays)."""
    intent = await create_intent(client, merchant)
    async with app.state.session_factory() as session:
        _, order = await repository.owned_order(session, _caller(merchant), intent["id"])
        await session.delete(order)
        with pytest.raises(RuntimeError, match="holds a deletion"):
            rows.write_changes(session)
        await session.rollback()
    async with app.state.session_factory() as session:
        _, order = await repository.owned_order(session, _caller(merchant), intent["id"])
        assert order.payment_intent_id == intent["id"]


# --- a transaction on a connection of our own (PostgreSQL) ------------------------------


def _own(session: Any) -> Any:
    """The connection db/direct.py took from the pool for the session's transaction."""
    cached = session.sync_session.info.get(_LINK)
    return None if cached is None else cached[1].own


class _Lent:
    """Connections taken from the engine's pool and not given back, while it counts
    (pool events: any pool class, SQLite's included)."""

    def __init__(self, app: Any) -> None:
        self.pool = app.state.engine.sync_engine.pool
        self.count = 0

    def _out(self, *_: Any) -> None:
        self.count += 1

    def _back(self, *_: Any) -> None:
        self.count -= 1

    def __enter__(self) -> _Lent:
        event.listen(self.pool, "checkout", self._out)
        event.listen(self.pool, "checkin", self._back)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self.pool, "checkout", self._out)
        event.remove(self.pool, "checkin", self._back)


async def test_a_write_transaction_runs_on_a_connection_of_its_own(app, client, merchant, settings):
    """On PostgreSQL the lock, the reads and the writes of a use case run on a connection
    taken from the pool without the Session's connection objects (no Connection is
    made), COMMIT by the driver, and the connection goes back. SQLite keeps the
    Session's connection (BEGIN IMMEDIATE)."""
    intent = await create_intent(client, merchant, description="before")
    made: list[Any] = []

    def connected(connection: Any) -> None:
        made.append(connection)

    sync_engine = app.state.engine.sync_engine
    event.listen(sync_engine, "engine_connect", connected)
    try:
        with _Lent(app) as lent:
            async with app.state.session_factory() as session:
                found, _ = await repository.owned_order(
                    session, _caller(merchant), intent["id"], lock=True
                )
                own = _own(session)  # held here: given back by the commit, not by the GC
                assert (own is not None) is (not settings.is_sqlite)
                rows.update_entity(session, found, description="after")
                await rows.commit(session)
                assert _own(session) is None
                if own is not None:
                    assert lent.count == 0
    finally:
        event.remove(sync_engine, "engine_connect", connected)
    assert len(made) == (1 if settings.is_sqlite else 0)
    r = await client.get(f"/v1/payment-intents/{intent['id']}", headers=merchant.headers)
    assert r.json()["data"]["description"] == "after"


async def test_the_sessions_own_commit_commits_it(app, client, merchant):
    """Code that commits the Session itself (not rows.commit) commits the transaction of
    our own too: the Session joins the connection before its commit."""
    intent = await create_intent(client, merchant, description="before")
    async with app.state.session_factory() as session:
        found, _ = await repository.owned_order(session, _caller(merchant), intent["id"], lock=True)
        rows.update_entity(session, found, description="committed by the session")
        await rows.write_now(session)  # sent on our connection, nothing left for the ORM
        await session.commit()
    r = await client.get(f"/v1/payment-intents/{intent['id']}", headers=merchant.headers)
    assert r.json()["data"]["description"] == "committed by the session"


async def test_a_closed_session_rolls_back_and_gives_the_connection_back(app, client, merchant):
    intent = await create_intent(client, merchant, description="kept")
    with _Lent(app) as lent:
        async with app.state.session_factory() as session:
            found, _ = await repository.owned_order(
                session, _caller(merchant), intent["id"], lock=True
            )
            own = _own(session)  # held here: given back by the close, not by the GC
            rows.update_entity(session, found, description="never committed")
            await rows.write_now(session)
        assert lent.count == 0
    del own
    r = await client.get(f"/v1/payment-intents/{intent['id']}", headers=merchant.headers)
    assert r.json()["data"]["description"] == "kept"
    # The row lock went with the rollback: another transaction takes it at once.
    async with app.state.session_factory() as session:
        await asyncio.wait_for(
            repository.owned_order(session, _caller(merchant), intent["id"], lock=True), 10
        )


async def test_an_orm_statement_runs_in_the_same_transaction(app, client, merchant):
    """An ORM statement after a direct one is bound to the same connection: it sees the
    transaction's uncommitted write and does not wait on its own row lock (on a second
    connection it would, until the timeout); the commit covers both."""
    intent = await create_intent(client, merchant, description="before")
    async with app.state.session_factory() as session:
        found, _ = await repository.owned_order(session, _caller(merchant), intent["id"], lock=True)
        rows.update_entity(session, found, description="direct")
        await rows.write_now(session)
        seen = await asyncio.wait_for(
            session.scalar(select(PaymentIntent.description).where(PaymentIntent.id == found.id)),
            10,
        )
        assert seen == "direct"
        await asyncio.wait_for(
            session.execute(
                text("UPDATE payment_intents SET description = 'orm' WHERE id = :id"),
                {"id": found.id},
            ),
            10,
        )
        await rows.commit(session)
    r = await client.get(f"/v1/payment-intents/{intent['id']}", headers=merchant.headers)
    assert r.json()["data"]["description"] == "orm"


async def _end_backend(app: Any, own: Any) -> None:
    """The server ends the process behind our connection (behind PgBouncer too: the
    process of this transaction, not the pooler's)."""
    pid = await own.driver_connection.fetchval("SELECT pg_backend_pid()")
    async with app.state.session_factory() as other:
        conn = await other.connection()
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await other.commit()


async def test_a_broken_connection_of_our_own_is_invalidated(app, client, merchant, settings):
    """The server ends our connection mid-transaction: the next statement raises
    SQLAlchemy's error with the connection invalidated, and the pool does not hand the
    dead connection out again."""
    if settings.is_sqlite:
        pytest.skip("no server connection to end on SQLite")
    intent = await create_intent(client, merchant)
    async with app.state.session_factory() as session:
        await repository.owned_order(session, _caller(merchant), intent["id"], lock=True)
        own = _own(session)
        assert own is not None
        await _end_backend(app, own)
        with pytest.raises(DBAPIError) as raised:
            await repository.owned_order(session, _caller(merchant), intent["id"], lock=True)
        assert raised.value.connection_invalidated
        assert not own.is_valid
    for _ in range(3):  # every pooled connection answers
        async with app.state.session_factory() as session:
            await repository.owned_order(session, _caller(merchant), intent["id"], lock=True)
            await rows.commit(session)


async def test_a_commit_on_a_broken_connection_fails_and_keeps_nothing(
    app, client, merchant, settings
):
    """The connection dies between the writes and COMMIT: the commit raises SQLAlchemy's
    error with the connection invalidated, and nothing of the transaction is kept."""
    if settings.is_sqlite:
        pytest.skip("no server connection to end on SQLite")
    intent = await create_intent(client, merchant, description="kept")
    async with app.state.session_factory() as session:
        found, _ = await repository.owned_order(session, _caller(merchant), intent["id"], lock=True)
        rows.update_entity(session, found, description="lost with the connection")
        await rows.write_now(session)
        await _end_backend(app, _own(session))
        with pytest.raises(DBAPIError) as raised:
            await rows.commit(session)
        assert raised.value.connection_invalidated
    r = await client.get(f"/v1/payment-intents/{intent['id']}", headers=merchant.headers)
    assert r.json()["data"]["description"] == "kept"


async def test_a_session_that_sent_leaves_no_cycle_behind(client, merchant):
    """A session's transaction is not kept in its info once it ended (the transaction
    refers to the session: the pair would wait for the cyclic GC instead of going with
    the request). Here the key is looked up in the request's session (no key cache
    without a lifespan), so each session sends."""
    iid = (await create_intent(client, merchant, amount="1000.00"))["id"]  # paths warmed

    async def requests() -> None:
        created = await create_intent(client, merchant, amount="1000.00")
        body = {"milestoneIndex": 0, "amount": "400.00"}
        r = await client.post(milestones_url(created["id"]), json=body, headers=merchant.headers)
        assert r.status_code == 201, r.text
        assert (await client.get(f"/v1/payment-intents/{iid}", headers=merchant.headers)).is_success

    made, alive = await sessions_not_freed(requests)
    assert made >= 3 and alive == [], (made, alive)


async def test_a_savepoint_does_not_hide_that_the_session_has_sent(app):
    """`has_sent` reads the root transaction's connection: a savepoint begun on it (the
    worker's jobs use them) must not make a session that holds a connection look as if
    it held none (its close would then skip the rollback and the connection's return)."""
    async with app.state.session_factory() as session:
        await session.execute(text("SELECT 1"))
        assert has_sent(session)
        async with session.begin_nested():
            await session.execute(text("SELECT 1"))
            assert has_sent(session)
        assert has_sent(session)
        await session.rollback()
        assert not has_sent(session)
