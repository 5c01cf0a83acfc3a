"""Reads sent straight to the driver: a prebuilt SELECT compiled once per dialect,
executed on the asyncpg (or aiosqlite) connection the request's session holds.

Why: the unlocked single-object reads that answer a GET are the most frequent
statements, and SQLAlchemy's execution around each one (the session's execute, the
compiled-cache lookup, the result and the ORM's entity loading) costs several times
what the driver does (bench/README.md, stack floor; docs/architecture.md). A read
here skips all of that and still goes through the same pool, connection and
transaction as the rest of the request, with SQLAlchemy's own per-type result
processing (JSON on SQLite, for example), so it returns the values an ORM load would.

Only for reads that need no lock and nothing pending in the session: a row added or
changed in this transaction and not yet flushed would not be seen (writes go through
the session: db/rows.py). Behind PgBouncer in transaction mode the read runs inside
a driver transaction: outside one, the pooler may send the statement's Bind to
another server connection than its Parse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from .availability import is_database_unavailable
from .engine import PGBOUNCER_OPTION

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[str, ...]  # bound parameter names, in the driver's order
    keys: tuple[str, ...]  # result column keys, in select order
    processors: tuple[Processor, ...]


class DirectSelect:
    """A Core SELECT with bound parameters (`bindparam("name")`), compiled for each
    dialect the first time it runs there."""

    def __init__(self, stmt: Select[Any], keys: tuple[str, ...] | None = None) -> None:
        self.stmt = stmt
        # Result keys default to the columns' keys; an ORM entity's attribute names
        # may differ from its column names (pass them to map rows to attributes).
        self.keys = keys or tuple(str(c.key) for c in stmt.selected_columns)
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self.stmt.compile(dialect=dialect)
            for name, bind in compiled.binds.items():
                if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                    raise TypeError(f"{name}: a parameter the driver cannot take as it is")
            processors = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None)
                for c in self.stmt.selected_columns
            )
            found = _Compiled(
                sql=compiled.string,
                params=tuple(compiled.positiontup or ()),
                keys=self.keys,
                processors=processors,
            )
            self._by_dialect[dialect.name] = found
        return found


async def fetch_one(
    session: AsyncSession, query: DirectSelect, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The first row of `query` as {key: value}, or None; on the session's connection."""
    connection = await session.connection()
    pgbouncer = connection.sync_engine.get_execution_options().get(PGBOUNCER_OPTION, False)
    compiled = query.compiled(connection.dialect)
    args = [params[name] for name in compiled.params]
    driver: Any = (await connection.get_raw_connection()).driver_connection
    try:
        if connection.dialect.name == "sqlite":
            rows = await driver.execute_fetchall(compiled.sql, args)
            row = rows[0] if rows else None
        elif pgbouncer:
            async with driver.transaction():
                row = await driver.fetchrow(compiled.sql, *args)
        else:
            row = await driver.fetchrow(compiled.sql, *args)
    except Exception as exc:
        # What SQLAlchemy does for its own statements: a connection that broke is
        # not given back to the pool (the handlers answer 503).
        if is_database_unavailable(exc):
            await connection.invalidate()
        raise
    if row is None:
        return None
    return {
        key: (value if proc is None else proc(value))
        for key, value, proc in zip(compiled.keys, row, compiled.processors, strict=True)
    }
