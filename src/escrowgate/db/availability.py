"""Is an exception "the database is unreachable right now"? A primary that died, a
failover in progress, a standby that answered a write: the request was not applied
(or its commit was never acknowledged), so the API answers 503 `database_unavailable`
with `Retry-After` instead of a 500, and the client retries with its Idempotency-Key."""

from __future__ import annotations

import asyncio
import socket

# SQLSTATEs meaning "no usable database session": class 08 (connection exception),
# the server shutting down or crashed, starting up or recovering, and a read-only
# transaction (a standby answered, or a primary that was demoted).
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "25006"}
_CLOSED_MESSAGES = ("connection is closed", "connection was closed")

RETRY_AFTER_SECONDS = 1


def causes(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error SQLAlchemy wrapped (`orig`), the explicit causes and the
    members of an exception group. Not `__context__`: an error raised while handling
    another is its own error."""
    out: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack and len(out) < 32:
        e = stack.pop()
        if any(e is seen for seen in out):
            continue
        out.append(e)
        orig = getattr(e, "orig", None)
        if isinstance(orig, BaseException):
            stack.append(orig)
        if e.__cause__ is not None:
            stack.append(e.__cause__)
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
    return out


def _is_network_error(e: BaseException) -> bool:
    """Refused, reset, timed out, unknown host, or asyncio's plain OSError for several
    failed addresses; not a file or permission error (an OSError too, but a bug)."""
    return (
        isinstance(e, (ConnectionError, TimeoutError, asyncio.TimeoutError, socket.gaierror))
        or type(e) is OSError
    )


def is_database_unavailable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    for e in causes(exc):
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            return True
        if _is_network_error(e):
            return True
        if type(e).__name__ == "TargetServerAttributeNotMatched":  # no host is writable
            return True
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_SQLSTATES):
            return True
        if type(e).__module__.startswith("asyncpg") and any(m in str(e) for m in _CLOSED_MESSAGES):
            return True
    return False
