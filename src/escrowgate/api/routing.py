"""Route class: JSON bodies are parsed with exact decimals (never float), NaN and
Infinity are rejected, absurd nesting is a clean 400 rather than a crash, and so is
a string escape that is not Unicode (a lone surrogate such as "\\ud800", which no
database or UTF-8 response can hold)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from ..domain.formats import clip
from .handler import DirectHandler, direct_handler

MAX_JSON_DEPTH = 32


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not allowed", name, 0)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\\udXXX" escape
        return False
    return True


def _depth(value: Any, limit: int) -> int:
    """Nesting depth (stops counting past `limit`); raises on a non-Unicode string."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            for key, v in item.items():
                if not _is_unicode(key):
                    raise json.JSONDecodeError("string is not valid Unicode", "", 0)
                stack.append((v, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str) and not _is_unicode(item):
            raise json.JSONDecodeError("string is not valid Unicode", "", 0)
    return deepest


def _parse_int(text: str) -> int | Decimal:
    # Python refuses str -> int past 4300 digits (a ValueError FastAPI would answer
    # with a generic message); as a Decimal the field's own validation names it.
    return int(text) if len(text) <= 4000 else Decimal(text)


class DuplicateKey(HTTPException):
    """A JSON object names a key twice (which value wins differs between parsers: a
    {"amount": "1.00", "amount": "99999.00"} must not mean either). An HTTPException
    so FastAPI's body parsing passes it through; answered as a 400 naming the key."""

    def __init__(self, key: str) -> None:
        super().__init__(400, f"Duplicate key in JSON object: {clip(key)}")
        self.key = clip(key)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def parse_json(raw: bytes) -> Any:
    try:
        value = json.loads(
            raw,
            parse_float=Decimal,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except RecursionError as exc:
        raise json.JSONDecodeError("JSON nested too deeply", "", 0) from exc
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("body is not UTF-8", "", 0) from exc
    if _may_need_walk(raw) and _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise json.JSONDecodeError("JSON nested too deeply", "", 0)
    return value


def _may_need_walk(raw: bytes) -> bool:
    """Whether the parsed value can be too deep or hold a lone surrogate, so that
    `_depth` must walk it. Neither can happen when the body has fewer brackets than
    the depth allowed, no \\u escape, and no byte that begins a surrogate in UTF-8
    (0xED: json.loads decodes bytes with "surrogatepass") or in UTF-16 and UTF-32
    (whose ASCII characters all carry a NUL byte)."""
    if raw.count(b"{") + raw.count(b"[") >= MAX_JSON_DEPTH:
        return True
    return b"\\u" in raw or b"\xed" in raw or b"\x00" in raw


class ExactJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def takes_no_body(route: APIRoute) -> bool:
    """A POST (PUT, PATCH) route whose endpoint declares no body."""
    methods = route.methods or set()
    return bool(methods & _BODY_METHODS) and getattr(route, "body_field", None) is None


async def refuse_stray_body(request: ExactJSONRequest) -> None:
    """A route without a body takes none, or an empty JSON object; anything else is
    refused before any effect, with the errors a body route gives (malformed JSON, not
    an object, an unknown parameter): a client's mistake never runs the action (a
    cancel, a payer's approval that releases money) as if the body were not there."""
    raw = await request.body()
    if not raw.strip():
        return
    try:
        value = await request.json()
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}]
        ) from exc
    if not isinstance(value, dict):
        raise RequestValidationError([{"type": "dict_type", "loc": ("body",), "msg": "object"}])
    if value:
        key = next(iter(value))
        raise RequestValidationError(
            [{"type": "extra_forbidden", "loc": ("body", key), "msg": "unknown"}]
        )


# Set on a request the route index already offered to the direct handler, which
# declined it: FastAPI's own handler answers it without a second attempt.
_DIRECT_DECLINED = "escrowgate.direct_declined"


class ExactJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # None: FastAPI resolves every request of this route (api/handler.py).
        self.direct: DirectHandler | None = direct_handler(self)

        no_body = self.no_body = takes_no_body(self)

        async def exact_json_handler(request: Request) -> Response:
            exact = ExactJSONRequest(request.scope, request.receive)
            if no_body:
                await refuse_stray_body(exact)
            direct = self.direct
            if direct is not None and not request.scope.get(_DIRECT_DECLINED):
                response = await direct(exact)
                if response is not None:
                    return response
            return await handler(exact)

        return exact_json_handler

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`handle`, for a request the route index has matched in full (path and
        method). A request the direct handler answers skips the wrapper FastAPI puts
        around every endpoint (a second request object, two exit stacks for
        dependencies with yield and uploaded files, an exception wrapper), none of which
        a direct route uses: an exception it raises goes up to the app's
        ExceptionMiddleware, whose handlers are the same. A request it declines (before
        any effect) goes through `handle` with its body replayed, unchanged."""
        direct = self.direct
        # A body limit of the route's own (FastAPI >= 0.165) wraps `handle`: such a
        # route is always served there (the app's limit is the edge's, outside).
        if direct is None or getattr(self, "max_body_size", None) is not None:
            await self.handle(scope, receive, send)
            return
        request = ExactJSONRequest(scope, receive)
        if self.no_body:
            await refuse_stray_body(request)
        response = await direct(request)
        if response is None:
            scope[_DIRECT_DECLINED] = True
            await self.handle(scope, replay(await request.body(), receive), send)
            return
        await response(scope, receive, send)


def replay(body: bytes, upstream: Receive) -> Receive:
    """The body already read, then the real channel: a file or streaming answer
    listens for the client's disconnect and must not be told of one too early."""
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await upstream()

    return receive


# --- the API's routers: one home for the prefix, the route class and the ids -------

API_PREFIX = "/v1"
# The reference backend's spelling: /api/v1/... is served as /v1/... (the edge sets
# the request's root path to /api, so routing sees /v1 and the URL stays as sent).
ALIAS_ROOT = "/api"
VERSION_PREFIX = re.compile(r"^/(api/)?v1(?=/)")
ESCROW = "/payment-intents/{intent_id}/escrow"
# The same function serves two paths: the alias keeps a name of its own.
ALIAS_IDS = {
    ("GET", ESCROW): "getEscrowOrder",
    ("POST", ESCROW + "/delivery-proof"): "submitEscrowDeliveryProof",
    ("POST", ESCROW + "/approve"): "approveEscrowRelease",
    ("POST", ESCROW + "/dispute"): "raiseEscrowDispute",
    ("POST", ESCROW + "/dispute/resolve"): "resolveEscrowDispute",
    ("GET", "/payment-intents/account/balance"): "getPaymentIntentsAccountBalance",
    ("GET", "/payment-intents/account/ledger-entries"): "listPaymentIntentsAccountLedgerEntries",
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operation id: `create_milestone` -> `createMilestone`; an alias
    path -> its own id."""
    path = VERSION_PREFIX.sub("", route.path_format)
    for method in sorted(route.methods or ()):
        alias = ALIAS_IDS.get((method, path))
        if alias is not None:
            return alias
    return camel(route.name)


def api_router(*, tags: list[str | Enum] | None = None) -> APIRouter:
    """An aggregate's router: its paths under /v1, exact JSON bodies, camelCase
    operation ids. The application adds its routes to its own router as they are
    (app.py), not as an included router: FastAPI matches an included router's
    routes through a wrapper per candidate, twice per request."""
    return APIRouter(
        prefix=API_PREFIX,
        route_class=ExactJSONRoute,
        generate_unique_id_function=operation_id,
        tags=tags,
    )


# --- finding a request's route ------------------------------------------------------
#
# The router tries its routes in order until one matches the whole request, at a cost
# of several calls per route (FastAPI's wrapper, Starlette's, a regular expression):
# create milestone, 31st of 53 routes, spent about a tenth of its Python calls on it.
# The index below tries only the routes that can match the request's path, in the
# same order, so the first whole match is the router's own; when none matches (a 404,
# a 405, a slash to redirect) the router itself answers, as before.


Shape = tuple[int, str | None, str | None]


def _shape(route: Any) -> Shape | None:
    """(number of segments, second segment when literal, last segment when literal) of
    a route whose parameters each match exactly one segment; None for any other route.
    "/v1/x/{id}/y" -> (5, "x", "y"): the first segment is the version, which
    `route.matches` checks with the rest."""
    path = getattr(route, "path", None)
    if not isinstance(route, Route) or not isinstance(path, str) or ":" in path:
        return None
    segments = path.split("/")  # "/v1/x/{id}" -> ["", "v1", "x", "{id}"]
    if len(segments) <= 2:
        return len(segments), None, None
    second, last = segments[2], segments[-1]
    second_literal = "{" not in second and "{" not in segments[1]
    return (
        len(segments),
        second if second_literal else None,
        last if "{" not in last else None,
    )


def _fits(shape: Shape | None, key: Shape) -> bool:
    """Whether a route of `shape` can match a path of `key`: the same length and, where
    the route has a literal, the same word (a path's word that no route of its length
    has is None in `key`, and only routes with a parameter there fit)."""
    if shape is None:
        return True
    length, second, last = key
    return (
        shape[0] == length
        and (shape[1] is None or shape[1] == second)
        and (shape[2] is None or shape[2] == last)
    )


class RouteIndex:
    """The app router's routes by the shape of the paths they can match (see above)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._indexed = -1  # routes indexed (routes added later are indexed again)
        self._buckets: dict[Shape, tuple[BaseRoute, ...]] = {}
        self._seconds: dict[int, frozenset[str]] = {}  # literal second words by length
        self._lasts: dict[int, frozenset[str]] = {}  # literal last words by length
        self._wildcards: tuple[BaseRoute, ...] = ()

    def _build(self) -> None:
        routes = list(self.router.routes)
        shapes = [_shape(route) for route in routes]
        known = [s for s in shapes if s is not None]
        lengths = {s[0] for s in known}
        self._seconds = {n: frozenset(s[1] for s in known if s[0] == n and s[1]) for n in lengths}
        self._lasts = {n: frozenset(s[2] for s in known if s[0] == n and s[2]) for n in lengths}
        keys = {
            (n, second, last)
            for n in lengths
            for second in (None, *self._seconds[n])
            for last in (None, *self._lasts[n])
        }
        self._buckets = {
            key: tuple(r for r, s in zip(routes, shapes, strict=True) if _fits(s, key))
            for key in keys
        }
        self._wildcards = tuple(r for r, s in zip(routes, shapes, strict=True) if s is None)
        self._indexed = len(routes)

    def candidates(self, path: str) -> tuple[BaseRoute, ...]:
        """The routes that can match `path` (the path below the root path), in order."""
        if self._indexed != len(self.router.routes):
            self._build()
        length = path.count("/") + 1
        seconds = self._seconds.get(length)
        if seconds is None:
            return self._wildcards
        if length <= 2:
            return self._buckets[(length, None, None)]
        segments = path.split("/", 3)
        second = segments[2] if segments[2] in seconds else None
        last = path.rsplit("/", 1)[1]
        return self._buckets[(length, second, last if last in self._lasts[length] else None)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.candidates(_route_path(scope)):
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self.router)
                    scope.update(child)
                    if isinstance(route, ExactJSONRoute):
                        await route.serve(scope, receive, send)
                    else:
                        await route.handle(scope, receive, send)
                    return
        await self.router.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path routes match: below the root path, exactly as Starlette cuts it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def install_route_index(router: Router) -> None:
    """Route the app's requests through a `RouteIndex` (the router's own loop stays
    the answer for everything the index does not match)."""
    router.middleware_stack = RouteIndex(router)
