"""The webhook endpoints API: create (secret shown once), list, get, update, delete,
rotate; tenancy and the exact 400/403/404 messages, each leaving nothing changed."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.driver import (
    Merchant,
    assert_error,
    rotate_secret_url,
    webhook_deliveries_url,
    webhook_endpoint_url,
    webhook_endpoints_url,
)


async def create(client: httpx.AsyncClient, m: Merchant, **body: Any) -> httpx.Response:
    payload = {"url": "http://127.0.0.1:9/hook", "enabledEvents": ["*"], **body}
    return await client.post(webhook_endpoints_url(), json=payload, headers=m.headers)


async def count(client: httpx.AsyncClient, m: Merchant) -> int:
    r = await client.get(webhook_endpoints_url(), params={"limit": 100}, headers=m.headers)
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


async def test_create_shows_the_secret_once(client: httpx.AsyncClient, merchant: Merchant) -> None:
    r = await create(client, merchant, enabledEvents=["milestone.released"], description="orders")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("we_") and body["object"] == "webhook_endpoint"
    data = body["data"]
    assert data["secret"].startswith("whsec_")
    assert data["url"] == "http://127.0.0.1:9/hook"
    assert data["enabledEvents"] == ["milestone.released"]
    assert data["description"] == "orders"
    assert data["status"] == "enabled" and data["livemode"] is False
    got = await client.get(webhook_endpoint_url(body["id"]), headers=merchant.headers)
    assert got.status_code == 200
    assert "secret" not in got.json()["data"]
    listed = await client.get(webhook_endpoints_url(), headers=merchant.headers)
    assert listed.json()["object"] == "list" and listed.json()["url"] == webhook_endpoints_url()
    assert [e["id"] for e in listed.json()["data"]] == [body["id"]]
    assert "secret" not in listed.json()["data"][0]


async def test_list_is_paginated(client: httpx.AsyncClient, merchant: Merchant) -> None:
    ids = [(await create(client, merchant)).json()["id"] for _ in range(3)]
    r = await client.get(webhook_endpoints_url(), params={"limit": 2}, headers=merchant.headers)
    assert [e["id"] for e in r.json()["data"]] == ids[::-1][:2] and r.json()["hasMore"]
    r = await client.get(
        webhook_endpoints_url(),
        params={"limit": 2, "starting_after": ids[1]},
        headers=merchant.headers,
    )
    assert [e["id"] for e in r.json()["data"]] == [ids[0]] and not r.json()["hasMore"]
    r = await client.get(
        webhook_endpoints_url(), params={"starting_after": "we_nope"}, headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", "No such object in this list: we_nope")


async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    cases = [
        (
            {"url": "ftp://example.com/x"},
            "url must be an absolute http or https URL with a host",
            "url",
        ),
        ({"url": "not a url"}, "url must be an absolute http or https URL with a host", "url"),
        ({"url": "https://user:pw@example.com/"}, "url must not contain credentials", "url"),
        ({"enabledEvents": ["payment.nope"]}, "Unknown event type: payment.nope", "enabledEvents"),
        ({"enabledEvents": []}, "enabledEvents must not be empty", "enabledEvents"),
        (
            {"enabledEvents": ["*", "refund.created"]},
            'enabledEvents must be ["*"] or a list of event types',
            "enabledEvents",
        ),
        (
            {"enabledEvents": "*"},
            'enabledEvents must be ["*"] or a list of event types',
            "enabledEvents",
        ),
        ({"secret": "mine"}, "Received unknown parameter: secret", "secret"),
    ]
    for body, message, param in cases:
        r = await create(client, merchant, **body)
        assert_error(r, 400, "invalid_request", message, param=param)
    r = await client.post(
        webhook_endpoints_url(), json={"enabledEvents": ["*"]}, headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", "Missing required parameter: url", param="url")
    assert await count(client, merchant) == 0


async def test_live_endpoints_must_be_public_https(
    client: httpx.AsyncClient, merchant: Merchant, add_key: Any
) -> None:
    live = await add_key(merchant, "live")
    for url, message in [
        ("http://example.com/hook", "Live webhook endpoints must use https"),
        *[
            (
                u,
                "Live webhook endpoints must not point to loopback, private or "
                "link-local addresses",
            )
            for u in (
                "https://127.0.0.1/hook",
                "https://localhost/hook",
                "https://10.1.2.3/hook",
                "https://169.254.169.254/latest",
                "https://[::1]/hook",
                "https://[::ffff:192.168.0.1]/hook",
                "https://0.0.0.0/hook",
            )
        ],
    ]:
        r = await create(client, live, url=url)
        assert_error(r, 400, "invalid_request", message, param="url")
    assert await count(client, live) == 0
    # Test mode may use http and loopback (a local receiver).
    assert (await create(client, merchant, url="http://localhost:4242/hook")).status_code == 201


async def test_update_rotate_delete(client: httpx.AsyncClient, merchant: Merchant) -> None:
    created = (await create(client, merchant)).json()
    eid, secret = created["id"], created["data"]["secret"]
    r = await client.post(
        webhook_endpoint_url(eid),
        json={"url": "http://127.0.0.1:10/new", "enabledEvents": ["refund.created"]},
        headers=merchant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["url"] == "http://127.0.0.1:10/new"
    assert r.json()["data"]["enabledEvents"] == ["refund.created"]
    assert "secret" not in r.json()["data"]
    r = await client.post(
        webhook_endpoint_url(eid), json={"disabled": True}, headers=merchant.headers
    )
    assert r.json()["data"]["status"] == "disabled"
    r = await client.post(
        webhook_endpoint_url(eid), json={"disabled": False}, headers=merchant.headers
    )
    assert r.json()["data"]["status"] == "enabled"
    r = await client.post(
        webhook_endpoint_url(eid), json={"disabled": "yes"}, headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", "disabled must be a boolean", param="disabled")
    r = await client.post(
        webhook_endpoint_url(eid), json={"enabledEvents": ["nope.nope"]}, headers=merchant.headers
    )
    assert_error(r, 400, "invalid_request", "Unknown event type: nope.nope")
    r = await client.get(webhook_endpoint_url(eid), headers=merchant.headers)
    assert r.json()["data"]["enabledEvents"] == ["refund.created"]  # unchanged by the 400

    rotated = await client.post(rotate_secret_url(eid), headers=merchant.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["data"]["secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret

    r = await client.delete(webhook_endpoint_url(eid), headers=merchant.headers)
    assert r.status_code == 200 and r.json()["deleted"] is True
    r = await client.get(webhook_endpoint_url(eid), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", f"Webhook endpoint not found: {eid}")
    assert await count(client, merchant) == 0


async def test_tenancy(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant, add_key: Any
) -> None:
    eid = (await create(client, merchant)).json()["id"]
    forbidden = "You do not have access to this webhook endpoint"
    for method, path, body in [
        ("GET", webhook_endpoint_url(eid), None),
        ("POST", webhook_endpoint_url(eid), {"disabled": True}),
        ("DELETE", webhook_endpoint_url(eid), None),
        ("POST", rotate_secret_url(eid), None),
        ("GET", webhook_deliveries_url(eid), None),
    ]:
        r = await client.request(method, path, json=body, headers=other_merchant.headers)
        assert_error(r, 403, "forbidden", forbidden, type_="authentication_error")
    live = await add_key(merchant, "live")
    r = await client.get(webhook_endpoint_url(eid), headers=live.headers)
    assert_error(r, 404, "resource_missing", f"Webhook endpoint not found: {eid}")
    assert await count(client, live) == 0
    assert await count(client, other_merchant) == 0
    r = await client.get(webhook_endpoint_url(eid), headers=merchant.headers)
    assert r.json()["data"]["status"] == "enabled"  # the 403s changed nothing
    r = await client.get(webhook_endpoint_url("we_unknown"), headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Webhook endpoint not found: we_unknown")
    r = await client.get(webhook_endpoints_url())
    assert_error(r, 401, "authentication_required", type_="authentication_error")
