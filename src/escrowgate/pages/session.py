"""The dashboard's session: a signed cookie (itsdangerous) holding the API key's id
(never the key) and a CSRF token. HttpOnly, SameSite=Strict, Secure over https,
Path=/dashboard, 12 hours. Every POST form carries the token; a form without the
session's token is refused (403) before anything else happens.

The signing secret is SESSION_SECRET, or a random secret per process when unset
(sessions then end when the process restarts, and do not carry across processes)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..models import ApiKey

COOKIE = "escrowgate_session"
PATH = "/dashboard"
MAX_AGE = 12 * 3600
_PROCESS_SECRET = secrets.token_urlsafe(32)


@dataclass
class Session:
    csrf: str
    key_id: str | None = None


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        settings.session_secret or _PROCESS_SECRET, salt="escrowgate.dashboard"
    )


def load(request: Request, settings: Settings) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    key_id = data.get("k")
    return Session(csrf=data["c"], key_id=key_id if isinstance(key_id, str) else None)


def new(key_id: str | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(24), key_id=key_id)


def store(response: Response, request: Request, settings: Settings, session: Session) -> None:
    value = _serializer(settings).dumps({"c": session.csrf, "k": session.key_id})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path=PATH,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return bool(session and token and hmac.compare_digest(session.csrf, token))


async def principal(db: AsyncSession, session: Session | None) -> Principal | None:
    """The signed-in merchant key, if still valid (not revoked, a merchant key)."""
    if session is None or session.key_id is None:
        return None
    row = await db.get(ApiKey, session.key_id)
    if row is None or row.revoked_at is not None or row.kind != "merchant":
        return None
    return Principal(key_id=row.id, merchant_id=row.merchant_id, mode=row.mode, is_operator=False)
