"""api/handler.py: a simple route's request is served without FastAPI's general
resolution, and gives the same answer; anything but the plain success case (a body
that does not validate, another content type, a dependency override) is FastAPI's,
with FastAPI's answer."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute

from escrowgate.api.handler import direct_handler
from escrowgate.api.routing import ExactJSONRoute
from tests.support.driver import assert_error, create_intent, intent_url, milestones_url

MEASURED = {
    ("GET", "/v1/payment-intents/{intent_id}"),
    ("POST", "/v1/payment-intents"),
    ("POST", "/v1/payment-intents/{intent_id}/escrow/milestones"),
    ("POST", "/v1/payment-intents/{intent_id}/escrow/milestones/{milestone_id}/complete"),
}


def _routes(app: Any) -> dict[tuple[str, str], APIRoute]:
    return {
        (method, route.path): route
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


def test_which_routes_are_served_directly(app):
    routes = _routes(app)
    for key in MEASURED:
        assert direct_handler(routes[key]) is not None, key
    # Query parameters, an optional body: FastAPI resolves these.
    assert direct_handler(routes[("GET", "/v1/payment-intents")]) is None
    assert direct_handler(routes[("POST", "/v1/payment-intents/{intent_id}/refund")]) is None
    unique = {id(route): route for route in routes.values()}.values()
    direct = sum(direct_handler(route) is not None for route in unique)
    assert direct > len(MEASURED)


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths FastAPI's general resolution ran for."""
    seen: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return seen


async def test_the_success_case_skips_fastapis_resolution(client, merchant, resolutions):
    intent = await create_intent(client, merchant)
    url = milestones_url(intent["id"])
    body = {"milestoneIndex": 0, "description": "Design", "amount": "10.00"}
    r = await client.post(url, json=body, headers=merchant.headers)
    assert r.status_code == 201, r.text
    assert (r.json()["data"]["milestoneIndex"], r.json()["data"]["amount"]) == (0, "10.00")
    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["id"] == intent["id"]
    assert resolutions == []


async def test_a_body_that_does_not_validate_is_fastapis(client, merchant, resolutions):
    intent = await create_intent(client, merchant)
    url = milestones_url(intent["id"])
    r = await client.post(url, json={"milestoneIndex": 0}, headers=merchant.headers)
    assert_error(r, 400, "invalid_request", "Missing required parameter: amount", param="amount")
    r = await client.post(
        url, content=b'{"milestoneIndex": 0, "amount": "1.00", "amount": "2.00"}',
        headers={**merchant.headers, "content-type": "application/json"},
    )
    assert_error(r, 400, "duplicate_key", "Duplicate key in JSON object: amount", param="amount")
    # A duplicate key stops FastAPI before it resolves anything, as it always did.
    assert resolutions == [url]


async def test_answers_are_the_same_either_way(app, client, merchant, resolutions, monkeypatch):
    intent = await create_intent(client, merchant)
    url = intent_url(intent["id"])
    direct = await client.get(url, headers=merchant.headers)
    monkeypatch.setattr(_routes(app)[("GET", "/v1/payment-intents/{intent_id}")], "direct", None)
    general = await client.get(url, headers=merchant.headers)
    assert general.status_code == 200, general.text
    assert resolutions == [url]
    assert (direct.status_code, direct.content) == (general.status_code, general.content)
    assert direct.json()["id"] == intent["id"]


@pytest.fixture
def wrapped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths served through a route's `handle` (FastAPI's wrapper around the
    endpoint: its request object, exit stacks and exception wrapper)."""
    seen: list[str] = []
    original = ExactJSONRoute.handle

    async def counting(self: ExactJSONRoute, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(ExactJSONRoute, "handle", counting)
    return seen


async def test_a_direct_answer_skips_fastapis_endpoint_wrapper(client, merchant, wrapped):
    intent = await create_intent(client, merchant)
    got = await client.get(intent_url(intent["id"]), headers=merchant.headers)
    assert got.json()["id"] == intent["id"]
    # A use case's error goes up to the app's exception handlers: the same envelope.
    r = await client.get(intent_url("intent_doesnotexist"), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Payment intent not found: intent_doesnotexist")
    assert wrapped == []


async def test_a_declined_request_is_fastapis_with_its_body_once_more(
    app, client, merchant, wrapped, resolutions, monkeypatch
):
    intent = await create_intent(client, merchant)
    url = milestones_url(intent["id"])
    route = _routes(app)[("POST", "/v1/payment-intents/{intent_id}/escrow/milestones")]
    offered: list[str] = []
    original = route.direct
    assert original is not None

    async def counting(request: Any) -> Any:
        offered.append(request.url.path)
        return await original(request)

    monkeypatch.setattr(route, "direct", counting)
    # Declined (no amount): FastAPI validates the body the client sent, read once more.
    r = await client.post(url, json={"milestoneIndex": 0}, headers=merchant.headers)
    assert_error(r, 400, "invalid_request", "Missing required parameter: amount", param="amount")
    assert (offered, wrapped, resolutions) == ([url], [url], [url])


async def test_an_unexpected_error_of_a_direct_answer_is_the_500_envelope(
    client, merchant, wrapped, monkeypatch
):
    from escrowgate.payments import intents

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection string with a secret")

    monkeypatch.setattr(intents, "get_intent", broken)
    r = await client.get(intent_url("intent_doesnotexist"), headers=merchant.headers)
    message = "An internal error occurred. It has been logged with the Request-Id."
    assert_error(r, 500, "internal_error", message, type_="api_error")
    assert r.headers["request-id"].startswith("req_") and "secret" not in r.text
    assert wrapped == []
