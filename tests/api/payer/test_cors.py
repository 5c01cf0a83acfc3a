"""CORS: the public routes answer preflights for any origin by default; keyed routes
only for CORS_ALLOW_ORIGINS; a configured list applies to both."""

from __future__ import annotations

import httpx
import pytest

from tests.support.driver import (
    create_app,
    dvp,
    intents_url,
    new_merchant,
    payment_url,
    public_intent_url,
)

SHOP = "https://shop.example"
EVIL = "https://evil.example"


def preflight(origin: str, headers: str = "content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


async def test_public_routes_answer_preflights_from_any_origin_by_default(client, merchant):
    iid = await dvp(client, merchant, "MILESTONE_LOCKED", fund=False)
    for url in (public_intent_url(iid), payment_url(iid), public_intent_url(iid, "/payer")):
        r = await client.options(url, headers=preflight(EVIL, "content-type,x-client-secret"))
        assert r.status_code == 204, (url, r.text)
        assert r.headers["access-control-allow-origin"] == "*"
        assert "POST" in r.headers["access-control-allow-methods"]
        allowed = r.headers["access-control-allow-headers"].lower()
        assert "content-type" in allowed and "x-client-secret" in allowed
        assert "x-api-key" not in allowed
    r = await client.get(public_intent_url(iid), headers={"Origin": EVIL})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Request-Id" in r.headers["access-control-expose-headers"]
    # errors carry it too, so a page can read them
    r = await client.get(public_intent_url("intent_" + "0" * 44), headers={"Origin": EVIL})
    assert r.status_code == 404 and r.headers["access-control-allow-origin"] == "*"


async def test_keyed_routes_allow_no_origin_by_default(client, merchant):
    r = await client.options(intents_url(), headers=preflight(SHOP, "x-api-key"))
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    r = await client.get(intents_url(), headers={"Origin": SHOP, **merchant.headers})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_no_origin_no_cors_headers(client, merchant):
    r = await client.get(intents_url(), headers=merchant.headers)
    assert "access-control-allow-origin" not in r.headers
    # OPTIONS without a preflight's headers is not a preflight: as before (the key
    # is checked first, then 405)
    assert (await client.options(intents_url())).status_code == 401
    assert (await client.options(intents_url(), headers=merchant.headers)).status_code == 405


@pytest.fixture(scope="module")
async def shop_client(settings):
    app = create_app(settings.model_copy(update={"cors_allow_origins": f"{SHOP}, http://x.test"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        c.app = app  # type: ignore[attr-defined]
        yield c
    await app.state.engine.dispose()


async def test_configured_origins_apply_to_keyed_and_public_routes(shop_client):
    m = await new_merchant(shop_client.app)
    r = await shop_client.options(intents_url(), headers=preflight(SHOP, "x-api-key,content-type"))
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == SHOP
    assert "x-api-key" in r.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers
    r = await shop_client.get(intents_url(), headers={"Origin": SHOP, **m.headers})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == SHOP
    assert r.headers["vary"] == "Origin"
    iid = await dvp(shop_client, m, "MILESTONE_LOCKED", fund=False)
    r = await shop_client.options(public_intent_url(iid), headers=preflight(EVIL))
    assert r.status_code == 403
    r = await shop_client.options(public_intent_url(iid), headers=preflight(SHOP))
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == SHOP
