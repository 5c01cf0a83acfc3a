"""Several hosts in DATABASE_URL, and which failures mean "the database is unavailable"
(answered 503, retried by the client) rather than a bug (500)."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from escrowgate.config import Settings
from escrowgate.db.availability import is_database_unavailable
from escrowgate.db.engine import normalize_url
from escrowgate.worker.runner import Loop, start_when_ready


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        (
            "postgresql://app@10.0.0.1:5432,10.0.0.2:5433/pay?target_session_attrs=read-write",
            "postgresql+asyncpg://app@/pay?host=10.0.0.1:5432&host=10.0.0.2:5433"
            "&target_session_attrs=read-write",
        ),
        (  # a password, hosts without a port (5432), the postgres:// spelling
            "postgres://app:s%40cret@db-a,db-b/pay",
            "postgresql+asyncpg://app:s%40cret@/pay?host=db-a:5432&host=db-b:5432",
        ),
        (  # already the dialect's form: unchanged
            "postgresql+asyncpg://app@/pay?host=a:1&host=b:2",
            "postgresql+asyncpg://app@/pay?host=a:1&host=b:2",
        ),
        ("postgresql://app@db:5432/pay", "postgresql+asyncpg://app@db:5432/pay"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
    ],
)
def test_multi_host_urls_become_the_dialects_form(given: str, normalized: str) -> None:
    assert normalize_url(given) == normalized


def test_the_dialect_reads_every_host_and_the_target_attribute() -> None:
    url = normalize_url("postgresql://app@h1:5432,h2:5433/pay?target_session_attrs=read-write")
    _, kwargs = dialect().create_connect_args(make_url(url))
    assert kwargs["host"] == ["h1", "h2"] and kwargs["port"] == [5432, 5433]
    assert kwargs["target_session_attrs"] == "read-write" and kwargs["database"] == "pay"


def test_ipv6_in_a_host_list_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="use host names or IPv4 addresses in a host list"):
        normalize_url("postgresql://app@[::1]:5432,[::2]:5432/pay")


def test_database_read_url_must_be_postgresql() -> None:
    assert Settings(database_read_url="").database_read_url is None
    with pytest.raises(ValueError, match="must be a postgresql:// URL"):
        Settings(database_read_url="sqlite:///./replica.db")


def _wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, orig)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        socket.gaierror(-2, "Name or service not known"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"),
        asyncpg.exceptions.TargetServerAttributeNotMatched("no host is read-write"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed")),
    ],
)
def test_lost_or_read_only_databases_are_unavailable(exc: BaseException) -> None:
    assert is_database_unavailable(exc)


def test_a_wrapped_cause_counts_but_an_error_while_handling_one_does_not() -> None:
    caused = RuntimeError("pool")
    caused.__cause__ = ConnectionResetError()
    assert is_database_unavailable(caused)
    during = ValueError("bug")
    during.__context__ = ConnectionResetError()
    assert not is_database_unavailable(during)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bug"),
        FileNotFoundError(2, "No such file or directory"),
        PermissionError(13, "Permission denied"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.SerializationError("could not serialize"),
        _wrapped(asyncpg.exceptions.UndefinedTableError("no such table")),
    ],
)
def test_other_errors_are_not_unavailability(exc: BaseException) -> None:
    assert not is_database_unavailable(exc)


async def test_a_side_loop_started_during_an_outage_waits_for_the_database() -> None:
    answers: list[object] = [OSError("refused"), OSError("refused"), False, True]
    started = asyncio.Event()

    async def ready() -> bool:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return bool(answer)

    async def forever(_factory: object, _settings: object) -> None:
        started.set()

    async def once(_factory: object, _settings: object) -> int:
        return 0

    loop = Loop("side", forever, once)  # type: ignore[arg-type]
    settings = Settings(worker_poll_seconds=0.001)
    await asyncio.wait_for(start_when_ready(loop, None, settings, ready), 10)  # type: ignore[arg-type]
    assert started.is_set() and answers == []
