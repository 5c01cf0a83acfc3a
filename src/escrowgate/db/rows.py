"""Append-only rows (events, ledger legs, idempotent answers) written as one INSERT per table.

An event or a ledger leg is never changed by the transaction that writes it, so it
needs none of the ORM's unit of work (an instrumented object, identity map, change
tracking, flush ordering): `add_row` keeps the row as a plain dict on the session
and the rows of each table go to the database as one prebuilt INSERT with many
parameter sets (one pipelined round trip on asyncpg) at the next flush point:

- before the transaction (or savepoint) commits, so they commit with the change they
  belong to, or not at all;
- before any other statement the session executes, so a read in the same
  transaction sees them, as it would see rows the ORM autoflushes.

A rollback drops the rows written since the rolled-back transaction (or savepoint)
began. These tables have no foreign keys, so their rows may go before the ORM
flushes the rows they refer to.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, event, insert, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Mapper, ORMExecuteState, Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value

from .direct import PENDING_ROWS as _PENDING
from .direct import Direct, Pending, execute, flush_pending_rows, insert_rows

_INSERTS: dict[str, Insert] = {}


def add_row(session: AsyncSession | Session, table: Table, row: dict[str, Any]) -> None:
    """Write `row` into `table` in the session's transaction (at the next flush point).
    Every row of one table must have the same keys."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        # As session.add does: the row belongs to a transaction (begun lazily: no
        # connection yet), so a rollback or close before any statement drops it.
        sync.begin()
    pending: Pending = sync.info.setdefault(_PENDING, [])
    pending.append((sync.get_nested_transaction(), table, row))


def _insert(table: Table) -> Insert:
    stmt = _INSERTS.get(table.name)
    if stmt is None:  # built once per table: its compiled form is cached with it
        stmt = _INSERTS[table.name] = insert(table)
    return stmt


async def flush(session: AsyncSession) -> None:
    """Write the rows added so far now, straight to the driver (db/direct.py): what the
    request context does before it commits, so the commit has nothing left to write."""
    await flush_pending_rows(session)


def flush_rows(session: Session) -> None:
    """The same through SQLAlchemy, where a sync flush point needs it (the listeners
    below: a commit or an ORM statement with rows still pending)."""
    pending: Pending | None = session.info.get(_PENDING)
    if not pending:
        return
    session.info[_PENDING] = []
    by_table: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
    for _, table, row in pending:
        by_table.setdefault(table.name, (table, []))[1].append(row)
    connection = session.connection()
    for table, rows in by_table.values():
        connection.execute(_insert(table), rows)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
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


# --- new and changed entities, written now, straight to the driver --------------------------------
#
# A hot path that creates an entity and never changes it again in the transaction
# (a new intent and its order, a new milestone) inserts it with one prebuilt Core
# INSERT instead of `session.add` + the unit of work; the object stays transient and
# serves for rendering. A change to a loaded entity goes out as one prebuilt UPDATE by
# primary key, and the loaded object takes the new values as its committed state, so
# the unit of work has nothing left to flush for it.

_COLUMNS: dict[type, tuple[Table, tuple[tuple[str, str], ...], str]] = {}
_UPDATES: dict[tuple[str, frozenset[str]], Direct] = {}


def _mapping(cls: type) -> tuple[Table, tuple[tuple[str, str], ...], str]:
    """The entity's table, its (attribute, column key) pairs and its primary key attribute."""
    found = _COLUMNS.get(cls)
    if found is None:
        mapper: Mapper[Any] = inspect(cls)
        table = cast(Table, mapper.local_table)
        pairs = tuple((attr.key, attr.columns[0].key) for attr in mapper.column_attrs)
        (pk,) = (attr.key for attr in mapper.column_attrs if attr.columns[0].primary_key)
        found = _COLUMNS[cls] = (table, pairs, pk)
    return found


async def insert_now(session: AsyncSession, obj: object) -> None:
    """INSERT a new (transient) entity now: the attributes it was given, the columns'
    defaults for the others. An IntegrityError is raised here, at the call."""
    table, pairs, _ = _mapping(type(obj))
    given = obj.__dict__
    values = {column: given[attr] for attr, column in pairs if attr in given}
    await insert_rows(session, table, [values], settle=False)


async def update_now(session: AsyncSession, obj: object, **changes: Any) -> None:
    """UPDATE a loaded entity's columns by primary key now, and make `changes` its
    committed state (the object is not left dirty)."""
    table, pairs, pk = _mapping(type(obj))
    columns = dict(pairs)
    key = (table.name, frozenset(changes))
    stmt = _UPDATES.get(key)
    if stmt is None:
        stmt = _UPDATES[key] = Direct(
            update(table)
            .where(table.c[columns[pk]] == bindparam("pk_"))
            .values({columns[a]: bindparam("v_" + a) for a in sorted(changes)})
        )
    params = {"v_" + a: v for a, v in changes.items()}
    params["pk_"] = getattr(obj, pk)
    await execute(session, stmt, [params], settle=False)
    for attr, value in changes.items():
        set_committed_value(obj, attr, value)


async def write_changes(session: AsyncSession) -> None:
    """A use case's last step, in place of the unit of work at commit: every entity it
    added goes out as one prebuilt INSERT, every loaded entity it changed as one
    prebuilt UPDATE of the changed columns by primary key. The entities are then
    detached from the session: they keep their values for rendering, and nothing is
    left for the commit to flush. New entities are inserted in the order they were
    added (an entity the use case creates never refers to another one it creates)."""
    sync = session.sync_session
    for obj in list(sync.new):
        await insert_now(session, obj)
        sync.expunge(obj)
    for obj in list(sync.dirty):
        state: InstanceState[Any] = inspect(obj)
        _, pairs, _ = _mapping(type(obj))
        columns = {attr for attr, _ in pairs}
        changed = {k: state.dict[k] for k in state.committed_state if k in columns}
        if changed:
            await update_now(session, obj, **changed)
        sync.expunge(obj)
