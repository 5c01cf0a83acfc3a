"""The Python SDK (escrowgate.client) against a real server process: the README's
example (read from the README, so it cannot drift), every resource, the typed
errors, idempotency, pagination, the async client, and a real signed webhook
delivery verified with the SDK's helpers."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from escrowgate.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    InvalidRequestError,
    SignatureVerificationError,
    construct_event,
    verify,
    verify_finternet_signature,
)
from escrowgate.payments.wire import IntentData, IntentEnvelope, MilestoneEnvelope, OrderEnvelope
from tests.e2e.server import BIN, Deployment
from tests.support.driver import GOOD_CARD, milestones_url, payment_url

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CREATED_LINE = re.compile(r"^Milestone (\d+) created: (\S+)$")


def readme_block(marker: str) -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    found = re.search(rf"<!-- example: {marker} -->\n```\w*\n(.*?)\n```", text, re.S)
    assert found, f"README has no `{marker}` example"
    return found.group(1)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    d = Deployment()
    try:
        d.migrate()
        d.spawn()
        d.wait_ready()
        yield d
    finally:
        d.stop()


@pytest.fixture
def worker(deployment: Deployment, tmp_path: Path) -> Iterator[Path]:
    """On PostgreSQL the worker is its own process (`escrowgate worker`), as deployed;
    on SQLite the API process runs it. Yields the log to show when a delivery fails."""
    log = tmp_path / "worker.log"
    if deployment.database_url.startswith("sqlite"):
        yield deployment.log
        return
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "escrowgate"), "worker"],
            env=deployment.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def key(deployment: Deployment) -> str:
    """A fresh merchant per test: lists and balances start empty."""
    return deployment.create_merchant_key("SDK Studio")[1]


@pytest.fixture
def client(deployment: Deployment, key: str) -> Iterator[Client]:
    with Client(key, deployment.base_url) as c:
        yield c


def _intent(client: Client, **kw: object) -> IntentEnvelope:
    fields: dict[str, object] = {
        "amount": "1000.00",
        "currency": "USDC",
        "type": "DELIVERY_VS_PAYMENT",
        "settlement_method": "OFF_RAMP_MOCK",
        "settlement_destination": "test_account_123",
        "metadata": {"releaseType": "MILESTONE_LOCKED"},
    }
    fields.update(kw)
    return client.payment_intents.create(**fields)  # type: ignore[arg-type]


def _pay(deployment: Deployment, intent_id: str) -> None:
    r = httpx.post(
        deployment.base_url + payment_url(intent_id), json={"card": GOOD_CARD}, timeout=10
    )
    assert r.status_code == 200, r.text


def test_the_readme_example_creates_the_three_milestones(deployment, key, capsys, monkeypatch):
    monkeypatch.setenv("FINTERNET_API_KEY", key)
    monkeypatch.setenv("ESCROWGATE_URL", deployment.base_url)
    namespace: dict[str, object] = {}
    exec(compile(readme_block("python-sdk"), "README.md", "exec"), namespace)  # noqa: S102
    lines = capsys.readouterr().out.strip().splitlines()
    printed = [(int(m.group(1)), m.group(2)) for m in map(CREATED_LINE.match, lines) if m]
    assert [i for i, _ in printed] == [0, 1, 2], lines
    intent = namespace["intent"]
    assert isinstance(intent, IntentEnvelope) and intent.status == "INITIATED"
    with Client(key, deployment.base_url) as client:
        order = client.conditional_payments.get(intent.id)
    assert isinstance(order, OrderEnvelope)
    assert order.data.releaseType == "MILESTONE_LOCKED"
    got = [
        (m.milestoneIndex, m.id, m.amount, m.percentage, m.status) for m in order.data.milestones
    ]
    assert got == [
        (0, printed[0][1], "200.00", 20, "PENDING"),
        (1, printed[1][1], "500.00", 50, "PENDING"),
        (2, printed[2][1], "300.00", 30, "PENDING"),
    ]


def test_errors_carry_type_code_message_param_and_request_id(deployment, client, key):
    intent = _intent(client)
    client.milestones.create(intent.id, milestone_index=0, amount="200.00")
    with pytest.raises(InvalidRequestError) as refused:
        client.milestones.create(intent.id, milestone_index=0, amount="200.00")
    raw = httpx.post(
        deployment.base_url + milestones_url(intent.id),
        headers={"X-API-Key": key},
        json={"milestoneIndex": 0, "amount": "200.00"},
        timeout=10,
    )
    envelope = raw.json()["error"]
    err = refused.value
    assert (err.status, err.code, err.message) == (
        400,
        "invalid_request",
        "Milestone with index 0 already exists",
    )
    assert err.param == envelope.get("param")
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert err.request_id != raw.headers["request-id"]

    with pytest.raises(InvalidRequestError) as missing:
        client.payment_intents.get("intent_" + "0" * 44)
    assert (missing.value.status, missing.value.code, missing.value.param) == (
        404,
        "resource_missing",
        "intentId",
    )
    with pytest.raises(InvalidRequestError) as bad_field:
        _intent(client, amount="-5")
    assert (bad_field.value.status, bad_field.value.param) == (400, "amount")

    with (
        Client("sk_test_" + "x" * 40, deployment.base_url) as stranger,
        pytest.raises(AuthenticationError) as denied,
    ):
        stranger.payment_intents.get(intent.id)
    assert (denied.value.status, denied.value.code, denied.value.message) == (
        401,
        "invalid_api_key",
        "Invalid API key",
    )


def test_idempotency_keys(client):
    first = _intent(client, idempotency_key="order-1001")
    again = _intent(client, idempotency_key="order-1001")
    assert again.id == first.id  # the server replayed the first answer
    assert _intent(client).id != _intent(client).id  # a new key per call


def test_lists_are_iterators_over_every_page(client):
    made = [_intent(client, description=f"intent {i}").id for i in range(5)]
    listed = list(client.payment_intents.list(page_size=2))  # three pages
    assert all(isinstance(i, IntentData) for i in listed)
    assert [i.id for i in listed] == list(reversed(made))  # newest first
    assert [i.id for i in client.payment_intents.list(status="CANCELED")] == []
    client.payment_intents.cancel(made[0])
    assert [i.id for i in client.payment_intents.list(status="CANCELED")] == [made[0]]


def test_the_milestone_lifecycle_refunds_disputes_account_and_events(deployment, client):
    intent = _intent(client)
    m0 = client.milestones.create(
        intent.id, milestone_index=0, amount="300.00", description="Kickoff", percentage=30
    )
    client.milestones.create(intent.id, milestone_index=1, amount="700.00")
    assert isinstance(m0, MilestoneEnvelope) and m0.data.status == "PENDING"
    assert [m.milestoneIndex for m in client.milestones.list(intent.id)] == [0, 1]
    _pay(deployment, intent.id)
    done = client.milestones.complete(intent.id, m0.id, completed_by="merchant")
    assert (done.status, done.data.status) == ("completed", "COMPLETED")
    assert client.milestones.get(intent.id, m0.id).data.completedBy == "merchant"
    order = client.test_helpers.advance_clock(intent.id, seconds=8 * 86400)
    assert [m.status for m in order.data.milestones] == ["RELEASED", "PENDING"]

    refund = client.refunds.create(intent.id, amount="100.00", reason="requested_by_customer")
    assert (refund.object, refund.amount, refund.status) == ("refund", "100.00", "succeeded")
    dispute = client.disputes.create(intent.id, reason="Late delivery", raised_by="merchant")
    assert (dispute.status, dispute.data.raisedBy, dispute.data.reason) == (
        "raised",
        "merchant",
        "Late delivery",
    )
    resolved = client.disputes.resolve(intent.id, resolution="BUYER_WON")
    assert resolved.status == "resolved" and resolved.data.resolution == "BUYER_WON"

    balance = client.account.balance()
    assert balance.object == "balance" and balance.data.currency == "USDC"
    entries = list(client.account.ledger_entries(payment_intent_id=intent.id, page_size=2))
    assert sum(int(e.amount.replace(".", "")) for e in entries) == 0  # balanced legs
    assert {e.transactionType for e in entries} >= {"FUND", "RELEASE", "REFUND"}

    created = list(client.events.list(type="payment_intent.created"))
    assert [e.data.object["id"] for e in created] == [intent.id]
    assert client.events.get(created[0].id).type == "payment_intent.created"


class _Hooks(BaseHTTPRequestHandler):
    received: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self) -> None:  # noqa: N802 (the handler's protocol)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).received.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_real_webhook_delivery_verifies_with_the_helpers(client, worker):
    _Hooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        endpoint = client.webhook_endpoints.create(
            url=url, enabled_events=["payment_intent.created"], description="SDK test"
        )
        secret = endpoint.data.secret
        assert secret is not None and secret.startswith("whsec_")
        assert [e.id for e in client.webhook_endpoints.list()] == [endpoint.id]
        intent = _intent(client)
        deadline = time.monotonic() + 60  # a bounded wait for the worker, not a timing check
        while not _Hooks.received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _Hooks.received, "no delivery arrived: " + worker.read_text(errors="replace")[-3000:]
        body, headers = _Hooks.received[0]
        event = construct_event(body, headers, secret)
        assert event.type == "payment_intent.created"
        assert event.data.object["id"] == intent.id
        verify_finternet_signature(body, headers["finternet-signature"], secret)
        with pytest.raises(SignatureVerificationError):
            verify(body.replace(b"payment_intent", b"payment_intenT"), headers, secret)
        with pytest.raises(SignatureVerificationError):
            verify_finternet_signature(body + b" ", headers["finternet-signature"], secret)
        # The receiver answers before the worker records the attempt: wait (bounded).
        attempts = list(client.webhook_endpoints.deliveries(endpoint.id))
        while not attempts and time.monotonic() < deadline:
            time.sleep(0.1)
            attempts = list(client.webhook_endpoints.deliveries(endpoint.id))
        assert [(a.eventId, a.succeeded, a.httpStatus) for a in attempts] == [(event.id, True, 200)]

        rotated = client.webhook_endpoints.rotate_secret(endpoint.id)
        assert rotated.data.secret not in (None, secret)
        updated = client.webhook_endpoints.update(endpoint.id, description="renamed")
        assert updated.data.description == "renamed"
        assert client.webhook_endpoints.get(endpoint.id).data.description == "renamed"
        redelivery = client.events.redeliver(event.id, endpoint_id=endpoint.id)
        assert [d.endpointId for d in redelivery.deliveries] == [endpoint.id]
        assert client.webhook_endpoints.delete(endpoint.id).deleted is True
        assert list(client.webhook_endpoints.list()) == []
    finally:
        server.shutdown()
        server.server_close()


def test_the_async_client(deployment, key):
    async def run() -> tuple[str, list[str], list[int]]:
        async with AsyncClient(key, deployment.base_url) as client:
            intent = await client.payment_intents.create(
                amount="90.00",
                currency="USDC",
                type="DELIVERY_VS_PAYMENT",
                metadata={"releaseType": "MILESTONE_LOCKED"},
            )
            for index in range(3):
                await client.milestones.create(intent.id, milestone_index=index, amount="30.00")
            listed = [i.id async for i in client.payment_intents.list(page_size=1)]
            indexes = [m.milestoneIndex async for m in client.milestones.list(intent.id)]
            got = await client.payment_intents.get(intent.id)
            return got.id, listed, indexes

    intent_id, listed, indexes = asyncio.run(run())
    assert listed == [intent_id]
    assert indexes == [0, 1, 2]
