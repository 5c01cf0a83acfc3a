"""The hardening items a review found untested: the keyless rate limit (API and the
hosted page), ids on the webhook routes, server-error and job logs, /ready's
failing checks, the dashboard cookie over https, and a bounded echo."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from escrowgate.app import create_app
from tests.support.driver import (
    advance_clock_url,
    assert_error,
    complete,
    create_intent,
    event_redeliver_url,
    intents_url,
    milestones_url,
    pay_by_card,
    payment_url,
    public_intent_url,
    rotate_secret_url,
    run_worker,
    webhook_deliveries_url,
    webhook_endpoint_url,
    webhook_endpoints_url,
)
from tests.support.windows import away_from_window_edge


def client_for(app: Any, base: str = "http://t") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


@pytest.fixture
async def fragile_client(app: Any) -> Any:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# --- the keyless routes are limited per client address ------------------------------


async def test_keyless_routes_and_the_payment_page_are_rate_limited(
    settings, make_merchant, client
):
    limited = create_app(
        settings.model_copy(update={"rate_limit_enabled": True, "rate_limit_public_per_minute": 3})
    )
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    await away_from_window_edge(margin=10)  # the 4th and the next two must share a window
    async with client_for(limited) as c:
        answers = [await c.get(public_intent_url(iid)) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[0].headers["x-ratelimit-limit"] == "3"
        assert answers[2].headers["x-ratelimit-remaining"] == "0"
        err = assert_error(answers[3], 429, "rate_limit_exceeded", type_="rate_limit_error")
        assert re.fullmatch(r"Rate limit exceeded\. Retry after \d+ seconds\.", err["message"])
        assert int(answers[3].headers["retry-after"]) >= 1
        # The hosted page shares the count (the same capability, the same address).
        r = await c.get(f"/pay/{iid}")
        assert r.status_code == 429
        # A POST is refused before it does anything.
        r = await c.post(payment_url(iid), json={"card": {}})
        assert r.status_code == 429
    assert (await client.get(public_intent_url(iid))).json()["status"] == "INITIATED"


# --- ids on the webhook routes -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", webhook_endpoint_url("we_%00")),
        ("POST", webhook_endpoint_url("we_%00")),
        ("DELETE", webhook_endpoint_url("we_%00")),
        ("GET", webhook_deliveries_url("we_%00")),
        ("POST", rotate_secret_url("we_%00")),
        ("POST", event_redeliver_url("evt_%00")),
    ],
)
async def test_webhook_routes_answer_404_for_an_impossible_id(client, merchant, method, path):
    r = await client.request(
        method, path, json={} if method == "POST" else None, headers=merchant.headers
    )
    err = assert_error(r, 404, "resource_missing")
    assert "\x00" not in err["message"]


async def test_webhook_ids_malformed_or_too_long_are_a_short_400(client, merchant):
    r = await client.get(webhook_endpoint_url("we_!!"), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", "Invalid webhook endpoint ID format", param="id")
    r = await client.get(webhook_endpoint_url("we_" + "x" * 5000), headers=merchant.headers)
    assert_error(r, 400, "invalid_request", "Invalid webhook endpoint ID format", param="id")
    assert len(r.text) < 400
    r = await client.post(
        webhook_endpoints_url(),
        json={"url": "http://127.0.0.1:9/hook", "enabledEvents": ["x" * 5000]},
        headers=merchant.headers,
    )
    assert_error(
        r, 400, "invalid_request", f"Unknown event type: {'x' * 40}...", param="enabledEvents"
    )


# --- traceable failures ----------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, **kw: Any) -> None:
        self.records.append((event, kw))

    info = warning = error


async def test_a_500_is_logged_with_request_id_route_exception_and_trace(
    fragile_client, merchant, monkeypatch
):
    import escrowgate.api.edge as edge
    import escrowgate.payments.routes as routes

    recorder = Recorder()
    monkeypatch.setattr(edge, "errors_log", recorder)

    async def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(routes.intents, "create_intent", boom)
    r = await fragile_client.post(
        intents_url(),
        json={"amount": "1.00", "currency": "USDC", "type": "CONDITIONAL"},
        headers={**merchant.headers, "X-Request-Id": "trace-500-abcdef"},
    )
    assert r.status_code == 500 and r.headers["request-id"] == "trace-500-abcdef"
    ((event, fields),) = recorder.records
    assert event == "server_error"
    assert fields["request_id"] == "trace-500-abcdef"
    assert fields["route"] == "/payment-intents" and fields["method"] == "POST"
    assert fields["error_type"] == "RuntimeError" and fields["error"] == "the disk is on fire"
    assert isinstance(fields["exc_info"], RuntimeError)
    assert fields["exc_info"].__traceback__ is not None


def test_server_errors_are_logged_whatever_the_level(capsys):
    from escrowgate.logging_setup import configure_logging, unfiltered_logger

    configure_logging("CRITICAL")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        unfiltered_logger("escrowgate.http").error("server_error", exc_info=exc)
    out = capsys.readouterr().out
    assert '"event": "server_error"' in out and "Traceback" in out and "ValueError: boom" in out
    configure_logging("WARNING")


async def test_the_worker_logs_each_job(client, app, make_merchant, monkeypatch):
    import escrowgate.worker.jobs as jobs

    recorder = Recorder()
    monkeypatch.setattr(jobs, "log", recorder)
    m = await make_merchant()
    iid = (await create_intent(client, m))["id"]
    r = await client.post(
        milestones_url(iid),
        json={"milestoneIndex": 0, "amount": "100.00"},
        headers=m.headers,
    )
    mid = r.json()["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    await complete(client, m, iid, mid)
    await client.post(
        advance_clock_url(iid),
        json={"seconds": 604_800},
        headers=m.headers,
    )
    await run_worker(app)
    jobs_logged = [f for e, f in recorder.records if e == "job" and f.get("target_id") == mid]
    assert jobs_logged, recorder.records
    (job,) = jobs_logged
    assert job["kind"] == "milestone_release" and job["outcome"] == "done"
    assert job["attempt"] == 1 and job["duration_ms"] >= 0 and job["order_id"]


# --- /ready tells the truth -------------------------------------------------------------


async def test_ready_is_503_without_a_worker_heartbeat(settings):
    app = create_app(settings.model_copy(update={"run_worker_in_process": True}))
    async with client_for(app) as c:  # no lifespan: the in-process worker never starts
        r = await c.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready" and body["checks"]["worker"] == "no heartbeat"
    assert body["checks"]["migrations"]["status"] == "ok"


async def test_ready_is_503_when_the_database_is_unreachable(settings):
    app = create_app(
        settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:9/nowhere"})
    )
    async with client_for(app) as c:
        r = await c.get("/ready")
        api = await c.get(intents_url(), headers={"X-API-Key": "sk_test_" + "a" * 32})
    assert r.status_code == 503 and r.json()["checks"]["database"].startswith("unreachable")
    assert_error(api, 503, "database_unavailable", "database unavailable", type_="api_error")


# --- the dashboard's cookie over https ----------------------------------------------------


async def test_the_dashboard_cookie_is_secure_over_https(app, merchant):
    async with client_for(app, "https://shop.example") as c:
        page = await c.get("/dashboard")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        r = await c.post(
            "/dashboard/login",
            data={"csrf": csrf.group(1), "key": merchant.key},
            follow_redirects=False,
        )
    cookie = r.headers["set-cookie"]
    assert r.status_code in (302, 303), r.text
    assert (
        "Secure" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    assert merchant.key not in cookie
