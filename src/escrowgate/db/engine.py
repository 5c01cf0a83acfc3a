"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from uuid import uuid4

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session


def _json_default(value: Any) -> Any:
    # Merchant metadata may carry JSON numbers parsed as Decimal; keep integers exact.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# One encoder: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=_json_default, separators=(",", ":"))


class JSONText(str):
    """A JSON column's value already serialized (an event's payload, written by
    pydantic-core in one step): stored as it is."""

    __slots__ = ()


def json_dumps(value: Any) -> str:
    if type(value) is JSONText:
        return value
    return _ENCODER.encode(value)


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// and sqlite:// URLs and pick the async drivers. A
    PostgreSQL URL may name several hosts (see `multi_host`)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return multi_host("postgresql+asyncpg://" + url.split("://", 1)[1])
    if url.startswith("postgresql+asyncpg://"):
        return multi_host(url)
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url


def multi_host(url: str) -> str:
    """`postgresql+asyncpg://user@h1:p1,h2:p2/db?target_session_attrs=read-write` (the
    libpq form) -> `postgresql+asyncpg://user@/db?host=h1:p1&host=h2:p2&...`, the form
    SQLAlchemy's asyncpg dialect reads (it cannot parse a comma in the URL's netloc).
    asyncpg then tries the hosts in order and, with `target_session_attrs=read-write`,
    keeps the first that accepts writes (the primary). A host without a port gets
    5432; IPv6 addresses are refused in a list (the dialect splits on the colon). A
    URL with one host, or with `host=` already in its query, is unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if "," not in hostlist:
        return url
    hosts = []
    for host in hostlist.split(","):
        host = host.strip()
        if not host:
            raise ValueError("DATABASE_URL: an empty host in the host list")
        if host.startswith("["):
            raise ValueError("DATABASE_URL: use host names or IPv4 addresses in a host list")
        if ":" not in host:
            host += ":5432"
        hosts.append("host=" + quote(host, safe=":"))
    path, question, query = tail.partition("?")
    params = "&".join(hosts + ([query] if query else []))
    return f"{scheme}://{userinfo}{at}/{path}?{params}"


_TRUE = ("1", "true", "yes", "on", "t", "y")
_FALSE = ("", "0", "false", "no", "off", "f", "n")


def pgbouncer_from_env() -> bool:
    """DB_PGBOUNCER: PostgreSQL is reached through PgBouncer in transaction pooling mode.
    Read here too (not only in Settings) so that every engine gets it: the API, the
    worker, migrations (db/migrations/env.py) and the test suite."""
    value = os.environ.get("DB_PGBOUNCER", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"DB_PGBOUNCER: must be true or false (got {value!r})")


# An execution option of the engine (and of every connection it gives) that says it
# reaches PostgreSQL through PgBouncer in transaction mode (db/direct.py reads it).
PGBOUNCER_OPTION = "escrowgate_pgbouncer"


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4().hex}__"


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pgbouncer: bool | None = None,
) -> AsyncEngine:
    """`pgbouncer` (default: the DB_PGBOUNCER environment variable) switches off what a
    transaction-mode pooler breaks: asyncpg's and SQLAlchemy's prepared-statement caches
    (a statement cached on one server connection is missing, or its name taken, on the
    next) and asyncpg's numbered statement names (two clients' "__asyncpg_stmt_1__"
    collide on one server connection); each statement gets a unique name instead, as
    SQLAlchemy's asyncpg dialect documents for PgBouncer. Every statement is then
    prepared again per execution: one more round trip each, the price of the pooler."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, json_serializer=json_dumps, connect_args={"timeout": 30})
        _make_sqlite_transactions_immediate(engine)
        return engine
    if pgbouncer is None:
        pgbouncer = pgbouncer_from_env()
    connect_args: dict[str, Any] = {}
    if pgbouncer:
        connect_args = {
            "statement_cache_size": 0,  # asyncpg's own cache
            "prepared_statement_cache_size": 0,  # the SQLAlchemy dialect's cache
            "prepared_statement_name_func": _unique_statement_name,
        }
    return create_async_engine(
        url,
        json_serializer=json_dumps,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        connect_args=connect_args,
        execution_options={PGBOUNCER_OPTION: pgbouncer},
    )


def kept_connections(engine: AsyncEngine, configured: int) -> int:
    """The connections the engine's pool keeps: DB_POOL_SIZE on PostgreSQL; SQLite's
    file databases get SQLAlchemy's default queue pool (5), whatever the setting. A pool
    that keeps none (SQLite in memory; a file database on older SQLAlchemy 2.0 releases, a
    connection per checkout) is taken at the setting."""
    size = getattr(engine.sync_engine.pool, "size", None)
    return int(size()) if callable(size) else configured


def _make_sqlite_transactions_immediate(engine: AsyncEngine) -> None:
    """SQLite has no SELECT ... FOR UPDATE: every transaction takes the write lock
    up front (BEGIN IMMEDIATE), so a check and the write that follows cannot interleave
    with another writer. This is the SQLite form of "lock what you check"."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# session.info key: while db/direct.py runs the session's transaction on a connection of
# its own, a callable giving the SQLAlchemy Connection around that connection.
OWN_CONNECTION = "escrowgate.own_connection"


class AppSession(Session):
    """The app's sessions. While db/direct.py runs the transaction on a connection it
    took from the pool itself (`_own_link`: no Session connection objects around it),
    an ORM statement or flush in the same transaction is bound to that connection, so
    it sees the transaction's rows and locks and commits or rolls back with it."""

    def get_bind(self, mapper: Any = None, **kw: Any) -> Engine | Connection:
        joined = self.info.get(OWN_CONNECTION)
        if joined is not None:
            connection: Connection = joined()
            return connection
        return super().get_bind(mapper, **kw)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=True, sync_session_class=AppSession
    )
