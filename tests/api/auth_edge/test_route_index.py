"""api/routing.py's RouteIndex must pick, for every request, the route the router's
own loop would pick: the first whole match in route order (or leave the request to
the router: 404, 405, a slash to redirect)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx
from starlette.routing import BaseRoute, Match, Mount, Route, Router

from escrowgate.api.routing import RouteIndex, _route_path
from escrowgate.app import create_app

# Values a path parameter is given: ids, and the literal words other routes use at
# the same place (public, account, escrow...), so overlapping templates meet.
VALUES = ("intent_1", "public", "account", "escrow", "balance", "cancel", "x")
EXTRA = (
    "/",
    "",
    "/v1",
    "/v1/",
    "/v1/payment-intents/",
    "/v1//payment-intents",
    "/v1/payment-intents/public/",
    "/v1/nothing/here",
    "/pay/intent_1",
    "/dashboard",
    "/docs",
    "/static/swagger/swagger-ui.css",
    "/static/app.css",
    "/health",
    "/ready",
    "/openapi.json",
    "/metrics",
)
METHODS = ("GET", "POST", "DELETE", "HEAD", "OPTIONS")


def _paths(routes: list[BaseRoute]) -> set[str]:
    out = set(EXTRA)
    for route in routes:
        template = getattr(route, "path", None)
        if not isinstance(template, str):
            continue
        names = re.findall(r"{[^}]+}", template)
        for values in itertools.islice(itertools.product(VALUES, repeat=len(names)), 60):
            path = template
            for name, value in zip(names, values, strict=True):
                path = path.replace(name, value, 1)
            out |= {path, path + "/", path + "/more"}
    return out


def _first_full(routes: Any, scope: dict[str, Any]) -> BaseRoute | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route  # type: ignore[no-any-return]
    return None


def _scope(method: str, path: str, root_path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }


def test_the_index_picks_the_routers_own_route_for_every_path(app):
    routes = list(app.router.routes)
    index = RouteIndex(app.router)
    checked = matched = 0
    for path, method, root in itertools.product(_paths(routes), METHODS, ("", "/api")):
        scope = _scope(method, path, root)
        expected = _first_full(routes, scope)
        got = _first_full(index.candidates(_route_path(scope)), scope)
        assert got is expected, (method, root + path)
        checked += 1
        matched += expected is not None
    # The sample must exercise both outcomes broadly (every API route, and misses).
    assert matched > 300 and checked - matched > 300, (checked, matched)


def test_the_index_only_narrows(app):
    """Fewer candidates than routes for an API path, in the routes' own order."""
    routes = list(app.router.routes)
    index = RouteIndex(app.router)
    found = index.candidates("/v1/payment-intents/intent_1")
    assert 0 < len(found) < len(routes) // 2
    positions = [routes.index(route) for route in found]
    assert positions == sorted(positions)


async def test_a_route_added_after_the_first_request_is_found(settings):
    app = create_app(settings)
    calls: list[str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.get("/health")).json() == {"status": "ok"}
        assert (await c.get("/late/route")).status_code == 404

        @app.get("/late/route")
        async def late() -> dict[str, str]:
            calls.append("late")
            return {"ok": "yes"}

        answer = await c.get("/late/route")
        assert (answer.status_code, answer.json()) == (200, {"ok": "yes"})
    assert calls == ["late"]
    await app.state.engine.dispose()


def test_the_index_keeps_the_order_of_overlapping_templates():
    """A synthetic router where templates overlap in every way the index tells apart:
    a parameter in the first or second segment, a path converter, a mount."""

    async def endpoint(_request: Any) -> None:  # never called
        return None

    templates = (
        "/{a}/b/c",
        "/v1/b/{c}",
        "/v1/{b}/c",
        "/v1/b/c",
        "/v1/{b}",
        "/v1/b",
        "/files/{p:path}",
        "/v1/{b}/{c}/d",
        "/v1/b/{c}/d",
    )
    routes: list[BaseRoute] = [Route(t, endpoint) for t in templates]
    routes.insert(4, Mount("/v1/m", routes=[Route("/x", endpoint)]))
    router = Router(routes=routes)
    index = RouteIndex(router)
    words = ("v1", "b", "c", "d", "m", "x", "files", "")
    paths = {"/" + "/".join(p) for n in (1, 2, 3, 4) for p in itertools.product(words, repeat=n)}
    for path in paths:
        scope = _scope("GET", path, "")
        expected = _first_full(routes, scope)
        assert _first_full(index.candidates(_route_path(scope)), scope) is expected, path
