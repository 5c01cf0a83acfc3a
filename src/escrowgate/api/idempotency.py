"""Idempotency-Key handling.

The stored answer is written in the same database transaction as the request's
effect, so a crash can never leave an effect without its answer (or the reverse).
A key in use by a running request is detected with a transaction-scoped advisory
lock on PostgreSQL (released by the database if the process dies) and with an
in-process set on SQLite, where one process serializes all writes anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from fastapi.responses import JSONResponse
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.direct import Direct, entity_select, fetch_one, load_one
from ..db.housekeeping import IDEMPOTENCY_RETENTION_SECONDS
from ..db.rows import add_row
from ..domain.clock import now
from ..errors import ApiError
from ..metrics import IDEMPOTENT_REPLAYS
from ..models import IdempotencyRecord
from .routing import ALIAS_ROOT, API_PREFIX, parse_json

MAX_KEY_LENGTH = 255
_in_flight: set[tuple[str, str, str]] = set()


class Replay(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body

    def response(self) -> JSONResponse:
        return JSONResponse(
            json.loads(self.body), status_code=self.status, headers={"Idempotent-Replayed": "true"}
        )


@dataclass
class Claim:
    scope: str
    mode: str
    key: str
    request_hash: str

    def release(self) -> None:
        _in_flight.discard((self.scope, self.mode, self.key))


def canonical_path(path: str) -> str:
    """One spelling per operation: /api/v1 is /v1, /conditional-payment is /escrow, so a
    retry through an alias replays the first answer instead of being a different request."""
    if path.startswith(ALIAS_ROOT + API_PREFIX + "/"):
        path = path[len(ALIAS_ROOT) :]
    return path.replace("/conditional-payment", "/escrow")


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    path = canonical_path(path)
    try:
        canonical = json.dumps(parse_json(body), sort_keys=True, default=str) if body else ""
    except ValueError:
        canonical = body.decode("latin-1")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


# Built once, sent straight to the driver (db/direct.py).
_TRY_LOCK = Direct(select(func.pg_try_advisory_xact_lock(bindparam("k")).label("got")))
_RECORD = Direct(
    entity_select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == bindparam("scope"),
        IdempotencyRecord.mode == bindparam("mode"),
        IdempotencyRecord.key == bindparam("key"),
    )
)
_RECORDS = cast(Table, IdempotencyRecord.__table__)


def _lock_id(scope: str, mode: str, key: str) -> int:
    digest = hashlib.sha256(f"{scope}|{mode}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def claim(
    session: AsyncSession, *, scope: str, mode: str, key: str, fingerprint: str, is_postgres: bool
) -> Claim:
    """Take the key for this request, or raise Replay / a 400 / a 409."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", param="Idempotency-Key"
        )
    in_use = ApiError(
        "A request with this Idempotency-Key is still being processed; retry later",
        code="idempotency_key_in_use",
        status_code=409,
        error_type="idempotency_error",
    )
    marker = (scope, mode, key)
    if marker in _in_flight:
        raise in_use
    if is_postgres:
        got = await fetch_one(session, _TRY_LOCK, {"k": _lock_id(scope, mode, key)})
        if not (got and got["got"]):
            raise in_use
    _in_flight.add(marker)
    result = Claim(scope=scope, mode=mode, key=key, request_hash=fingerprint)
    try:
        params = {"scope": scope, "mode": mode, "key": key}
        found = await load_one(session, _RECORD, params, IdempotencyRecord)
        row = cast(IdempotencyRecord, found[0]) if found else None
        if row is not None and row.created_at < now() - IDEMPOTENCY_RETENTION_SECONDS:
            await session.delete(row)
            await session.flush()
            row = None
        if row is not None:
            if row.request_hash != fingerprint:
                raise ApiError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with",
                    code="idempotency_key_reused",
                    error_type="idempotency_error",
                    param="Idempotency-Key",
                )
            IDEMPOTENT_REPLAYS.inc()
            raise Replay(row.response_status, row.response_body)
    except BaseException:
        result.release()
        raise
    return result


def record(session: AsyncSession, claim_: Claim, status: int, body: Any) -> None:
    """The answer, written with the request's effect (a plain row: db/rows.py)."""
    add_row(
        session,
        _RECORDS,
        {
            "merchant_id": claim_.scope,
            "mode": claim_.mode,
            "key": claim_.key,
            "request_hash": claim_.request_hash,
            "response_status": status,
            "response_body": json.dumps(body, separators=(",", ":")),
            "created_at": now(),
        },
    )
