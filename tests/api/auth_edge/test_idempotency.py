"""Idempotency-Key exactly as API.md 1."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select, text, update

from escrowgate.api import idempotency
from escrowgate.models import IdempotencyRecord, PaymentIntent
from tests.support.driver import (
    API_ALIAS,
    ORDER_ALIAS,
    assert_error,
    dispute_url,
    intent_body,
    intents_url,
    pay_by_card,
    public_intent_url,
    purge_idempotency_records,
)


async def count_intents(app, merchant_id):
    async with app.state.session_factory() as s:
        return (
            await s.execute(
                select(func.count())
                .select_from(PaymentIntent)
                .where(PaymentIntent.merchant_id == merchant_id)
            )
        ).scalar_one()


async def test_replay_returns_first_answer_without_new_effect(client, app, merchant):
    headers = {**merchant.headers, "Idempotency-Key": "order-42"}
    first = await client.post(intents_url(), json=intent_body(), headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    second = await client.post(intents_url(), json=intent_body(), headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert await count_intents(app, merchant.id) == 1


async def test_same_key_other_body_is_rejected(client, app, merchant):
    headers = {**merchant.headers, "Idempotency-Key": "k-reuse"}
    assert (
        await client.post(intents_url(), json=intent_body(), headers=headers)
    ).status_code == 201
    r = await client.post(intents_url(), json=intent_body(amount="5.00"), headers=headers)
    assert_error(
        r,
        400,
        "idempotency_key_reused",
        "Keys for idempotent requests can only be used with the same parameters they "
        "were first used with",
        type_="idempotency_error",
        param="Idempotency-Key",
    )
    assert await count_intents(app, merchant.id) == 1


async def test_same_json_in_another_layout_is_the_same_body(client, merchant):
    headers = {
        **merchant.headers,
        "Idempotency-Key": "k-layout",
        "Content-Type": "application/json",
    }
    import json

    body = intent_body()
    a = await client.post(intents_url(), content=json.dumps(body), headers=headers)
    b = await client.post(
        intents_url(),
        content=json.dumps(dict(reversed(body.items())), indent=2),
        headers=headers,
    )
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]


async def test_retry_through_an_alias_path_replays(client, app, merchant):
    """/api/v1 and /v1 (and /conditional-payment and /escrow) are one operation: a
    client retrying through the other spelling gets the first answer, not a 400."""
    headers = {**merchant.headers, "Idempotency-Key": "k-alias"}
    first = await client.post(intents_url(), json=intent_body(), headers=headers)
    again = await client.post(intents_url(prefix=API_ALIAS), json=intent_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert await count_intents(app, merchant.id) == 1
    assert (await pay_by_card(client, first.json()["id"])).status_code == 200
    body = {"reason": "late", "raisedBy": "payer"}
    iid = first.json()["id"]
    headers = {**merchant.headers, "Idempotency-Key": "k-alias-2"}
    a = await client.post(dispute_url(iid, spelling=ORDER_ALIAS), json=body, headers=headers)
    b = await client.post(dispute_url(iid, prefix=API_ALIAS), json=body, headers=headers)
    assert a.status_code == b.status_code == 200, a.text
    assert b.headers["idempotent-replayed"] == "true" and b.json() == a.json()
    assert idempotency.canonical_path("/api/v1/x/conditional-payment/y") == "/v1/x/escrow/y"


async def test_validation_failure_stores_nothing(client, app, merchant):
    headers = {**merchant.headers, "Idempotency-Key": "k-invalid"}
    r = await client.post(intents_url(), json=intent_body(amount="-1"), headers=headers)
    assert_error(r, 400, "invalid_request", param="amount")
    r = await client.post(intents_url(), json=intent_body(), headers=headers)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    async with app.state.session_factory() as s:
        rows = (
            (
                await s.execute(
                    select(IdempotencyRecord).where(IdempotencyRecord.merchant_id == merchant.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(x.key, x.response_status) for x in rows] == [("k-invalid", 201)]


async def test_scope_is_merchant_and_mode(client, app, make_merchant):
    a, b = await make_merchant(), await make_merchant()
    live = await make_merchant(mode="live")
    for m in (a, b, live):
        r = await client.post(
            intents_url(),
            json=intent_body(),
            headers={**m.headers, "Idempotency-Key": "shared-key"},
        )
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert await count_intents(app, b.id) == 1


async def test_key_too_long(client, merchant):
    r = await client.post(
        intents_url(),
        json=intent_body(),
        headers={**merchant.headers, "Idempotency-Key": "x" * 256},
    )
    assert_error(
        r,
        400,
        "invalid_request",
        "Idempotency-Key must be 1 to 255 characters",
        param="Idempotency-Key",
    )


async def test_key_in_use_is_409(client, app, settings, merchant):
    """A request still running holds the key: on PostgreSQL a transaction-scoped
    advisory lock (taken here on another connection), on SQLite the in-process set."""
    key = "k-running"
    if settings.is_sqlite:
        idempotency._in_flight.add((merchant.id, "test", key))
        try:
            r = await client.post(
                intents_url(),
                json=intent_body(),
                headers={**merchant.headers, "Idempotency-Key": key},
            )
        finally:
            idempotency._in_flight.discard((merchant.id, "test", key))
    else:
        async with app.state.engine.connect() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:k)"),
                {"k": idempotency._lock_id(merchant.id, "test", key)},
            )
            r = await client.post(
                intents_url(),
                json=intent_body(),
                headers={**merchant.headers, "Idempotency-Key": key},
            )
            await conn.rollback()
    assert_error(
        r,
        409,
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed; retry later",
        type_="idempotency_error",
    )
    r = await client.post(
        intents_url(),
        json=intent_body(),
        headers={**merchant.headers, "Idempotency-Key": key},
    )
    assert r.status_code == 201  # free again once the first is done
    assert await count_intents(app, merchant.id) == 1


async def test_parallel_same_key_makes_one_effect(client, app, merchant):
    headers = {**merchant.headers, "Idempotency-Key": "k-parallel"}
    results = await asyncio.gather(
        *[client.post(intents_url(), json=intent_body(), headers=headers) for _ in range(12)]
    )
    codes = Counter(r.status_code for r in results)
    assert set(codes) <= {201, 409}, codes
    assert len({r.json()["id"] for r in results if r.status_code == 201}) == 1
    assert await count_intents(app, merchant.id) == 1


async def test_expired_records_are_purged_and_key_is_free_again(client, app, merchant):
    headers = {**merchant.headers, "Idempotency-Key": "k-old"}
    assert (
        await client.post(intents_url(), json=intent_body(), headers=headers)
    ).status_code == 201
    async with app.state.session_factory() as s:
        await s.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.merchant_id == merchant.id)
            .values(created_at=IdempotencyRecord.created_at - 25 * 3600)
        )
        await s.commit()
    r = await client.post(intents_url(), json=intent_body(amount="7.00"), headers=headers)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    async with app.state.session_factory() as s:
        await s.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.merchant_id == merchant.id)
            .values(created_at=IdempotencyRecord.created_at - 25 * 3600)
        )
        await s.commit()
    assert await purge_idempotency_records(app) >= 1
    async with app.state.session_factory() as s:
        left = (
            await s.execute(
                select(func.count())
                .select_from(IdempotencyRecord)
                .where(IdempotencyRecord.merchant_id == merchant.id)
            )
        ).scalar_one()
    assert left == 0


@pytest.mark.parametrize("path_tail", ["payment", "transaction-hash"])
async def test_public_posts_accept_keys(client, merchant, path_tail):
    iid = (await client.post(intents_url(), json=intent_body(), headers=merchant.headers)).json()[
        "id"
    ]
    body = (
        {"card": {"cardNumber": "4242424242424242", "expiry": "12/39", "cvv": "123", "name": "P"}}
        if path_tail == "payment"
        else {"transactionHash": "0x" + "ab" * 32}
    )
    first = await client.post(
        public_intent_url(iid, f"/{path_tail}"),
        json=body,
        headers={"Idempotency-Key": "pub-1"},
    )
    again = await client.post(
        public_intent_url(iid, f"/{path_tail}"),
        json=body,
        headers={"Idempotency-Key": "pub-1"},
    )
    assert first.status_code == 200, first.text
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    # The payer's client secret is shown once and never stored: a replay lacks it.
    shown = first.json()
    secret = shown.pop("clientSecret", None)
    assert (secret is not None) == (path_tail == "payment")
    assert "clientSecret" not in again.json()
    assert again.json() == shown
