"""Edge cases found in review: each was a real gap once."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from tests.support.driver import (
    API,
    PROOF,
    advance,
    assert_error,
    cancel_url,
    create_intent,
    delivery_proof_url,
    escrow,
    intents_url,
    pay_by_card,
    payment_routes,
    public_intent_url,
)


async def test_delivery_proof_after_the_deadline_is_refused(client, app, settings, make_merchant):
    m = await make_merchant()
    iid = (
        await create_intent(
            client, m, deliveryPeriod=3600, metadata={"releaseType": "DELIVERY_PROOF"}
        )
    )["id"]
    assert (await pay_by_card(client, iid)).status_code == 200
    # Move the clock past the deadline without letting the worker run.
    from escrowgate.models import ConditionalPayment, Job

    async with app.state.session_factory() as s:
        order = (
            await s.execute(
                ConditionalPayment.__table__.select().where(
                    ConditionalPayment.payment_intent_id == iid
                )
            )
        ).first()
        await s.execute(
            ConditionalPayment.__table__.update()
            .where(ConditionalPayment.id == order.id)
            .values(clock_offset=3601)
        )
        await s.execute(
            Job.__table__.update().where(Job.order_id == order.id).values(due_at=Job.due_at - 3601)
        )
        await s.commit()
    r = await client.post(delivery_proof_url(iid), json=PROOF, headers=m.headers)
    assert_error(
        r,
        400,
        "invalid_status",
        "Cannot submit delivery proof: the delivery deadline has passed; "
        "the payer is being refunded",
    )
    assert (await escrow(client, m, iid))["orderStatus"] == "PENDING"
    order = await advance(client, m, iid, 1)
    assert order["orderStatus"] == "CANCELLED" and order["refundedAmount"] == "1000.00"


async def test_zero_dispute_window_is_rejected_at_creation(client, merchant):
    r = await client.post(
        intents_url(),
        headers=merchant.headers,
        json={
            "amount": "10.00",
            "currency": "USDC",
            "type": "DELIVERY_VS_PAYMENT",
            "settlementMethod": "OFF_RAMP_MOCK",
            "settlementDestination": "acct",
            "metadata": {"releaseType": "MILESTONE_LOCKED", "disputeWindow": "0"},
        },
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "metadata.disputeWindow must be greater than 0",
        param="metadata.disputeWindow",
    )


async def test_settled_intent_shows_settlement_phase_completed(client, make_merchant):
    m = await make_merchant()
    iid = (await create_intent(client, m, type="CONDITIONAL", metadata=None))["id"]
    r = await pay_by_card(client, iid)
    assert r.json()["status"] == "SETTLED"
    phases = {p["phase"]: p["status"] for p in r.json()["data"]["phases"]}
    assert phases["SETTLEMENT"] == "COMPLETED"


async def test_public_page_shows_release_terms(client, merchant):
    iid = (
        await create_intent(
            client,
            merchant,
            autoRelease=True,
            metadata={"releaseType": "MILESTONE_LOCKED", "disputeWindow": "86400"},
        )
    )["id"]
    data = (await client.get(public_intent_url(iid))).json()["data"]
    assert data["releaseTerms"] == {
        "releaseType": "MILESTONE_LOCKED",
        "autoRelease": True,
        "disputeWindow": "86400",
        "timeLockUntil": None,
        "deliveryPeriod": 2592000,
    }
    assert "settlementDestination" not in data and "metadata" not in data


async def test_openapi_is_truthful_about_errors(client):
    doc = (await client.get("/openapi.json")).json()
    for path, ops in doc["paths"].items():
        assert path.startswith(API + "/")
        for method, op in ops.items():
            codes = set(op["responses"])
            assert "422" not in codes, (method, path)
            assert ("409" in codes) == (method == "post"), (method, path)
            # Every route is rate limited (keyless ones per client address) and answers
            # 503 when the database is down or not migrated (test_hardening_operability.py,
            # e2e/test_operability.py).
            assert {"429", "503"} <= codes, (method, path)
            if "/public/" in path:
                # No key: no 401, except the payer's routes, which take the client secret.
                secret = any(p["name"] == "client_secret" for p in op.get("parameters", []))
                assert ("401" in codes) == secret, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


@pytest.fixture
async def fragile_client(app, monkeypatch):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_an_internal_fault_is_a_500_envelope_with_nothing_internal(
    fragile_client, merchant, monkeypatch
):
    async def boom(*_a, **_k):
        raise RuntimeError("secret table name payment_intents_xyz")

    monkeypatch.setattr(payment_routes.intents, "create_intent", boom)
    r = await fragile_client.post(
        intents_url(),
        headers=merchant.headers,
        json={
            "amount": "1.00",
            "currency": "USDC",
            "type": "CONDITIONAL",
            "settlementMethod": "OFF_RAMP_MOCK",
            "settlementDestination": "x",
        },
    )
    assert_error(r, 500, "internal_error", type_="api_error")
    assert "secret" not in r.text and "payment_intents_xyz" not in r.text


async def test_a_database_conflict_is_a_retryable_409(fragile_client, merchant, monkeypatch):
    class Deadlock(Exception):
        sqlstate = "40P01"

    async def conflict(*_a, **_k):
        raise OperationalError("UPDATE ...", {}, Deadlock("deadlock detected"))

    monkeypatch.setattr(payment_routes.intents, "cancel_intent", conflict)
    r = await fragile_client.post(cancel_url("intent_x"), headers=merchant.headers)
    assert_error(
        r,
        409,
        "concurrent_request_conflict",
        "The request conflicted with a concurrent request and was rolled back; retry it",
        type_="api_error",
    )
    assert r.headers["retry-after"] == "1"
