"""The outermost ASGI layer: request id, body limits, content type, authentication,
rate limits, the access log line, and the last-resort 500 in the one envelope.

Authentication lives here (not in a route dependency) so it is decided before the
body is parsed: a request without a valid key learns nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..auth.cache import KeyCache
from ..auth.keys import Principal, cached_principal, record_use, resolve_key, use_due
from ..db.availability import RETRY_AFTER_SECONDS, is_database_unavailable
from ..db.migrate import NOT_MIGRATED, SchemaGate
from ..domain import ids
from ..domain.origin import RequestOrigin, current_origin
from ..errors import (
    ApiError,
    AuthenticationRequired,
    InvalidApiKey,
    database_unavailable,
    internal_error_body,
)
from ..logging_setup import unfiltered_logger
from ..metrics import RATE_LIMITED
from .admission import FairGate
from .rate_limit import RateLimiter
from .routing import ALIAS_ROOT, API_PREFIX, VERSION_PREFIX, replay

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = structlog.get_logger("escrowgate.http")
errors_log = unfiltered_logger("escrowgate.http")

ALIAS_PREFIX = ALIAS_ROOT + API_PREFIX + "/"
API_PREFIXES = (API_PREFIX + "/", ALIAS_PREFIX)
PRINCIPAL_KEY = "escrowgate.principal"
BODY_KEY = "escrowgate.body"
REQUEST_ID_KEY = "escrowgate.request_id"
# The session authentication ran in; the request's use case continues in it (one
# connection checkout and one transaction per request).
SESSION_KEY = "escrowgate.session"
# What the app opened for this request and the edge closes once it has answered, in
# the admission slot (api/context.py: the request context's session and claim).
CLOSERS_KEY = "escrowgate.closers"


def _api_path(path: str) -> str | None:
    """The path below the version prefix, or None for non-API paths."""
    for prefix in API_PREFIXES:
        if path.startswith(prefix):
            return "/" + path[len(prefix) :]
    return None


def _is_public(sub_path: str) -> bool:
    return sub_path.startswith("/payment-intents/public/")


# The hosted payment page takes the intent id as its only credential too.
PAYMENT_PAGE_PREFIX = "/pay/"


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return "ip:" + (str(client[0]) if client else "unknown")


_HEADERS_KEY = "escrowgate.headers"


def _headers(scope: Scope, name: bytes) -> list[str]:
    """The values of header `name` (lower case), in order. The request's headers are
    read into a table once (the edge and CORS ask for several)."""
    table: dict[bytes, list[str]] | None = scope.get(_HEADERS_KEY)
    if table is None:
        table = {}
        for key, value in scope.get("headers", []):
            table.setdefault(key.lower(), []).append(value.decode("latin-1"))
        scope[_HEADERS_KEY] = table
    return table.get(name, [])


def _header(scope: Scope, name: bytes) -> str | None:
    values = _headers(scope, name)
    return values[0] if values else None


# An incoming X-Request-Id is kept when it is well-formed (a caller's trace id).
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    if given is not None and _REQUEST_ID_RE.fullmatch(given):
        return given
    return "req_" + ids.random_hex(16)  # 128 random bits: 32 hex digits, as a UUID


def _basic_user(token: str) -> str:
    """HTTP Basic with the key as user name and no password (`curl -u sk_test_...:`),
    as some Finternet docs examples send it: the key, or "" when malformed."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
    user, sep, password = decoded.partition(":")
    if not sep or password or not user.strip():
        return ""
    return user.strip()


def _raw_key(scope: Scope) -> str | None:
    """The one API key of the request; "" when the credentials are malformed or
    ambiguous (two X-API-Key headers, or X-API-Key and a different Bearer or Basic
    key). Authorization may be Bearer <key> or Basic base64("<key>:")."""
    keys = [k.strip() for k in _headers(scope, b"x-api-key") if k.strip()]  # "" = missing
    bearers: list[str] = []
    for auth in _headers(scope, b"authorization"):
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            basic = _basic_user(value.strip())
            if not basic:
                return ""  # not base64 of "<key>:" (a password is not accepted)
            bearers.append(basic)
            continue
        if scheme.lower() != "bearer" or not value.strip():
            return ""  # present but not a bearer key: treated as malformed
        bearers.append(value.strip())
    given = set(keys + bearers)
    if len(keys) > 1 or len(bearers) > 1 or len(given) > 1:
        return ""
    if not given:
        return None
    return given.pop() or ""


def log_server_error(scope: Scope, exc: BaseException) -> None:
    """Every 5xx: its request id, route, exception and stack trace, at any LOG_LEVEL."""
    template: str | None = getattr(scope.get("route"), "path", None)
    errors_log.error(
        "server_error",
        request_id=scope.get(REQUEST_ID_KEY),
        method=scope.get("method"),
        path=scope.get("path"),
        route=VERSION_PREFIX.sub("", template) if template else None,  # below /v1
        error_type=type(exc).__name__,
        error=str(exc)[:1000],
        exc_info=exc,
    )


def log_database_unavailable(scope: Scope, exc: BaseException) -> None:
    """A request cut off by the database going away (503): one warning line, no trace."""
    log.warning(
        "database_unavailable",
        request_id=scope.get(REQUEST_ID_KEY),
        method=scope.get("method"),
        path=scope.get("path"),
        error_type=type(exc).__name__,
        error=str(exc)[:300],
    )


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        session_factory: Callable[[], async_sessionmaker[AsyncSession]],
        read_session_factory: Callable[[], async_sessionmaker[AsyncSession]] | None = None,
        max_body_bytes: int,
        rate_limiter: RateLimiter,
        schema_gate: SchemaGate | None = None,
        key_cache: KeyCache | None = None,
        admission: FairGate | None = None,
    ) -> None:
        self.schema_gate = schema_gate
        self.key_cache = key_cache
        # api/admission.py: no more requests at once than the pool has connections.
        self.admission = admission or FairGate(10_000)
        self.app = app
        self.session_factory = session_factory
        self.read_session_factory = read_session_factory or session_factory
        self.max_body_bytes = max_body_bytes
        self.rate_limiter = rate_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["path"].startswith(ALIAS_PREFIX) and not scope.get("root_path"):
            # /api/v1/... is /v1/...: routing reads the path below the root path, the
            # request's URL (list envelopes, logs) keeps the path as sent.
            scope["root_path"] = ALIAS_ROOT
        request_id = _request_id(scope)
        scope[REQUEST_ID_KEY] = request_id
        origin = current_origin.set(
            RequestOrigin(request_id, (_header(scope, b"idempotency-key") or "")[:255] or None)
        )
        extra_headers: list[tuple[bytes, bytes]] = [(b"request-id", request_id.encode())]
        state: dict[str, Any] = {"status": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        principal: Principal | None = None
        try:
            body, error = await self._read_body(scope, receive)
            # The body is read before queueing: a slow client does not hold a slot.
            async with self.admission:
                sub_path = _api_path(scope["path"])
                if error is None and sub_path is not None:  # pages (HTML forms) post forms
                    error = self._check_content_type(scope, body)
                if error is None and sub_path is not None:
                    error = await self._check_schema()
                on_pay_page = sub_path is None and scope["path"].startswith(PAYMENT_PAGE_PREFIX)
                if error is None and on_pay_page:
                    error = await self._rate_limit(_client_address(scope), "public", extra_headers)
                if error is None and sub_path is not None and _is_public(sub_path):
                    error = await self._rate_limit(_client_address(scope), "public", extra_headers)
                    if error is None and _raw_key(scope):
                        # Keyless routes ignore a key, but a path under public/ that is a
                        # merchant route (/payment-intents/public/cancel: intent id "public")
                        # then answers as that route does, not "API key is required".
                        principal, _ = await self._authenticate(scope)
                elif error is None and sub_path is not None:
                    principal, error = await self._authenticate(scope)
                    if principal is not None:
                        error = await self._rate_limit(
                            principal.key_id, principal.mode, extra_headers
                        )
                if error is not None:
                    await self._send_error(send_wrapper, error)
                else:
                    scope[BODY_KEY] = body
                    scope[PRINCIPAL_KEY] = principal
                    closers: list[Callable[[], Awaitable[None]]] = []
                    scope[CLOSERS_KEY] = closers  # shared, should a layer copy the scope
                    try:
                        await self.app(scope, replay(body, receive), send_wrapper)
                    finally:
                        for close in closers:
                            await close()
        except Exception as exc:
            if is_database_unavailable(exc):  # e.g. the key lookup during a failover
                log_database_unavailable(scope, exc)
                if not state["started"]:
                    await self._send_error(send_wrapper, database_unavailable(RETRY_AFTER_SECONDS))
            else:
                log_server_error(scope, exc)
                if not state["started"]:
                    await self._send_json(send_wrapper, 500, internal_error_body())
        finally:
            current_origin.reset(origin)
            leftover = scope.pop(SESSION_KEY, None)
            if leftover is not None:  # the route never took it (e.g. unknown path)
                await leftover.close()
            log.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                status=state["status"],
                merchant_id=principal.merchant_id if principal else None,
                mode=principal.mode if principal else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            if principal is not None and use_due(principal.key_id, time.monotonic()):
                await self._record_use(principal.key_id)

    async def _record_use(self, key_id: str) -> None:
        """The key's "last used" (keys list), at most once a minute per key here."""
        try:
            await record_use(self.session_factory(), key_id, time.monotonic())
        except Exception as exc:  # a busy database must not fail an answered request
            log.warning("key_last_used_not_recorded", key_id=key_id, error=type(exc).__name__)

    async def _check_schema(self) -> ApiError | None:
        """503 instead of 500s on a database that is unreachable or not migrated."""
        if self.schema_gate is None:
            return None
        try:
            if await self.schema_gate.check():
                return None
            message, code = NOT_MIGRATED, "database_not_migrated"
        except Exception as exc:
            log.warning("database_unavailable", error=type(exc).__name__)
            return database_unavailable(RETRY_AFTER_SECONDS)
        return ApiError(message, code=code, status_code=503, error_type="api_error")

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes, ApiError | None]:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return b"", self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), None

    def _too_large(self) -> ApiError:
        return ApiError(
            f"Request body exceeds the maximum of {self.max_body_bytes} bytes",
            code="request_too_large",
            status_code=413,
        )

    @staticmethod
    def _check_content_type(scope: Scope, body: bytes) -> ApiError | None:
        if not body or scope["method"] not in ("POST", "PUT", "PATCH"):
            return None
        ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if ctype == "application/json" or (
            ctype.startswith("application/") and ctype.endswith("+json")
        ):
            return None
        return ApiError(
            "Content-Type must be application/json", code="unsupported_media_type", status_code=415
        )

    async def _authenticate(self, scope: Scope) -> tuple[Principal | None, ApiError | None]:
        raw = _raw_key(scope)
        if raw is None:
            return None, AuthenticationRequired()
        if raw == "":
            return None, InvalidApiKey()
        cached = cached_principal(raw, self.key_cache)
        if cached is not None:  # no session yet: the route opens one if it needs it
            return cached, None
        read_only = scope["method"] in ("GET", "HEAD")
        session = (self.read_session_factory if read_only else self.session_factory)()()
        try:
            principal = await resolve_key(session, raw, self.key_cache)
        except BaseException:
            await session.close()
            raise
        if principal is None:
            await session.close()
            return None, InvalidApiKey()
        scope[SESSION_KEY] = session
        return principal, None

    async def _rate_limit(
        self, key: str, mode: str, extra_headers: list[tuple[bytes, bytes]]
    ) -> ApiError | None:
        decision = await self.rate_limiter.hit(key, mode)
        if decision is None:
            return None
        extra_headers.extend(
            [
                (b"x-ratelimit-limit", str(decision.limit).encode()),
                (b"x-ratelimit-remaining", str(decision.remaining).encode()),
                (b"x-ratelimit-reset", str(decision.reset_at).encode()),
            ]
        )
        if decision.allowed:
            return None
        RATE_LIMITED.labels(mode).inc()
        retry_after = max(1, decision.reset_at - int(time.time()))
        extra_headers.append((b"retry-after", str(retry_after).encode()))
        return ApiError(
            f"Rate limit exceeded. Retry after {retry_after} seconds.",
            code="rate_limit_exceeded",
            status_code=429,
            error_type="rate_limit_error",
            extra={"retryAfter": retry_after},
        )

    async def _send_error(self, send: Send, error: ApiError) -> None:
        await self._send_json(send, error.status_code, error.body(), error.headers)

    @staticmethod
    async def _send_json(
        send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        # The same compact JSON as every other answer (Starlette's JSONResponse).
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})
