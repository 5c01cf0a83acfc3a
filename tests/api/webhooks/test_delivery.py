"""Delivery to a real receiver on loopback: payload, both signatures, filters, the
endpoint-after-event rule, retries, FAILED, 410, the failing-for-days rule, timeouts,
redelivery, rotation, and the live-mode address check at delivery time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from escrowgate.config import Settings
from escrowgate.webhooks import endpoints as uc
from escrowgate.webhooks.delivery import Deliverer
from tests.api.webhooks.conftest import Deliver, add_endpoint
from tests.api.webhooks.receiver import Receiver
from tests.support.driver import (
    Merchant,
    assert_error,
    create_intent,
    event_redeliver_url,
    events_url,
    intent_body,
    intents_url,
    milestones_url,
    rotate_secret_url,
    webhook_deliveries_url,
    webhook_endpoint_url,
    webhook_endpoints_url,
)


def events_of(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests]


async def deliveries(client: httpx.AsyncClient, m: Merchant, eid: str) -> list[dict[str, Any]]:
    r = await client.get(webhook_deliveries_url(eid), params={"limit": 100}, headers=m.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def test_every_event_is_delivered_signed(
    client: httpx.AsyncClient, merchant: Merchant, receiver: Receiver, deliver: Deliver
) -> None:
    endpoint = await add_endpoint(client, merchant, receiver.url)
    secret = endpoint["data"]["secret"]
    r = await client.post(
        intents_url(),
        json=intent_body(),
        headers={**merchant.headers, "Idempotency-Key": "order-42"},
    )
    intent_id, request_id = r.json()["id"], r.headers["request-id"]
    await deliver()
    got = events_of(receiver)
    assert [e["type"] for e in got] == ["payment_intent.created", "escrow_order.created"]
    listed = await client.get(events_url(), params={"limit": 2}, headers=merchant.headers)
    assert [e["id"] for e in got] == [e["id"] for e in reversed(listed.json()["data"])]
    first = got[0]
    assert set(first) == {"id", "object", "type", "data", "created", "livemode", "request"}
    assert first["object"] == "event" and first["livemode"] is False
    assert first["data"]["object"]["id"] == intent_id
    assert first["request"] == {"id": request_id, "idempotencyKey": "order-42"}
    for req in receiver.requests:
        expected = hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
        assert req.headers["finternet-signature"] == expected
        assert req.headers["webhook-id"].startswith("msg_")
        assert Webhook(secret).verify(req.body, req.headers)["id"] == json.loads(req.body)["id"]
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(uc.signing.random_secret()).verify(req.body, req.headers)
    rows = await deliveries(client, merchant, endpoint["id"])
    assert {(a["eventType"], a["attempt"], a["httpStatus"], a["deliveryStatus"]) for a in rows} == {
        ("payment_intent.created", 1, 200, "SUCCEEDED"),
        ("escrow_order.created", 1, 200, "SUCCEEDED"),
    }
    assert rows[0]["responseExcerpt"] == '{"received": true, "status": 200}'
    assert rows[0]["nextRetryAt"] is None and rows[0]["durationMs"] >= 0
    await deliver()
    assert len(receiver.requests) == 2  # delivered once, not again


async def test_filters_and_endpoints_created_after_an_event(
    client: httpx.AsyncClient, merchant: Merchant, receiver: Receiver, deliver: Deliver
) -> None:
    intent = await create_intent(client, merchant)
    await add_endpoint(client, merchant, receiver.url, ["milestone.created"])
    r = await client.post(
        milestones_url(intent["id"]),
        json={"milestoneIndex": 0, "amount": "300.00"},
        headers=merchant.headers,
    )
    assert r.status_code == 201
    await deliver()
    assert [e["type"] for e in events_of(receiver)] == ["milestone.created"]


async def test_retries_then_failed_then_redeliver(
    client: httpx.AsyncClient, merchant: Merchant, receiver: Receiver, deliver: Deliver
) -> None:
    receiver.status = 500
    endpoint = await add_endpoint(client, merchant, receiver.url, ["payment_intent.created"])
    intent = await create_intent(client, merchant)
    await deliver()  # schedule 0,0,0: the first try and three retries
    assert len(receiver.requests) == 4
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    rows = await deliveries(client, merchant, endpoint["id"])
    assert [a["attempt"] for a in rows] == [4, 3, 2, 1]
    assert [a["deliveryStatus"] for a in rows] == ["FAILED", "PENDING", "PENDING", "PENDING"]
    assert all(a["httpStatus"] == 500 and not a["succeeded"] for a in rows)
    assert rows[0]["nextRetryAt"] is None and rows[1]["nextRetryAt"] is not None
    assert rows[0]["responseExcerpt"] == '{"received": true, "status": 500}'

    receiver.status = 200
    event_id = json.loads(receiver.requests[0].body)["id"]
    assert json.loads(receiver.requests[0].body)["data"]["object"]["id"] == intent["id"]
    r = await client.post(event_redeliver_url(event_id), headers=merchant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["deliveries"][0]["status"] == "PENDING"
    await deliver()
    assert len(receiver.requests) == 5
    assert receiver.requests[-1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    assert (await deliveries(client, merchant, endpoint["id"]))[0]["deliveryStatus"] == "SUCCEEDED"


async def test_redeliver_errors_and_explicit_endpoint(
    client: httpx.AsyncClient,
    merchant: Merchant,
    other_merchant: Merchant,
    receiver: Receiver,
    deliver: Deliver,
) -> None:
    await create_intent(client, merchant)
    event_id = (await client.get(events_url(), headers=merchant.headers)).json()["data"][0]["id"]
    url = event_redeliver_url(event_id)
    r = await client.post(url, headers=merchant.headers)
    assert_error(
        r,
        400,
        "invalid_request",
        "This event was not sent to any enabled webhook endpoint; pass endpointId",
        param="endpointId",
    )
    r = await client.post(url, headers=other_merchant.headers)
    assert_error(r, 404, "resource_missing", "Event not found", param="eventId")
    r = await client.post(url, json={"endpointId": "we_nope"}, headers=merchant.headers)
    assert_error(r, 404, "resource_missing", "Webhook endpoint not found: we_nope")
    foreign = await add_endpoint(client, other_merchant, receiver.url)
    r = await client.post(url, json={"endpointId": foreign["id"]}, headers=merchant.headers)
    assert_error(
        r,
        403,
        "forbidden",
        "You do not have access to this webhook endpoint",
        type_="authentication_error",
    )
    mine = await add_endpoint(client, merchant, receiver.url)
    await deliver()
    assert receiver.requests == []  # created after the event: not sent by itself
    r = await client.post(url, json={"endpointId": mine["id"]}, headers=merchant.headers)
    assert r.status_code == 200, r.text
    await deliver()
    assert [e["id"] for e in events_of(receiver)] == [event_id]


async def test_410_disables_the_endpoint_and_records_an_event(
    client: httpx.AsyncClient, merchant: Merchant, receiver: Receiver, deliver: Deliver
) -> None:
    watcher = await Receiver().start()
    try:
        gone = await add_endpoint(client, merchant, receiver.url, ["payment_intent.created"])
        await add_endpoint(client, merchant, watcher.url, ["webhook_endpoint.disabled"])
        receiver.status = 410
        await create_intent(client, merchant)
        await deliver()
        await create_intent(client, merchant)
        await deliver()
        assert len(receiver.requests) == 1  # no retry, and nothing more after a 410
        r = await client.get(webhook_endpoint_url(gone["id"]), headers=merchant.headers)
        assert r.json()["data"]["status"] == "disabled"
        assert r.json()["data"]["disabledReason"] == "the endpoint answered 410 Gone"
        [event] = events_of(watcher)
        assert event["type"] == "webhook_endpoint.disabled"
        assert event["data"]["object"]["id"] == gone["id"]
        assert event["request"] is None  # made by the worker, not by a request
        types = await client.get(
            events_url(), params={"type": "webhook_endpoint.disabled"}, headers=merchant.headers
        )
        assert len(types.json()["data"]) == 1
    finally:
        await watcher.stop()


async def test_endpoint_failing_for_days_is_disabled(
    client: httpx.AsyncClient,
    merchant: Merchant,
    receiver: Receiver,
    deliver: Deliver,
    hook_settings: Settings,
) -> None:
    receiver.status = 503
    endpoint = await add_endpoint(client, merchant, receiver.url)
    await create_intent(client, merchant, type="CONDITIONAL", metadata={})
    # "3 days" configured down to 0 seconds: the second failure is past the limit.
    await deliver(hook_settings.model_copy(update={"webhook_disable_after_seconds": 0}))
    assert len(receiver.requests) == 2
    r = await client.get(webhook_endpoint_url(endpoint["id"]), headers=merchant.headers)
    assert r.json()["data"]["disabledReason"] == "every delivery failed for 0 days"
    r = await client.get(
        events_url(), params={"type": "webhook_endpoint.disabled"}, headers=merchant.headers
    )
    assert len(r.json()["data"]) == 1


async def test_connection_errors_and_timeouts_are_retried(
    client: httpx.AsyncClient,
    merchant: Merchant,
    receiver: Receiver,
    deliver: Deliver,
    hook_settings: Settings,
) -> None:
    closed = Receiver()
    await closed.start()
    await closed.stop()  # a port nobody listens on
    dead = await add_endpoint(client, merchant, closed.url, ["payment_intent.created"])
    slow = await add_endpoint(client, merchant, receiver.url, ["payment_intent.created"])
    receiver.delay = 5
    await create_intent(client, merchant, type="CONDITIONAL", metadata={})
    await deliver(
        hook_settings.model_copy(
            update={"webhook_retry_schedule": "0", "webhook_timeout_seconds": 0.3}
        )
    )
    rows = await deliveries(client, merchant, dead["id"])
    assert [a["deliveryStatus"] for a in rows] == ["FAILED", "PENDING"]
    assert rows[0]["httpStatus"] is None and rows[0]["error"].startswith("ConnectError")
    rows = await deliveries(client, merchant, slow["id"])
    assert [a["error"] for a in rows] == ["timeout after 0.3s", "timeout after 0.3s"]
    assert rows[0]["deliveryStatus"] == "FAILED"


async def test_rotation_signs_with_both_secrets(
    client: httpx.AsyncClient, merchant: Merchant, receiver: Receiver, deliver: Deliver
) -> None:
    endpoint = await add_endpoint(client, merchant, receiver.url, ["payment_intent.created"])
    old = endpoint["data"]["secret"]
    r = await client.post(rotate_secret_url(endpoint["id"]), headers=merchant.headers)
    new = r.json()["data"]["secret"]
    await create_intent(client, merchant)
    await deliver()
    [req] = receiver.requests
    hexes = req.headers["finternet-signature"].split(",")
    for secret in (new, old):
        assert hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest() in hexes
        Webhook(secret).verify(req.body, req.headers)
    assert hexes[0] == hmac.new(new.encode(), req.body, hashlib.sha256).hexdigest()


async def test_slow_receiver_does_not_hold_up_others(
    client: httpx.AsyncClient,
    make_merchant: Any,
    receiver: Receiver,
    app: Any,
    hook_settings: Settings,
) -> None:
    """One endpoint never answers (within the test); another merchant's endpoint gets
    every event meanwhile, and the dead one has at most its bound in flight."""
    a, b = await make_merchant("Dead Receiver Inc"), await make_merchant("Fast Receiver Inc")
    dead = await Receiver(delay=60).start()
    try:
        await add_endpoint(client, a, dead.url)
        await add_endpoint(client, b, receiver.url)
        for _ in range(5):
            await create_intent(client, a, type="CONDITIONAL", metadata={})
            await create_intent(client, b, type="CONDITIONAL", metadata={})
        settings = hook_settings.model_copy(
            update={"webhook_timeout_seconds": 60, "webhook_per_endpoint_concurrency": 2}
        )
        d = Deliverer(app.state.session_factory, settings)
        loop = asyncio.create_task(d.run_forever())
        try:
            async with asyncio.timeout(30):
                while len(receiver.requests) < 5:
                    await receiver.arrived.wait()
                    receiver.arrived.clear()
            assert dead.answered == 0  # still hanging on the dead one
            assert len(dead.requests) == 2  # its bound, not all five
        finally:
            d.stop()
            await loop
            await d.aclose()
    finally:
        await dead.stop()


async def test_live_delivery_refuses_internal_addresses_at_send_time(
    client: httpx.AsyncClient,
    merchant: Merchant,
    add_key: Any,
    app: Any,
    hook_settings: Settings,
    deliver: Deliver,
) -> None:
    live = await add_key(merchant, "live")
    r = await client.post(
        webhook_endpoints_url(),
        json={"url": "https://hooks.example.com/x", "enabledEvents": ["*"]},
        headers=live.headers,
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "Live webhook endpoints need WEBHOOK_SECRET_KEY to be set on the server",
        param="url",
    )
    keyed = hook_settings.model_copy(update={"webhook_secret_key": "k" * 32})

    async def public(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.215.14")]

    async def rebound(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("127.0.0.1")]

    async with app.state.session_factory() as session:
        original = uc.urls.resolve
        uc.urls.resolve = public  # type: ignore[assignment]
        try:
            endpoint = await uc.create_endpoint(
                session,
                keyed,
                merchant_id=merchant.id,
                mode="live",
                url="https://hooks.example.com/x",
                enabled_events=["*"],
                description=None,
            )
        finally:
            uc.urls.resolve = original  # type: ignore[assignment]
        await session.commit()
    await create_intent(client, live)
    await deliver(keyed, resolver=rebound)  # DNS now answers an internal address
    rows = await deliveries(client, live, endpoint.id)
    assert rows and all(
        a["error"] == "refused: hooks.example.com resolves to a non-public address (127.0.0.1)"
        for a in rows
    )
