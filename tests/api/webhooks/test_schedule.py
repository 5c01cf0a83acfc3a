"""The default retry schedule (1 min, 5 min, 30 min, 2 h, 6 h with jitter, then
FAILED), the 10 s timeout, and a receiver that is down for over an hour: it gets
every event afterwards. Time is moved by making the due deliveries due now."""

from __future__ import annotations

import json

import httpx
import pytest

from escrowgate.config import Settings
from escrowgate.webhooks.delivery import next_delay_seconds
from tests.api.webhooks.conftest import Deliver, add_endpoint
from tests.api.webhooks.receiver import Receiver
from tests.support.driver import Merchant, create_intent, db_execute, webhook_deliveries_url

DEFAULT = [60, 300, 1800, 7200, 21600]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_the_default_schedule_with_jitter(attempt: int) -> None:
    settings = Settings()
    base = DEFAULT[attempt - 1]
    delays = {next_delay_seconds(settings, attempt) for _ in range(50)}
    assert all(d is not None and base <= d <= base * 1.1 for d in delays), delays
    assert len(delays) > 1  # jittered, so retries of many endpoints do not line up


def test_after_the_fifth_retry_the_delivery_fails() -> None:
    assert next_delay_seconds(Settings(), 6) is None
    custom = Settings(webhook_retry_schedule="5,10")
    assert next_delay_seconds(custom, 2) is not None and next_delay_seconds(custom, 3) is None


async def test_a_send_is_cut_at_the_timeout(
    client: httpx.AsyncClient, merchant: Merchant, settings: Settings, deliver: Deliver
) -> None:
    assert Settings().webhook_timeout_seconds == 10.0  # the default
    slow = await Receiver(delay=3.0).start()
    try:
        endpoint = await add_endpoint(client, merchant, slow.url, ["payment_intent.created"])
        await create_intent(client, merchant)
        short = settings.model_copy(
            update={"webhook_timeout_seconds": 0.5, "webhook_retry_schedule": "3600"}
        )
        await deliver(short)
        assert len(slow.requests) == 1  # sent once, given up on after 0.5 s
        r = await client.get(webhook_deliveries_url(endpoint["id"]), headers=merchant.headers)
        (attempt,) = r.json()["data"]
        assert attempt["error"] == "timeout after 0.5s" and attempt["httpStatus"] is None
        assert attempt["deliveryStatus"] == "PENDING" and attempt["nextRetryAt"] is not None
    finally:
        await slow.stop()


async def make_due_now(app, endpoint_id: str) -> None:
    await db_execute(
        app,
        "UPDATE webhook_deliveries SET next_attempt_at = 0 "
        "WHERE endpoint_id = :e AND status = 'PENDING'",
        e=endpoint_id,
    )


async def test_a_receiver_down_for_an_hour_gets_every_event_afterwards(
    app, client: httpx.AsyncClient, merchant: Merchant, settings: Settings, deliver: Deliver
) -> None:
    receiver = await Receiver().start()
    endpoint = await add_endpoint(client, merchant, receiver.url, ["payment_intent.created"])
    await receiver.stop()  # down: connections are refused
    made = [(await create_intent(client, merchant))["id"] for _ in range(3)]
    default = settings.model_copy(update={"webhook_timeout_seconds": 2.0})
    waited = 0.0
    for attempt in (1, 2, 3):  # fails at 0, ~1 min, ~6 min (then due at ~36 min)
        await deliver(default)
        rows = await db_execute(
            app,
            "SELECT attempts, status, next_attempt_at FROM webhook_deliveries "
            "WHERE endpoint_id = :e",
            e=endpoint["id"],
        )
        assert [(r[0], r[1]) for r in rows] == [(attempt, "PENDING")] * 3
        waited += DEFAULT[attempt - 1]
        await make_due_now(app, endpoint["id"])
    assert waited / 60 > 35  # and the next retry, at 2 h, is past the hour
    back = await Receiver(port=receiver.port).start()  # up again, same address
    try:
        await deliver(default)
        got = sorted(json.loads(r.body)["data"]["object"]["id"] for r in back.requests)
        assert got == sorted(made)  # every event, once
        rows = await db_execute(
            app, "SELECT status FROM webhook_deliveries WHERE endpoint_id = :e", e=endpoint["id"]
        )
        assert [r[0] for r in rows] == ["SUCCEEDED"] * 3
    finally:
        await back.stop()


async def test_the_dashboard_shows_an_intents_webhook_deliveries(
    app, client: httpx.AsyncClient, merchant: Merchant, deliver: Deliver
) -> None:
    import re

    receiver = await Receiver().start()
    try:
        await add_endpoint(client, merchant, receiver.url, ["payment_intent.created"])
        iid = (await create_intent(client, merchant))["id"]
        await deliver()
    finally:
        await receiver.stop()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as browser:
        login = await browser.get("/dashboard")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf
        r = await browser.post(
            "/dashboard/login", data={"csrf": csrf.group(1), "key": merchant.key}
        )
        page = await browser.get(f"/dashboard/intents/{iid}")
    assert page.status_code == 200
    table = page.text.split('id="deliveries"', 1)[1].split("</table>", 1)[0]
    assert "payment_intent.created" in table and "200 delivered" in table
    assert r.status_code in (200, 302, 303)
