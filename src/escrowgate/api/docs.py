"""What the OpenAPI document says about every route: the base of the response
models, the error answers each route can give, the security schemes and the
Idempotency-Key header. Nothing here changes how a request is handled: the edge
middleware authenticates, and idempotency is claimed in the request context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi.routing import APIRoute

from ..wire import AmountStr, ErrorBody, ErrorDetail, IsoTime, UnixStr, WireModel
from .idempotency import MAX_KEY_LENGTH

__all__ = ["AmountStr", "ErrorBody", "ErrorDetail", "IsoTime", "UnixStr", "WireModel"]

_TEXT = {
    400: "Invalid request (field named in `param`)",
    401: "Missing or invalid API key (public payer routes: client secret)",
    403: "Not allowed with this key (another merchant's object, or the wrong kind of key)",
    404: "Not found",
    409: "Idempotency-Key in use by a running request, or a concurrent conflict (retry)",
    413: "Body too large",
    415: "Body is not JSON",
    429: "Rate limit exceeded (per key; keyless payer routes: per client address)",
    503: "Database unavailable or not migrated: nothing was done (retry later)",
}


def errors(*statuses: int, public: bool = False, body: bool = False) -> dict[int | str, Any]:
    """The error answers of a route: 400, 429 and 503 always; 401 and 403 on keyed
    routes; 409, 413 and 415 on routes that take a body (POST); plus `statuses`. The
    `default` answer (an internal error, 500, in the same envelope) also keeps
    FastAPI from describing a 422 the API never gives (validation is a 400)."""
    wanted = {400, 429, 503, *statuses}
    if not public:
        wanted |= {401, 403}
    if body:
        wanted |= {409, 413, 415}
    out: dict[int | str, Any] = {
        s: {"model": ErrorBody, "description": _TEXT[s]} for s in sorted(wanted)
    }
    out["default"] = {"model": ErrorBody, "description": "Internal error (500)"}
    return out


# --- security schemes (documentation: the edge middleware authenticates) -------------
#
# Written into the document by openapi.py, not declared as route dependencies: a
# Security() parameter is resolved on every request (two extra dependency calls and
# their validation per request) only to be ignored.

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "sk_test_... or sk_live_...",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key as a bearer token",
    },
}
KEYED_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
_KEYED = "__escrowgate_keyed__"

F = TypeVar("F", bound=Callable[..., Any])


def keyed(dependency: F) -> F:
    """Mark a request-context dependency as needing an API key (the document's
    `security` on every route that depends on it)."""
    setattr(dependency, _KEYED, True)
    return dependency


def needs_key(route: APIRoute) -> bool:
    """Whether a route depends (directly or below) on a `keyed` dependency."""
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        if getattr(dep.call, _KEYED, False):
            return True
        pending.extend(dep.dependencies)
    return False


# The Idempotency-Key header as the document lists it on every POST that honours it
# (openapi_extra: a parameter in the document only; the edge and the request context
# read the header themselves, so no per-request dependency resolves it).
IDEMPOTENT: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {
                # Documented bounds; the idempotency claim itself checks them (its own 400).
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_KEY_LENGTH,
                "title": "Idempotency-Key",
            },
            "description": (
                f"1 to {MAX_KEY_LENGTH} characters. The same key and body within 24 hours "
                "replays the first answer; a different body is a 400; a request still "
                "running with it is a 409"
            ),
        }
    ]
}
