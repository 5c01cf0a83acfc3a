"""A transaction's writes, queued and sent together, without the ORM's unit of work.

Rows that a transaction writes and never reads back (events, ledger legs, stored
idempotent answers: `add_row`), and the new or changed entities of the hot paths
(`insert_entity`, `update_entity`, `write_changes`) need none of the unit of work
(instrumented change tracking, flush ordering, one statement per object). They are
queued on the session and sent at the next flush point, as few statements as say
the same (db/direct.py `coalesce`): on PostgreSQL one statement for the whole queue
(a data-modifying WITH: one round trip), on SQLite one statement per table and
column set. Flush points:

- `write_now`: at once, where a use case must see a constraint's answer (the unique
  index behind "Milestone with index N already exists");
- `flush`: the request context's, just before it commits; when the transaction has
  sent nothing else, the one statement is the whole transaction (no BEGIN, COMMIT);
- before any other statement of the session (direct ones, ORM ones, the unit of
  work's flush), so a read in the same transaction sees the rows;
- before the commit (a listener), for the paths that commit themselves.

A rollback drops the writes queued since the rolled-back transaction (or savepoint)
began. Queued rows may go before the rows that the unit of work flushes (every flush
point sends the queue first).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    InstanceState,
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
)
from sqlalchemy.orm.attributes import set_committed_value

from . import optimistic
from .direct import PENDING_ROWS as _PENDING
from .direct import (
    Pending,
    coalesce,
    commit_own,
    entity_map,
    flush_pending_rows,
    has_sent,
    orm_pending,
    piece_statement,
)


def _queue(
    session: AsyncSession | Session,
    table: Table,
    values: dict[str, Any],
    pk_column: str | None = None,
    pk: Any = None,
) -> None:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        # As session.add does: the write belongs to a transaction (begun lazily: no
        # connection yet), so a rollback or close before any statement drops it.
        sync.begin()
    pending: Pending = sync.info.setdefault(_PENDING, [])
    pending.append((sync.get_nested_transaction(), table, values, pk_column, pk))


def add_row(session: AsyncSession | Session, table: Table, row: dict[str, Any]) -> None:
    """INSERT `row` (column key -> value; a column left out takes its default) in the
    session's transaction, at the next flush point."""
    _queue(session, table, row)


async def commit(session: AsyncSession) -> None:
    """The request's writes, durable: the queue (on PostgreSQL, when it is the only
    statement, alone on a pooled connection: db/direct.py), then COMMIT: of a
    transaction of db/direct.py's own, by the driver; otherwise the session's commit,
    which a session that has sent nothing can skip."""
    await flush_pending_rows(session, last=True)
    if await commit_own(session):
        return
    if has_sent(session) or orm_pending(session.sync_session):
        await session.commit()


async def write_now(session: AsyncSession) -> None:
    """Send the queue now: a constraint the writes break raises here."""
    await flush_pending_rows(session)


def flush_rows(session: Session) -> None:
    """The queue through SQLAlchemy, where a sync flush point needs it (the listeners
    below: a commit, an ORM statement or the unit of work's flush with writes queued)."""
    pending: Pending | None = session.info.get(_PENDING)
    if not pending:
        return
    if optimistic.before_write(session) is not None:  # its one write is the async path's
        raise optimistic.Stale("an optimistic session's writes reached a synchronous flush")
    session.info[_PENDING] = []
    connection = session.connection()
    for piece in coalesce(pending):
        stmt, params = piece_statement(piece)
        connection.execute(stmt.stmt, params)  # type: ignore[call-overload]


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    flush_rows(session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    flush_rows(session)


@event.listens_for(Session, "do_orm_execute")
def _before_execute(state: ORMExecuteState) -> None:
    if state.session.info.get(_PENDING):
        flush_rows(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    pending: Pending | None = session.info.get(_PENDING)
    if not pending:
        return
    if previous.nested:  # a savepoint: only what was written inside it
        session.info[_PENDING] = [p for p in pending if p[0] is not previous]
    else:
        session.info[_PENDING] = []


@event.listens_for(Session, "after_transaction_end")
def _after_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and session.info.get(_PENDING):
        session.info[_PENDING] = []


# --- new and changed entities ---------------------------------------------------------
#
# A hot path that creates an entity and never changes it again in the transaction
# (a new intent and its order, a new milestone) queues its INSERT instead of
# `session.add` + the unit of work; the object stays transient and serves for
# rendering. A change to a loaded entity is queued as an UPDATE of those columns by
# primary key, and the loaded object takes the new values as its committed state, so
# the unit of work has nothing left to flush for it.


def insert_entity(session: AsyncSession, obj: object) -> None:
    """Queue the INSERT of a new (transient) entity: the attributes it was given, the
    columns' defaults for the others."""
    mapped = entity_map(type(obj))
    given = obj.__dict__
    columns = mapped.column_keys.items()
    _queue(session, mapped.table, {column: given[a] for a, column in columns if a in given})


def update_entity(session: AsyncSession, obj: object, **changes: Any) -> None:
    """Queue the UPDATE of a loaded entity's columns by primary key, and make `changes`
    its committed state (the object is not left dirty)."""
    _queue_update(session, obj, changes)
    for attr, value in changes.items():
        set_committed_value(obj, attr, value)


def _queue_update(session: AsyncSession, obj: object, changes: dict[str, Any]) -> None:
    mapped = entity_map(type(obj))
    columns, pk = mapped.column_keys, mapped.pk_attr
    values = {columns[attr]: value for attr, value in changes.items()}
    _queue(session, mapped.table, values, columns[pk], obj.__dict__[pk])


def write_changes(session: AsyncSession) -> None:
    """A use case's last step, in place of the unit of work at commit: every entity it
    added is queued as an INSERT, every loaded entity it changed as an UPDATE of the
    changed columns by primary key (all sent with the transaction's other writes).
    Every entity is then detached from the session: they keep their values for
    rendering, and nothing is left for the commit to flush (one `expunge_all`: an
    `expunge` per object walks each one's relationships for its cascade)."""
    sync = session.sync_session
    if sync.deleted:  # expunge_all would drop the DELETE without a word
        raise RuntimeError("write_changes: the session holds a deletion; flush it first")
    for obj in sync.new:
        insert_entity(session, obj)
    for obj in sync.dirty:
        state: InstanceState[Any] = inspect(obj)
        columns = entity_map(type(obj)).column_keys
        changed = {k: state.dict[k] for k in state.committed_state if k in columns}
        if changed:  # its committed state is left as it is: the object leaves the session
            _queue_update(session, obj, changed)
    sync.expunge_all()
