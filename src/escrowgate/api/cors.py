"""CORS, two policies by path (Starlette's CORSMiddleware has one policy for a whole
app, so this small ASGI middleware decides per path):

- public routes (`/payment-intents/public/...`, keyless; the payer's client secret
  travels in a header or the query, never in a cookie): any origin (`*`) when
  CORS_ALLOW_ORIGINS is unset, else exactly the configured origins;
- keyed routes: only the configured origins (none when unset), so a merchant's key
  is never usable from an arbitrary page by default.

No route uses browser credentials (cookies), so `Access-Control-Allow-Credentials` is
never sent. Preflights (OPTIONS with Origin and Access-Control-Request-Method) are
answered here, before authentication: 204 with the allowed methods and headers, or
403 when the origin is not allowed. Other answers to an allowed origin carry
`Access-Control-Allow-Origin` and expose the headers a client reads."""

from __future__ import annotations

import json
from typing import Any

from .edge import ASGIApp, Message, Receive, Scope, Send, _api_path, _header, _is_public

PUBLIC_HEADERS = "Content-Type, Idempotency-Key, X-Client-Secret, X-Request-Id"
KEYED_HEADERS = PUBLIC_HEADERS + ", X-API-Key, Authorization"
EXPOSED = (
    "Request-Id, Idempotent-Replayed, Retry-After, "
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)
METHODS = "GET, POST, OPTIONS"
MAX_AGE = "600"


class CorsMiddleware:
    def __init__(self, app: ASGIApp, *, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    def allow_origin(self, origin: str, public: bool) -> str | None:
        """The Access-Control-Allow-Origin value for this origin, or None."""
        if self.origins:
            return origin if origin in self.origins else None
        return "*" if public else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = _api_path(scope["path"]) if scope["type"] == "http" else None
        origin = _header(scope, b"origin") if sub is not None else None
        if sub is None or origin is None:
            await self.app(scope, receive, send)
            return
        public = _is_public(sub)
        allowed = self.allow_origin(origin.rstrip("/"), public)
        preflight = scope["method"] == "OPTIONS" and _header(
            scope, b"access-control-request-method"
        )
        if preflight:
            await self._preflight(send, allowed, public)
            return
        extra: list[tuple[bytes, bytes]] = [(b"vary", b"Origin")]
        if allowed is not None:
            extra += [
                (b"access-control-allow-origin", allowed.encode()),
                (b"access-control-expose-headers", EXPOSED.encode()),
            ]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(send: Send, allowed: str | None, public: bool) -> None:
        headers: list[tuple[bytes, bytes]] = [(b"vary", b"Origin")]
        if allowed is None:
            body: dict[str, Any] = {
                "error": {
                    "code": "cors_origin_not_allowed",
                    "message": "This origin is not allowed (CORS_ALLOW_ORIGINS)",
                    "type": "invalid_request_error",
                }
            }
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        headers += [
            (b"access-control-allow-origin", allowed.encode()),
            (b"access-control-allow-methods", METHODS.encode()),
            (
                b"access-control-allow-headers",
                (PUBLIC_HEADERS if public else KEYED_HEADERS).encode(),
            ),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
