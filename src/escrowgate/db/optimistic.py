"""Optimistic writes: a request that reads its aggregate without locking it and writes
it in one statement, guarded by the version it read.

Why: on PostgreSQL a locked write costs five round trips (BEGIN, the locking read, the
children's read, the write, COMMIT); each costs the app about 0.12 ms of CPU, more than
any Python left around it (docs/architecture.md, "Optimistic writes"). Read unlocked (the
intent, its order and milestones in one statement: no lock wait can leave the children
stale) and written as one statement, the same request makes two round trips; the write
is its own transaction.

How it stays safe (the rule lives in docs/architecture.md, "Locking rules"):

- every transaction that locks a payment intent adds one to its `version` in the
  statement that takes the lock (payments/repository.py), so a committed change of the
  aggregate (intent, order, milestones...) always moved the version;
- the optimistic request records the version it read (`guard`); its one write statement
  begins with `UPDATE payment_intents SET version = version + 1 ... WHERE id = :id AND
  version = :read` (db/direct.py), which takes the intent's lock first, as every locked
  path does, and waits for a transaction that holds it; when it matches no row, the
  guard function fails the whole statement (SQLSTATE 40001) and nothing is written;
- then `Stale` is raised and the request runs again under locks
  (api/context.py: `Ctx.optimistic`).

An optimistic session writes once: a second write, a read after a queued write, or the
unit of work's own flush raise `Stale` before anything is written (the request runs
again under locks), or RuntimeError after the one write (a bug: the write committed).
Only PostgreSQL: SQLite serialises its writers (BEGIN IMMEDIATE), nothing to save there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

OPTIMISTIC = "escrowgate.optimistic"
VERSION_COLUMN = "version"  # the guarded table's version column


class Stale(Exception):
    """Nothing was written: the aggregate changed since it was read (or the request
    needs more than the one write an optimistic session makes). Run it again under
    locks."""


@dataclass
class State:
    table: Table | None = None  # the guarded row: its table, primary key column and key
    pk_column: str = ""
    pk: Any = None
    version: int = 0  # the version read
    written: bool = False  # the one write has been sent


def allow(session: AsyncSession) -> None:
    """The session may read its aggregate unlocked and write it once, guarded."""
    session.sync_session.info[OPTIMISTIC] = State()


def state(session: AsyncSession | Session) -> State | None:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    found: State | None = sync.info.get(OPTIMISTIC)
    return found


def unlocked(session: AsyncSession) -> bool:
    """Whether the aggregate this session is about to lock may be read unlocked instead
    (an optimistic session that has not read one yet). A second aggregate is `Stale`:
    one guard per session."""
    found = state(session)
    if found is None:
        return False
    if found.table is not None or found.written:
        raise Stale("an optimistic session guards one aggregate")
    return True


def guard(session: AsyncSession, table: Table, pk_column: str, pk: Any, version: int) -> None:
    """Record the row whose version the session's write is guarded by."""
    found = state(session)
    assert found is not None and found.table is None
    found.table, found.pk_column, found.pk, found.version = table, pk_column, pk, version


def before_write(session: AsyncSession | Session) -> State | None:
    """The session's state before it writes (None: not optimistic). A write after the
    one write is a bug: it would be a second transaction."""
    found = state(session)
    if found is not None and found.written:
        raise RuntimeError("an optimistic session wrote after its one guarded write")
    return found


@event.listens_for(Session, "before_flush")
def _no_unit_of_work(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    """The unit of work's flush is not the guarded write: run the request under locks."""
    if before_write(session) is not None:
        raise Stale("an optimistic session flushed entities")


@event.listens_for(Session, "do_orm_execute")
def _no_orm_writes(execution: ORMExecuteState) -> None:
    """Nor is an INSERT, UPDATE or DELETE sent through the session (it would take row
    locks before the intent's, or be a second transaction after the write)."""
    writes = execution.is_insert or execution.is_update or execution.is_delete
    if writes and before_write(execution.session) is not None:
        raise Stale("an optimistic session sent a write statement of its own")
