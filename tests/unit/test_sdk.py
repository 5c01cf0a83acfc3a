"""The SDK's own mechanics, over real sockets (a scripted HTTP server on 127.0.0.1):
the Idempotency-Key on every POST, kept across retries; what is retried (connection
errors, 409, 5xx) and what is not; the backoff's waits (recorded, never slept); the
exception class per error type; webhook verification with the server's own signing
code; the async resources being the sync ones made async; and a client's import
loading no server code."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from escrowgate.client import (
    APIConnectionError,
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    IdempotencyError,
    InvalidRequestError,
    RateLimitError,
    RetryPolicy,
    SignatureVerificationError,
    construct_event,
    unasync,
    verify,
    verify_finternet_signature,
)
from escrowgate.client.errors import error_from_answer
from escrowgate.webhooks.signing import derive_secret, signature_headers

EXAMPLES = json.loads(
    resources.files("escrowgate").joinpath("openapi_examples.json").read_text("utf-8")
)
INTENT = EXAMPLES["createPaymentIntent"]["responses"]["201"]
INTENT_BODY = {"amount": "1000.00", "currency": "USDC", "type": "DELIVERY_VS_PAYMENT"}


def envelope(code: str, message: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": type_, **extra}}


@dataclass
class Script:
    """Answers in order (status, body, headers); the last one repeats."""

    answers: list[tuple[int, Any, dict[str, str]]]
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    script: Script

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.script.seen.append((self.command, self.path, dict(self.headers.items()), body))
        answers = self.script.answers
        status, payload, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"request-id": f"req_{len(self.script.seen)}", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815 (the handler's protocol)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script(answers=[])
    handler = type("Handler", (_Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def recording_client(url: str, waits: list[float], **kw: Any) -> Client:
    policy = RetryPolicy(max_retries=kw.pop("max_retries", 2), random=lambda: 1.0)
    return Client("sk_test_abc", url, retry=policy, sleep=waits.append, **kw)


def keys(script: Script) -> list[str | None]:
    return [headers.get("Idempotency-Key") for _, _, headers, _ in script.seen]


def test_a_post_is_retried_on_5xx_and_409_with_the_same_key(server):
    url, script = server
    script.answers = [
        (503, envelope("database_unavailable", "database unavailable", "api_error"), {}),
        (409, envelope("idempotency_key_in_use", "still running", "idempotency_error"), {}),
        (201, INTENT, {}),
    ]
    waits: list[float] = []
    with recording_client(url, waits) as client:
        intent = client.payment_intents.create(**INTENT_BODY)  # type: ignore[arg-type]
    assert intent.id == INTENT["id"] and intent.data.amount == "1000.00"
    assert [(m, p) for m, p, _, _ in script.seen] == [("POST", "/v1/payment-intents")] * 3
    sent = keys(script)
    assert len(set(sent)) == 1 and sent[0] is not None and sent[0].startswith("sdk_")
    assert {json.loads(body)["amount"] for _, _, _, body in script.seen} == {"1000.00"}
    assert waits == [0.5, 1.0]  # base 0.5 s, doubled; the jitter's draw is 1.0 here
    assert all(h["X-API-Key"] == "sk_test_abc" for _, _, h, _ in script.seen)


def test_each_call_has_its_own_key_unless_given(server):
    url, script = server
    script.answers = [(201, INTENT, {})]
    with recording_client(url, []) as client:
        client.payment_intents.create(**INTENT_BODY)  # type: ignore[arg-type]
        client.payment_intents.create(**INTENT_BODY)  # type: ignore[arg-type]
        client.payment_intents.create(**INTENT_BODY, idempotency_key="order-1")  # type: ignore[arg-type]
        script.answers = [(200, INTENT, {})]
        client.payment_intents.get(INTENT["id"])
    sent = keys(script)
    assert sent[0] != sent[1] and sent[2] == "order-1" and sent[3] is None  # GET: no key


def test_the_jitter_and_retry_after(server):
    url, script = server
    busy = envelope("concurrent_request_conflict", "retry it", "api_error")
    script.answers = [(409, busy, {"Retry-After": "3"}), (500, busy, {}), (201, INTENT, {})]
    waits: list[float] = []
    policy = RetryPolicy(max_retries=2, base=0.5, cap=8.0, random=lambda: 0.25)
    with Client("sk_test_abc", url, retry=policy, sleep=waits.append) as client:
        client.payment_intents.create(**INTENT_BODY)  # type: ignore[arg-type]
    assert waits == [3.0, 0.25]  # Retry-After when longer; else a quarter of 2 * 0.5
    assert RetryPolicy(base=1.0, cap=4.0, random=lambda: 1.0).delay(10) == 4.0


def test_retries_run_out_with_the_last_answer_raised(server):
    url, script = server
    script.answers = [
        (503, envelope("database_unavailable", "database unavailable", "api_error"), {})
    ]
    waits: list[float] = []
    with recording_client(url, waits, max_retries=3) as client, pytest.raises(APIError) as err:
        client.payment_intents.create(**INTENT_BODY)  # type: ignore[arg-type]
    assert len(script.seen) == 4 and len(set(keys(script))) == 1
    assert waits == [0.5, 1.0, 2.0]
    assert (err.value.status, err.value.code, err.value.message) == (
        503,
        "database_unavailable",
        "database unavailable",
    )
    assert err.value.request_id == "req_4"


def test_a_refusal_is_not_retried(server):
    url, script = server
    script.answers = [
        (
            400,
            envelope(
                "invalid_request",
                "Milestone with index 0 already exists",
                "invalid_request_error",
                param="milestoneIndex",
            ),
            {},
        )
    ]
    waits: list[float] = []
    with recording_client(url, waits) as client, pytest.raises(InvalidRequestError) as err:
        client.milestones.create("intent_1", milestone_index=0, amount="1.00")
    assert len(script.seen) == 1 and waits == []
    assert script.seen[0][1] == "/v1/payment-intents/intent_1/escrow/milestones"
    assert json.loads(script.seen[0][3]) == {"milestoneIndex": 0, "amount": "1.00"}
    e = err.value
    assert (e.status, e.code, e.message, e.param, e.request_id) == (
        400,
        "invalid_request",
        "Milestone with index 0 already exists",
        "milestoneIndex",
        "req_1",
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_errors_are_retried_then_raised():
    waits: list[float] = []
    url = f"http://127.0.0.1:{_closed_port()}"
    with recording_client(url, waits) as client, pytest.raises(APIConnectionError) as err:
        client.payment_intents.get("intent_1")
    assert waits == [0.5, 1.0]
    assert "ConnectError" in str(err.value)


@pytest.mark.parametrize(
    ("status", "type_", "cls"),
    [
        (400, "invalid_request_error", InvalidRequestError),
        (404, "invalid_request_error", InvalidRequestError),
        (401, "authentication_error", AuthenticationError),
        (403, "authentication_error", AuthenticationError),
        (409, "idempotency_error", IdempotencyError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", APIError),
    ],
)
def test_one_exception_class_per_error_type(status, type_, cls):
    err = error_from_answer(status, envelope("some_code", "Some message", type_), "req_9")
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.param, err.request_id) == (
        status,
        "some_code",
        "Some message",
        None,
        "req_9",
    )


def test_rate_limit_retry_after_and_an_answer_that_is_not_the_envelope():
    limited = error_from_answer(
        429, envelope("rate_limit_exceeded", "Slow down", "rate_limit_error", retryAfter=12), None
    )
    assert isinstance(limited, RateLimitError) and limited.retry_after == 12
    odd = error_from_answer(502, None, None)
    assert type(odd) is APIError and odd.code == "unexpected_response"
    assert odd.message == "Unexpected answer with HTTP status 502"


async def test_the_async_client_retries_with_the_same_key(server):
    url, script = server
    script.answers = [
        (500, envelope("internal_error", "An internal error occurred.", "api_error"), {}),
        (201, INTENT, {}),
    ]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async def run() -> str:
        policy = RetryPolicy(random=lambda: 1.0)
        async with AsyncClient("sk_test_abc", url, retry=policy, sleep=record) as client:
            return (await client.payment_intents.create(**INTENT_BODY)).id  # type: ignore[arg-type]

    assert await run() == INTENT["id"]
    assert waits == [0.5] and len(set(keys(script))) == 1 and len(script.seen) == 2


def test_pagination_follows_has_more(server):
    url, script = server
    item = EXAMPLES["listPaymentIntents"]["responses"]["200"]["data"][0]
    second = dict(item, id=item["id"][:-1] + "x")
    page = {"object": "list", "url": "/v1/payment-intents"}
    script.answers = [
        (200, {**page, "data": [item], "hasMore": True}, {}),
        (200, {**page, "data": [second], "hasMore": False}, {}),
    ]
    with recording_client(url, []) as client:
        got = [i.id for i in client.payment_intents.list(status="SUCCEEDED", page_size=1)]
    assert got == [item["id"], second["id"]]
    paths = [p for _, p, _, _ in script.seen]
    assert paths == [
        "/v1/payment-intents?status=SUCCEEDED&limit=1",
        f"/v1/payment-intents?status=SUCCEEDED&limit=1&starting_after={item['id']}",
    ]


# --- webhooks: signed by the server's own code, verified by the SDK's helpers -------

EVENT = EXAMPLES["getEvent"]["responses"]["200"]


def _signed(secrets_: list[str]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(EVENT, separators=(",", ":")).encode()
    now = int(datetime.now(tz=UTC).timestamp())
    return body, signature_headers(secrets_, body, "msg_1", now)


def test_webhook_helpers_accept_the_servers_signatures_and_refuse_others():
    secret = derive_secret("test-key", "we_1", 1)
    old = derive_secret("test-key", "we_1", 0)
    body, headers = _signed([secret, old])  # during a rotation: both sign
    for each in (secret, old):
        event = construct_event(body, headers, each)
        assert event.id == EVENT["id"] and event.type == EVENT["type"]
        verify_finternet_signature(body, headers["finternet-signature"], each)
    other = derive_secret("test-key", "we_2", 1)
    with pytest.raises(SignatureVerificationError):
        verify(body, headers, other)
    with pytest.raises(SignatureVerificationError):
        verify_finternet_signature(body, headers["finternet-signature"], other)
    with pytest.raises(SignatureVerificationError):
        verify(body[:-1] + b" ", headers, secret)


def test_an_old_webhook_is_refused():
    secret = derive_secret("test-key", "we_1", 1)
    body = json.dumps(EVENT).encode()
    stale = datetime.fromtimestamp(int(datetime.now(tz=UTC).timestamp()) - 3600, tz=UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(stale.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", stale, body.decode()),
    }
    with pytest.raises(SignatureVerificationError):
        verify(body, headers, secret)


# --- the package itself -------------------------------------------------------------


def test_the_async_resources_are_the_sync_ones_made_async():
    """resources_async.py is generated: `python -m escrowgate.client.unasync`."""
    here = resources.files("escrowgate.client")
    assert here.joinpath("resources_async.py").read_text("utf-8") == unasync.render()


def test_a_client_import_loads_no_server_code():
    code = "import sys, escrowgate.client; print(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert {"httpx", "pydantic", "escrowgate"} <= loaded
    assert loaded.isdisjoint(
        {"sqlalchemy", "fastapi", "starlette", "alembic", "asyncpg", "aiosqlite", "uvicorn"}
    )
