"""Append-only rows (events, ledger legs) written as one Core INSERT per table.

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

from typing import Any

from sqlalchemy import Insert, Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

_PENDING = "escrowgate.pending_rows"
_INSERTS: dict[str, Insert] = {}

Pending = list[tuple[SessionTransaction | None, Table, dict[str, Any]]]


def add_row(session: AsyncSession | Session, table: Table, row: dict[str, Any]) -> None:
    """Write `row` into `table` in the session's transaction (at the next flush point).
    Every row of one table must have the same keys."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    pending: Pending = sync.info.setdefault(_PENDING, [])
    pending.append((sync.get_nested_transaction(), table, row))


def _insert(table: Table) -> Insert:
    stmt = _INSERTS.get(table.name)
    if stmt is None:  # built once per table: its compiled form is cached with it
        stmt = _INSERTS[table.name] = insert(table)
    return stmt


def flush_rows(session: Session) -> None:
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
