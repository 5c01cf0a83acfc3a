"""Statements sent straight to the driver: a prebuilt Core statement (SELECT, INSERT,
UPDATE) compiled once per dialect, executed on the asyncpg (or aiosqlite) connection
the session holds, inside the session's transaction.

Why: SQLAlchemy's execution around each statement (the session's execute, the
compiled-cache lookup, the execution context, the result, the ORM's entity loading)
costs several times what the driver does: about 150-190 µs of CPU per statement
against 30-40 µs on asyncpg (bench/stack_floor.py). The money paths send 5-12
statements a request, so this layer is most of what a write costs above its SQL
(docs/architecture.md, "The data path"). What SQLAlchemy does per statement and still
must be done is done here, from SQLAlchemy's own parts:

- the SQL and the parameter order are SQLAlchemy's compilation for the dialect;
- parameters go through the column types' bind processors, results through their
  result processors (JSON text on SQLite, booleans...), so values are those an ORM
  load gives;
- a driver error is raised as SQLAlchemy raises it (`IntegrityError`,
  `OperationalError`..., translated by the dialect's own adapter), and a connection
  that broke is invalidated, not given back to the pool;
- the session's own pending work is written first (its autoflush): the writes queued
  by db/rows.py and the unit of work's new and changed entities, so a read sees them;
- the statement runs in the session's transaction: on PostgreSQL the dialect begins
  it lazily with its own first statement, so it is begun here when a direct statement
  comes first (`_begin`); on SQLite `session.connection()` has begun it (BEGIN
  IMMEDIATE, db/engine.py).

An entity read here is adopted into the session as if the ORM had loaded it
(`adopt`): in its identity map, its changes tracked and flushed as usual. The
session's queued writes are sent together (`flush_pending_rows`): on PostgreSQL as
one statement.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import (
    ClauseElement,
    Select,
    Table,
    bindparam,
    event,
    insert,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Mapper, Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from . import optimistic
from .availability import is_database_unavailable
from .engine import OWN_CONNECTION, PGBOUNCER_OPTION, AppSession
from .greenlets import spawn

Processor = Callable[[Any], Any] | None
E = TypeVar("E")

# The writes waiting in a session (db/rows.py queues them): (savepoint or None,
# table, values by column key, primary key column for an UPDATE or None for an INSERT,
# that key's value).
PENDING_ROWS = "escrowgate.pending_rows"
Write = tuple[Any, Table, dict[str, Any], str | None, Any]
Pending = list[Write]


_GIVEN = object()  # a parameter the caller gives (not a literal of the statement)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name, bind processor, the literal's value or _GIVEN), in the driver's order
    params: tuple[tuple[str, Processor, Any], ...]
    keys: tuple[str, ...]  # result column keys, in select order
    processors: tuple[Processor, ...]


class Direct:
    """A Core statement with bound parameters (`bindparam("name")`; literals such as
    `column == "X"` or `.limit(1)` are kept as the statement's own values), compiled
    for each dialect the first time it runs there. A SELECT's rows map to `keys`
    (default: the columns' keys). `postgresql`: another statement with the same
    columns and parameters, sent there instead."""

    def __init__(
        self,
        stmt: ClauseElement,
        keys: tuple[str, ...] | None = None,
        *,
        postgresql: ClauseElement | None = None,
    ) -> None:
        self.stmt = stmt
        self._postgresql = postgresql
        columns = getattr(stmt, "selected_columns", None)
        self._columns = tuple(columns) if columns is not None else ()
        self.keys = keys or tuple(str(c.key) for c in self._columns)
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            stmt = self.stmt
            if dialect.name == "postgresql" and self._postgresql is not None:
                stmt = self._postgresql
            compiled: Any = stmt.compile(dialect=dialect)
            order = compiled.positiontup or ()
            binds = [compiled.binds[name] for name in order]
            if len(set(order)) != len(order) or any(bind.expanding for bind in binds):
                raise TypeError("a direct statement names each parameter once, no IN lists")
            params = tuple(
                (
                    name,
                    bind.type.dialect_impl(dialect).bind_processor(dialect),
                    _GIVEN if bind.required or bind.value is None else bind.effective_value,
                )
                for name, bind in zip(order, binds, strict=True)
            )
            processors = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in self._columns
            )
            found = _Compiled(compiled.string, params, self.keys, processors)
            self._by_dialect[dialect.name] = found
        return found


def _args(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    # One comprehension, not a loop of appends: a statement's parameters are most of
    # the calls a write makes here.
    return [
        (params[name] if fixed is _GIVEN else fixed)
        if proc is None
        else proc(params[name] if fixed is _GIVEN else fixed)
        for name, proc, fixed in compiled.params
    ]


def _row(compiled: _Compiled, row: Sequence[Any]) -> dict[str, Any]:
    return {
        key: (value if proc is None else proc(value))
        for key, value, proc in zip(compiled.keys, row, compiled.processors, strict=True)
    }


@dataclass
class _Link:
    dialect: Dialect
    adapted: Any  # SQLAlchemy's DB-API adapter around the driver connection
    driver: Any  # asyncpg.Connection or aiosqlite.Connection
    sqlite: bool
    pgbouncer: bool
    invalidate: Callable[[], Awaitable[None]]
    # A connection this module took from the pool itself (`_own_link`), and the
    # SQLAlchemy Connection made around it once the ORM joins the transaction.
    own: Any = None
    joined: Connection | None = None


_LINK = "escrowgate.direct_link"


def _behind_pgbouncer(engine: Engine) -> bool:
    return bool(engine.get_execution_options().get(PGBOUNCER_OPTION))


async def _link(session: AsyncSession, *, begin: bool = True) -> _Link:
    """The driver connection of the session's transaction (looked up once per
    transaction: `session.connection()` alone costs about two statements' CPU)."""
    sync = session.sync_session
    transaction = sync.get_transaction()
    cached: tuple[Any, _Link] | None = sync.info.get(_LINK)
    if cached is not None and cached[0] is transaction:
        if not transaction.is_active:
            await session.connection()  # raises as SQLAlchemy does (a failed flush...)
        link = cached[1]
    elif _may_own(sync):
        link = await _own_link(sync)
    else:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        link = _Link(
            dialect=connection.dialect,
            adapted=raw.dbapi_connection,
            driver=raw.driver_connection,
            sqlite=connection.dialect.name == "sqlite",
            pgbouncer=_behind_pgbouncer(connection.sync_engine),
            invalidate=connection.invalidate,
        )
        sync.info[_LINK] = (sync.get_transaction(), link)
    if begin and not link.sqlite and not link.driver.is_in_transaction():
        await _begin(link)
    return link


# --- a transaction on a connection of our own -------------------------------------------
#
# On PostgreSQL the session's transaction runs on a connection this module takes from
# the engine's pool itself, not through `session.connection()`: the Session's
# connection, its root transaction, their events and the Session's commit machinery
# cost about 170 µs of CPU per write request over the driver's BEGIN and COMMIT
# (measured in docs/architecture.md, "A transaction of our own"). The rest holds:
# - BEGIN is the adapter's (`_begin`), with the engine's isolation level;
# - `commit` below sends COMMIT and gives the connection back;
# - an ORM statement or flush in the same transaction is bound to the same connection
#   (engine.AppSession.get_bind: the Session joins a Connection made around it), and the
#   Session's commit then commits it;
# - when the Session's transaction ends otherwise (rollback, close, an error), the
#   connection goes back to the pool, whose reset rolls back what was not committed;
#   a connection that broke is invalidated, as the Session would.


def _may_own(sync: Session) -> bool:
    """A transaction of our own: the app's sessions on PostgreSQL, bound to the engine
    itself (not to a Connection, nor to an engine with its own isolation level, such
    as the AUTOCOMMIT read sessions), before the ORM has connected this transaction."""
    engine = sync.bind
    return (
        isinstance(sync, AppSession)
        and isinstance(engine, Engine)
        and engine.dialect.name == "postgresql"
        and "isolation_level" not in engine.get_execution_options()
        and not has_sent(sync)
    )


async def _own_link(sync: Session) -> _Link:
    transaction = sync.get_transaction() or sync.begin()
    engine = cast(Engine, sync.bind)
    fairy = await spawn(engine.raw_connection)  # as AsyncEngine.raw_connection

    async def invalidate() -> None:
        if fairy.is_valid:
            await spawn(fairy.invalidate)

    link = _Link(
        dialect=engine.dialect,
        adapted=fairy.dbapi_connection,
        driver=fairy.driver_connection,
        sqlite=False,
        pgbouncer=_behind_pgbouncer(engine),
        invalidate=invalidate,
        own=fairy,
    )
    sync.info[_LINK] = (transaction, link)
    sync.info[OWN_CONNECTION] = partial(_joined, engine, link)
    return link


def _joined(engine: Engine, link: _Link) -> Connection:
    """The SQLAlchemy Connection around our own connection, for the ORM (made once)."""
    if link.joined is None:
        link.joined = Connection(engine, connection=link.own)
    return link.joined


async def commit_own(session: AsyncSession) -> bool:
    """COMMIT a transaction of our own that the ORM has not joined, and give the
    connection back; False when the session's transaction is not one (the caller
    commits the session)."""
    sync = session.sync_session
    cached: tuple[Any, _Link] | None = sync.info.get(_LINK)
    if cached is None or cached[0] is not sync.get_transaction():
        return False
    link = cached[1]
    if link.own is None or link.joined is not None or orm_pending(sync):
        return False
    try:
        await spawn(_commit_and_give_back, sync, link)
    except Exception as exc:
        raise await _translated(link, exc, "COMMIT", ()) from exc
    return True


def _commit_and_give_back(sync: Session, link: _Link) -> None:
    link.adapted.commit()  # the adapter's DB-API commit (nothing sent without a BEGIN)
    _forget(sync)
    _give_back(link)


def _forget(sync: Session) -> None:
    sync.info.pop(_LINK, None)
    sync.info.pop(OWN_CONNECTION, None)


def _give_back(link: _Link) -> None:
    """Our own connection back to the pool (its reset rolls back an open transaction)."""
    if link.joined is not None:
        link.joined.close()  # the Session closed its transaction; this returns the connection
    elif link.own.is_valid:
        link.own.close()


@event.listens_for(Session, "before_commit")
def _join_before_commit(session: Session) -> None:
    """`session.commit()` on a transaction of our own commits it: the Session joins our
    connection first (AppSession.get_bind), so its commit is the connection's. (Without
    this it would have no connection to commit, and the pool's reset would roll back.)"""
    cached: tuple[Any, _Link] | None = session.info.get(_LINK)
    if (
        cached is not None
        and cached[0] is session.get_transaction()
        and cached[1].own is not None
        and cached[1].joined is None
    ):
        session.connection()


@event.listens_for(Session, "after_transaction_end")
def _release_own(session: Session, transaction: Any) -> None:
    cached: tuple[Any, _Link] | None = session.info.get(_LINK)
    if cached is None or cached[0] is not transaction:
        return
    _forget(session)
    if cached[1].own is not None:
        _give_back(cached[1])


async def _begin(link: _Link) -> None:
    """Begin the session's transaction now, as the dialect would with its first
    statement (its adapter's own BEGIN, with the engine's isolation level; commit and
    rollback then end it as usual). SQLAlchemy's asyncpg adapter has no public call
    for this; tests/api/test_direct.py fails if the adapter changes under us."""
    try:
        await link.adapted._start_transaction()
    except Exception as exc:
        raise await _translated(link, exc, "BEGIN", ()) from exc


async def _translated(link: _Link, exc: Exception, sql: str, args: Any) -> Exception:
    """The driver's error as SQLAlchemy raises it; a broken connection is invalidated."""
    return await _as_sqlalchemy_error(link.dialect, link.adapted, link.invalidate, exc, sql, args)


async def _as_sqlalchemy_error(
    dialect: Dialect,
    adapted: Any,
    invalidate: Callable[[], Awaitable[None]],
    exc: Exception,
    sql: str,
    args: Any,
) -> Exception:
    orig: Exception = exc
    try:
        adapted._handle_exception(exc)  # raises the dialect's DB-API form of it
    except Exception as dbapi_error:
        orig = dbapi_error
    invalidated = False
    if isinstance(orig, dialect.loaded_dbapi.Error):
        invalidated = dialect.is_disconnect(orig, adapted, None)
    if invalidated or is_database_unavailable(exc):
        await invalidate()
    if not isinstance(orig, dialect.loaded_dbapi.Error):
        return exc
    return cast(
        Exception,
        DBAPIError.instance(
            sql,
            args,
            orig,
            dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=dialect,
        ),
    )


_CONNECTED = "escrowgate.connected"


@event.listens_for(Session, "after_begin")
def _on_connection(session: Session, transaction: Any, _connection: Any) -> None:
    # The root transaction, which `has_sent` compares: a savepoint beginning on the same
    # connection fires this too, and must not hide that the root holds a connection.
    if not transaction.nested:
        session.info[_CONNECTED] = transaction


@event.listens_for(Session, "after_transaction_end")
def _on_end(session: Session, transaction: Any) -> None:
    # The transaction refers to its session: kept here, the two would be cyclic garbage.
    if session.info.get(_CONNECTED) is transaction:
        del session.info[_CONNECTED]


def has_sent(session: AsyncSession | Session) -> bool:
    """Whether the session's transaction holds a connection (it has sent, or begun to
    send, a statement), the Session's or our own: until then a rollback or commit has
    nothing to tell the database."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    transaction = sync.get_transaction()
    if transaction is None:
        return False
    if sync.info.get(_CONNECTED) is transaction:
        return True
    cached: tuple[Any, _Link] | None = sync.info.get(_LINK)
    return cached is not None and cached[0] is transaction and cached[1].own is not None


def orm_pending(sync: Session) -> bool:
    """Whether the unit of work has new, changed or deleted entities to flush."""
    return bool(sync.new or sync.dirty or sync.deleted)


async def _settle(session: AsyncSession) -> None:
    """The session's autoflush, before a direct statement: pending plain rows and new,
    changed or deleted entities are written first."""
    sync = session.sync_session
    if sync.info.get(PENDING_ROWS):
        await flush_pending_rows(session)
    if orm_pending(sync):
        await session.flush()


async def _fetch(
    session: AsyncSession, query: Direct, params: Mapping[str, Any], *, begin: bool = True
) -> tuple[_Compiled, list[Sequence[Any]]]:
    if begin and optimistic.state(session) is not None:
        # An optimistic session reads outside a transaction (after its write too: that
        # committed), and never with writes queued: they would be sent first.
        sync = session.sync_session
        if sync.info.get(PENDING_ROWS) or orm_pending(sync):
            raise optimistic.Stale("an optimistic session read after a queued write")
        begin = False
    if begin:
        await _settle(session)
    link = await _link(session, begin=begin)
    compiled = query.compiled(link.dialect)
    args = _args(compiled, params)
    try:
        if link.sqlite:
            rows = list(await link.driver.execute_fetchall(compiled.sql, args))
        elif link.pgbouncer and not link.driver.is_in_transaction():
            # Outside a transaction the pooler may send Bind to another server than Parse.
            async with link.driver.transaction():
                rows = await link.driver.fetch(compiled.sql, *args)
        else:
            rows = await link.driver.fetch(compiled.sql, *args)
    except Exception as exc:
        raise await _translated(link, exc, compiled.sql, args) from exc
    return compiled, rows


async def fetch_one(
    session: AsyncSession, query: Direct, params: Mapping[str, Any], *, begin: bool = True
) -> dict[str, Any] | None:
    """The first row of `query` as {key: value}, or None. `begin=False`: a read that
    needs no transaction (an answer's unlocked read, nothing of the session's own
    pending), sent without beginning one."""
    compiled, rows = await _fetch(session, query, params, begin=begin)
    return _row(compiled, rows[0]) if rows else None


async def fetch_all(
    session: AsyncSession, query: Direct, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every row of `query`, in the session's transaction."""
    compiled, rows = await _fetch(session, query, params)
    return [_row(compiled, row) for row in rows]


# --- whole entities ------------------------------------------------------------------


@dataclass(frozen=True)
class EntityMap:
    """An entity class as the direct path reads and writes it (one per class, cached):
    its table, its attributes and their columns in mapper order, its primary key."""

    mapper: Mapper[Any]
    table: Table
    attrs: tuple[str, ...]
    columns: tuple[Any, ...]
    column_keys: dict[str, str]  # attribute -> column key
    pk_attrs: tuple[str, ...]

    @property
    def pk_attr(self) -> str:
        """The one primary-key attribute (a composite key has none)."""
        (attr,) = self.pk_attrs
        return attr


_MAPS: dict[type, EntityMap] = {}


def entity_map(cls: type) -> EntityMap:
    found = _MAPS.get(cls)
    if found is None:
        mapper: Mapper[Any] = inspect(cls)
        attrs = mapper.column_attrs
        found = _MAPS[cls] = EntityMap(
            mapper=mapper,
            table=cast(Table, mapper.local_table),
            attrs=tuple(a.key for a in attrs),
            columns=tuple(a.columns[0] for a in attrs),
            column_keys={a.key: a.columns[0].key for a in attrs},
            pk_attrs=tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key),
        )
    return found


def entity_select(*classes: type) -> Select[Any]:
    """SELECT every mapped column of each entity, in order (for `load_one`/`load_all`)."""
    return select(*(column for cls in classes for column in entity_map(cls).columns))


def _split(
    compiled: _Compiled, row: Sequence[Any], classes: Sequence[type]
) -> list[dict[str, Any]]:
    values = [v if p is None else p(v) for v, p in zip(row, compiled.processors, strict=True)]
    out, start = [], 0
    for cls in classes:
        keys = entity_map(cls).attrs
        out.append(dict(zip(keys, values[start : start + len(keys)], strict=True)))
        start += len(keys)
    return out


async def load_one(
    session: AsyncSession, query: Direct, params: Mapping[str, Any], *classes: type
) -> list[Any] | None:
    """The entities of `query`'s first row (an `entity_select` of `classes`), adopted
    into the session; None without a row."""
    compiled, rows = await _fetch(session, query, params)
    if not rows:
        return None
    parts = _split(compiled, rows[0], classes)
    return [adopt(session, cls, part) for cls, part in zip(classes, parts, strict=True)]


async def load_joined(
    session: AsyncSession, query: Direct, params: Mapping[str, Any], *classes: type
) -> list[list[Any]]:
    """Every row of `query` (an `entity_select` of `classes`, the later ones outer
    joined) as its entities, adopted into the session (a row repeated on many rows is
    one object); an outer-joined entity that is absent (NULL primary key) is None."""
    compiled, rows = await _fetch(session, query, params)
    out = []
    for row in rows:
        entities: list[Any] = []
        for cls, part in zip(classes, _split(compiled, row, classes), strict=True):
            present = part[entity_map(cls).pk_attrs[0]] is not None
            entities.append(adopt(session, cls, part) if present else None)
        out.append(entities)
    return out


async def load_all(
    session: AsyncSession, query: Direct, params: Mapping[str, Any], cls: type[E]
) -> list[E]:
    """Every row of `query` (an `entity_select(cls)`) as an entity adopted into the session."""
    compiled, rows = await _fetch(session, query, params)
    return [adopt(session, cls, _split(compiled, row, (cls,))[0]) for row in rows]


class Reader(Protocol):
    """Where an answer's unlocked read may run without a session (api/context.py's
    request context is one): the request's session if it has made one (`opened`), else
    a connection of `pool_engine`'s pool (None: a session is needed, e.g. one bound to
    a test's connection). `session` makes the session, for the reads that need one."""

    @property
    def opened(self) -> AsyncSession | None: ...

    @property
    def pool_engine(self) -> Engine | None: ...

    @property
    def session(self) -> AsyncSession: ...


def as_session(source: AsyncSession | Reader) -> AsyncSession:
    return source if isinstance(source, AsyncSession) else source.session


async def read_one(
    source: AsyncSession | Reader, query: Direct, params: Mapping[str, Any], cls: type[E]
) -> E | None:
    """An answer's unlocked read: the first row as an answer record (`answer_record`:
    never flushed back), sent without beginning a transaction; None without a row. When no session
    has begun (a GET's one read) the row is read on a connection taken from the
    engine's pool and given back at once, without the session's transaction and
    connection objects around it (about a fifth of a GET's CPU); from a `Reader` that
    has made no session, without making one (about a twelfth more)."""
    if isinstance(source, AsyncSession):
        session: AsyncSession | None = source
        engine = source.sync_session.bind
    else:
        session, engine = source.opened, source.pool_engine
    if (session is None or session.sync_session.get_transaction() is None) and isinstance(
        engine, Engine
    ):
        compiled, rows = await _fetch_pooled(engine, query, params)
    else:
        compiled, rows = await _fetch(as_session(source), query, params, begin=False)
    return answer_record(cls, _split(compiled, rows[0], (cls,))[0]) if rows else None


async def _fetch_pooled(
    engine: Engine, query: Direct, params: Mapping[str, Any]
) -> tuple[_Compiled, list[Sequence[Any]]]:
    compiled = query.compiled(engine.dialect)
    return compiled, await _on_pooled(engine, compiled.sql, _args(compiled, params))


async def _on_pooled(engine: Engine, sql: str, args: list[Any]) -> list[Sequence[Any]]:
    """One statement, outside any session: on a connection taken from the engine's
    pool and given back at once (no session transaction or connection objects around
    it). On PostgreSQL it is its own transaction (a single statement is atomic)."""
    fairy = await spawn(engine.raw_connection)  # as AsyncEngine.raw_connection
    dialect = engine.dialect
    driver: Any = fairy.driver_connection
    try:
        if dialect.name == "sqlite":
            rows = list(await driver.execute_fetchall(sql, args))
        elif _behind_pgbouncer(engine):
            async with driver.transaction():  # Parse and Bind on one server connection
                rows = await driver.fetch(sql, *args)
        else:
            rows = await driver.fetch(sql, *args)
    except Exception as exc:

        async def invalidate() -> None:
            await spawn(fairy.invalidate)

        raise await _as_sqlalchemy_error(
            dialect, fairy.dbapi_connection, invalidate, exc, sql, args
        ) from exc
    finally:
        if fairy.is_valid:
            await spawn(fairy.close)  # back to the pool (its reset included)
    return rows


# --- the session's writes, sent together -----------------------------------------------

_FACTS: dict[str, tuple[dict[str, Any], str | None]] = {}


def _table_facts(table: Table) -> tuple[dict[str, Any], str | None]:
    """The table's Python-side column defaults (all scalars here), which Core would
    fill in for a column the row does not give, and its one primary-key column (None
    for a composite key). Read once per table: a flush queues a dozen rows."""
    found = _FACTS.get(table.name)
    if found is None:
        defaults: dict[str, Any] = {}
        for column in table.columns:
            default = column.default
            if default is None:
                continue
            if not default.is_scalar:
                raise TypeError(f"{table.name}.{column.key}: only scalar defaults are direct")
            defaults[column.key] = default.arg  # type: ignore[attr-defined]
        pk = list(table.primary_key.columns)
        found = _FACTS[table.name] = (defaults, pk[0].key if len(pk) == 1 else None)
    return found


@dataclass
class Piece:
    """One statement of a flush: a multi-row INSERT, or an UPDATE by primary key; with
    `guard`, the UPDATE also adds one to the row's version, only where the version is
    `guard` (an optimistic session's guard: db/optimistic.py)."""

    table: Table
    rows: list[dict[str, Any]]  # INSERT: the rows; UPDATE: one dict of changes
    pk_column: str | None = None
    pk: Any = None
    guard: int | None = None

    @property
    def shape(self) -> tuple[Any, ...]:
        if self.pk_column is None:
            return ("i", self.table.name, tuple(self.rows[0]), len(self.rows))
        kind = "u" if self.guard is None else _GUARD
        return (kind, self.table.name, self.pk_column, tuple(sorted(self.rows[0])))


_GUARD = "g"  # a guarded UPDATE's shape: always the first part of a combined statement


def guarded(pieces: list[Piece], state: optimistic.State) -> list[Piece]:
    """The pieces with the guard first: the guarded row's own UPDATE, if the writes
    change it (one statement may not update a row twice), or an UPDATE of its version
    alone."""
    table = state.table
    if table is None:
        raise RuntimeError("an optimistic session wrote without reading its aggregate")
    changes: dict[str, Any] = {}
    rest = []
    for piece in pieces:
        if piece.table is table and piece.pk_column is not None and piece.pk == state.pk:
            changes = piece.rows[0]
        else:
            rest.append(piece)
    return [Piece(table, [changes], state.pk_column, state.pk, state.version), *rest]


# A statement's parameters are bounded (asyncpg: 32,767; SQLite: 32,766 by default), and
# each row count of a multi-row INSERT is a statement of its own to compile and cache.
MAX_PARAMS = 30_000
MAX_ROWS_PER_INSERT = 64


def coalesce(pending: Pending) -> list[Piece]:
    """The queued writes as few statements as say the same: an UPDATE of a row
    inserted in the same batch goes into its INSERT, two UPDATEs of one row become
    one, rows of one table with the same columns share one multi-row INSERT. (One
    statement may not touch a row twice, and its parts do not see each other's rows.)"""
    pieces: list[Piece] = []
    inserted: dict[tuple[str, Any], dict[str, Any]] = {}  # (table, pk) -> its row
    updates: dict[tuple[str, Any], Piece] = {}
    inserts: dict[tuple[str, tuple[str, ...]], Piece] = {}
    for _, table, values, pk_column, pk in pending:
        name = table.name
        if pk_column is None:
            defaults, pk_key = _table_facts(table)
            row = dict(values)  # a copy: a later UPDATE of the row is merged into it
            for k, v in defaults.items():
                if k not in row:
                    row[k] = v
            if pk_key is not None:  # (entities with a composite key are never updated here)
                inserted[(name, row.get(pk_key))] = row
            key = (name, tuple(row))
            piece = inserts.get(key)
            if piece is None or len(piece.rows) >= MAX_ROWS_PER_INSERT:
                piece = inserts[key] = Piece(table, [])
                pieces.append(piece)
            piece.rows.append(row)
            continue
        target = inserted.get((name, pk))
        if target is not None:
            target.update(values)
            continue
        existing = updates.get((name, pk))
        if existing is not None:
            existing.rows[0].update(values)
            continue
        piece = updates[(name, pk)] = Piece(table, [dict(values)], pk_column, pk)
        pieces.append(piece)
    return pieces


# Where each parameter of a piece's statement comes from: (row index, column key); an
# UPDATE's primary key is row 1, key "pk_" (see `_sources`).
Source = tuple[int, str]
_PIECES: dict[tuple[Any, ...], tuple[Direct, dict[str, Source]]] = {}


def _piece_direct(piece: Piece, shape: tuple[Any, ...]) -> tuple[Direct, dict[str, Source]]:
    """The prebuilt statement of a piece's shape, and each parameter's source (the one
    place that names them: `r<row>_<column>` for an INSERT, `v_<column>` and `pk_` for
    an UPDATE)."""
    found = _PIECES.get(shape)
    if found is None:
        table = piece.table
        sources: dict[str, Source] = {}
        if piece.pk_column is None:
            values: list[dict[str, Any]] = []
            for i, row in enumerate(piece.rows):
                names = {k: f"r{i}_{k}" for k in row}
                sources.update({name: (i, k) for k, name in names.items()})
                values.append({k: bindparam(n, type_=table.c[k].type) for k, n in names.items()})
            stmt = Direct(insert(table).values(values))
        else:
            changes = sorted(piece.rows[0])
            sources = {"v_" + c: (0, c) for c in changes}
            sources["pk_"] = (1, "pk_")
            sets: dict[str, Any] = {c: bindparam("v_" + c, type_=table.c[c].type) for c in changes}
            where = table.c[piece.pk_column] == bindparam("pk_")
            if piece.guard is None:
                stmt = Direct(update(table).where(where).values(sets))
            else:
                version = table.c[optimistic.VERSION_COLUMN]
                sources["g_"] = (1, "g_")
                sets[version.key] = version + literal_column("1")  # no bound literal
                stmt = Direct(
                    update(table)
                    .where(where, version == bindparam("g_", type_=version.type))
                    .values(sets)
                    .returning(literal_column("1"))
                )
        found = _PIECES[shape] = (stmt, sources)
    return found


def _sources(piece: Piece) -> list[dict[str, Any]]:
    """The dictionaries a piece's parameters are read from, by row index."""
    if piece.pk_column is None:
        return piece.rows
    return [piece.rows[0], {"pk_": piece.pk, "g_": piece.guard}]


def piece_statement(piece: Piece) -> tuple[Direct, dict[str, Any]]:
    """The prebuilt statement of a piece (one per shape) and its parameters by name
    (for SQLAlchemy's own execution: db/rows.py `flush_rows`)."""
    stmt, sources = _piece_direct(piece, piece.shape)
    rows = _sources(piece)
    return stmt, {name: rows[i][k] for name, (i, k) in sources.items()}


@dataclass(frozen=True)
class _Binding:
    """A piece shape's statement for one dialect, and how its arguments are read: for
    each run of parameters from one row, that row's index and a getter of their values
    (in the driver's order), then the bind processor of each parameter that has one,
    by position."""

    compiled: _Compiled
    reads: tuple[tuple[int, Callable[[dict[str, Any]], tuple[Any, ...]]], ...]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


_BINDINGS: dict[tuple[Any, ...], _Binding] = {}


def _getter(keys: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(keys) == 1:  # itemgetter of one key gives the value, not a tuple
        (key,) = keys
        return lambda row: (row[key],)
    return itemgetter(*keys)


def _binding(piece: Piece, shape: tuple[Any, ...], dialect: Dialect) -> _Binding:
    key = (shape, dialect.name)
    found = _BINDINGS.get(key)
    if found is None:
        stmt, sources = _piece_direct(piece, shape)
        compiled = stmt.compiled(dialect)
        slots: list[tuple[int, str]] = []
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for position, (name, proc, fixed) in enumerate(compiled.params):
            if fixed is not _GIVEN:  # the pieces' statements have no literals of their own
                raise TypeError(f"{name}: a literal in a piece's statement")
            slots.append(sources[name])
            if proc is not None:
                processors.append((position, proc))
        reads = tuple(
            (row, _getter([k for _, k in run]))
            for row, run in groupby(slots, key=lambda slot: slot[0])
        )
        found = _BINDINGS[key] = _Binding(compiled, reads, tuple(processors))
    return found


def _piece_args(piece: Piece, binding: _Binding) -> list[Any]:
    # Straight from the rows to the driver's argument list: no parameter names built,
    # no dictionary in between (a complete + release sends about 130 parameters, read
    # a row at a time by itemgetter; most have no bind processor).
    rows = _sources(piece)
    args: list[Any] = []
    for row, get in binding.reads:
        args.extend(get(rows[row]))
    for position, proc in binding.processors:
        args[position] = proc(args[position])
    return args


_PLACEHOLDER = re.compile(r"\$(\d+)")


def _shifted(offset: int, match: re.Match[str]) -> str:
    return f"${int(match.group(1)) + offset}"


_COMBINED: dict[tuple[Any, ...], str] = {}


def _combined_sql(pieces: Sequence[_Compiled], shapes: tuple[Any, ...]) -> str:
    """PostgreSQL: the pieces as one statement (data-modifying WITH), their numbered
    parameters renumbered in order. Each part runs once, to completion, with one
    snapshot; a failing part fails the whole statement. A guard (the first piece) is
    the part the main query reads, so it runs, and takes its row's lock, before the
    others (PostgreSQL runs the parts the main query does not read after it); the
    guard function fails the statement when it matched no row."""
    found = _COMBINED.get(shapes)
    if found is None:
        parts: list[str] = []
        offset = 0
        for compiled in pieces:
            sql = _PLACEHOLDER.sub(partial(_shifted, offset), compiled.sql)
            parts.append(f"w{len(parts)} AS ({sql})")
            offset += len(compiled.params)
        guard = shapes[0][0] == _GUARD
        main = " SELECT escrowgate_guard(count(*)) FROM w0" if guard else " SELECT 1"
        found = "WITH " + ", ".join(parts) + main
        if len(_COMBINED) < 4096:  # shapes are few; never grow without bound
            _COMBINED[shapes] = found
    return found


async def flush_pending_rows(session: AsyncSession, *, last: bool = False) -> None:
    """Send the queued writes: on PostgreSQL as one statement (one round trip), on
    SQLite one after the other (in process: no round trips to save). `last`: the
    transaction commits right after, so on PostgreSQL one statement runs as its own
    transaction, without BEGIN and COMMIT round trips (a single statement is atomic);
    when the session has sent nothing before it, on a pooled connection, without the
    session's transaction and connection objects (a create intent's one statement)."""
    sync = session.sync_session
    pending: Pending | None = sync.info.get(PENDING_ROWS)
    if not pending:
        return
    state = optimistic.before_write(session)
    if state is not None:
        await _write_guarded(session, state, pending)
        return
    sync.info[PENDING_ROWS] = []
    engine = sync.bind
    dialect = engine.dialect if engine is not None else sync.get_bind().dialect
    sqlite = dialect.name == "sqlite"
    statements = _statements(coalesce(pending), dialect, sqlite)
    # One statement is atomic alone; more, or the unit of work's own changes (flushed by
    # the commit), need the transaction begun.
    alone = last and len(statements) == 1 and not orm_pending(sync)
    if alone and not sqlite and not has_sent(sync) and isinstance(engine, Engine):
        # The request's only statement: on a pooled connection, without the session's
        # transaction and connection objects (its commit then has nothing to send).
        await _on_pooled(engine, *statements[0])
        return
    link = await _link(session, begin=False)
    # Behind PgBouncer a statement outside a transaction may be parsed on one server
    # connection and bound on another: it always runs in one there.
    if (not alone or link.pgbouncer) and not sqlite and not link.driver.is_in_transaction():
        await _begin(link)
    sql: str = ""
    args: list[Any] = []
    try:
        for sql, args in statements:
            if sqlite:
                cursor = await link.driver.execute(sql, args)
                await cursor.close()
            else:
                await link.driver.execute(sql, *args)
    except Exception as exc:
        raise await _translated(link, exc, sql, args) from exc


async def _write_guarded(session: AsyncSession, state: optimistic.State, pending: Pending) -> None:
    """An optimistic session's one write: the queue as one statement behind its guard,
    its own transaction (db/optimistic.py). `Stale`, with nothing written, when it
    does not fit in one statement or the guard matched no row."""
    sync = session.sync_session
    link = await _link(session, begin=False)
    statements = _statements(guarded(coalesce(pending), state), link.dialect, link.sqlite)
    if link.sqlite or len(statements) != 1 or orm_pending(sync):
        raise optimistic.Stale("the writes do not fit in one guarded statement")
    sync.info[PENDING_ROWS] = []
    state.written = True
    ((sql, args),) = statements
    try:
        if link.pgbouncer and not link.driver.is_in_transaction():
            await _begin(link)  # a statement outside a transaction may move servers there
        await link.driver.execute(sql, *args)
    except Exception as exc:
        # The guard function's 40001, or a deadlock (40P01) the statement lost: either
        # way it was rolled back whole, and the request runs again under locks.
        if getattr(exc, "sqlstate", None) in ("40001", "40P01"):
            raise optimistic.Stale("the payment intent changed since it was read") from exc
        raise await _translated(link, exc, sql, args) from exc


def _statements(pieces: list[Piece], dialect: Dialect, sqlite: bool) -> list[tuple[str, list[Any]]]:
    """The pieces as statements (SQL, arguments): on PostgreSQL as many pieces per
    statement as its parameters allow, on SQLite one each (one statement a call)."""
    # Per group: its pieces' shapes, compiled statements and arguments (each shape is
    # computed once: it keys both the binding and the combined statement).
    groups: list[tuple[list[Any], list[_Compiled], list[Any]]] = [([], [], [])]
    count = 0
    for piece in pieces:
        shape = piece.shape
        binding = _binding(piece, shape, dialect)
        c = binding.compiled
        if groups[-1][0] and (sqlite or count + len(c.params) > MAX_PARAMS):
            groups.append(([], [], []))
            count = 0
        shapes, compiled, args = groups[-1]
        shapes.append(shape)
        compiled.append(c)
        args.append(_piece_args(piece, binding))
        count += len(c.params)
    out = []
    for shapes, compiled, args in groups:
        if len(compiled) == 1 and shapes[0][0] != _GUARD:
            out.append((compiled[0].sql, args[0]))
        else:
            sql = _combined_sql(compiled, tuple(shapes))
            out.append((sql, [a for piece_args in args for a in piece_args]))
    return out


_RECORDS: dict[type, type] = {}


def answer_record(cls: type[E], row: dict[str, Any]) -> E:
    """`row` (attribute -> value) as a plain record with `cls`'s column attributes, for
    an answer only: no ORM state, so it can be neither flushed nor added to a session,
    and its attributes are read as a plain object's (an entity's go through the ORM's
    descriptors: about 28 a rendered intent). Typed as the entity, whose columns it has."""
    record_cls = _RECORDS.get(cls)
    if record_cls is None:
        doc = f"The columns of a {cls.__name__} read for an answer (db/direct.py)."
        record_cls = _RECORDS[cls] = type(f"{cls.__name__}Record", (), {"__doc__": doc})
    obj: Any = object.__new__(record_cls)
    obj.__dict__ = row
    return cast(E, obj)


def materialize(cls: type[E], row: Mapping[str, Any]) -> E:
    """An entity holding `row` (attribute -> value), in no session yet (`adopt`)."""
    obj = entity_map(cls).mapper.class_manager.new_instance()
    obj.__dict__.update(row)
    return cast(E, obj)


def adopt(session: AsyncSession | Session, cls: type[E], row: Mapping[str, Any]) -> E:
    """The entity of `row` as the ORM's loading gives it: the session's own object if it
    already holds this row (its identity map; loaded values are not overwritten, as a
    load would not), otherwise a new persistent object in the session, its changes tracked."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    mapped = entity_map(cls)
    key = mapped.mapper.identity_key_from_primary_key(tuple(row[a] for a in mapped.pk_attrs))
    identity_map = sync.identity_map
    existing = identity_map.get(key)
    if existing is not None:
        # As a load does: attributes expired since (session.expire_all()...) are
        # refreshed from the row; loaded ones are kept.
        for attr in inspect(existing).unloaded & row.keys():
            set_committed_value(existing, attr, row[attr])
        return cast(E, existing)
    obj = materialize(cls, row)
    # Attached as the ORM's own loading attaches a row it read (orm/loading.py: the
    # identity key, the session, the identity map), not through make_transient_to_detached
    # and session.add, which walk the mapper's properties for their cascade and fire
    # attach events (about 55 calls an entity; nothing here listens to those events).
    # The row holds every column, so nothing is left unloaded.
    state: InstanceState[Any] = instance_state(obj)
    state.key = key
    state.session_id = sync.hash_key
    identity_map._add_unpresent(state, key)
    return obj
