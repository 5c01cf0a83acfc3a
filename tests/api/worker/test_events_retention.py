"""Events retention (EVENTS_RETENTION_DAYS): events older than the retention are deleted
in batches with their finished webhook deliveries and attempts; undispatched events and
events with a pending delivery stay, and so does every ledger entry."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from escrowgate import bootstrap
from escrowgate.config import Settings
from escrowgate.db.housekeeping import event_id_before, purge_events
from escrowgate.domain import ids
from escrowgate.models import (
    Event,
    LedgerEntry,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.support.driver import create_intent, pay_by_card

DAY = 24 * 3600


def _event_id(seconds_ago: int, n: int) -> str:
    ms = int((time.time() - seconds_ago) * 1000)
    return f"{ids.EVENT}{ms:012x}{n:032x}"


def _event(eid: str, merchant_id: str, *, dispatched: bool = True) -> Event:
    return Event(
        id=eid,
        merchant_id=merchant_id,
        mode="test",
        type="payment_intent.created",
        object_id="intent_x",
        payload={},
        created_at=int(time.time()),
        dispatched_at=1 if dispatched else None,
    )


def _delivery(did: str, eid: str, endpoint: str, merchant_id: str, status: str) -> WebhookDelivery:
    return WebhookDelivery(
        id=did, event_id=eid, endpoint_id=endpoint, merchant_id=merchant_id, mode="test",
        status=status, attempts=1, created_at=1,
    )


def _attempt(aid: str, did: str, eid: str, endpoint: str, merchant_id: str) -> WebhookAttempt:
    return WebhookAttempt(
        id=aid, delivery_id=did, endpoint_id=endpoint, event_id=eid,
        event_type="payment_intent.created", merchant_id=merchant_id, mode="test", attempt=1,
        attempted_at=1, status_code=200, duration_ms=1, succeeded=True,
        delivery_status="SUCCEEDED",
    )


async def test_old_events_go_in_batches_and_the_ledger_stays(
    app: Any, client: Any, merchant: Any
) -> None:
    intent = await create_intent(client, merchant)
    await pay_by_card(client, intent["id"])  # today's events and a FUND posting
    mid = merchant.id
    old = [_event_id(100 * DAY + n, n) for n in range(5)]  # 100 days old
    undispatched, pending, recent = (
        _event_id(100 * DAY, 90), _event_id(100 * DAY, 91), _event_id(10 * DAY, 92)
    )
    endpoint = "we_" + "0" * 44
    async with app.state.session_factory() as s:
        s.add(WebhookEndpoint(
            id=endpoint, merchant_id=mid, mode="test", url="https://example.com/hook",
            enabled_events=["*"], created_ms=1, created_at=1, updated_at=1,
        ))
        await s.flush()
        s.add_all([_event(e, mid) for e in [*old, pending, recent]])
        s.add(_event(undispatched, mid, dispatched=False))
        await s.flush()
        s.add(_delivery("wd_old0", old[0], endpoint, mid, "SUCCEEDED"))
        s.add(_delivery("wd_old1", old[1], endpoint, mid, "FAILED"))
        s.add(_delivery("wd_pending", pending, endpoint, mid, "PENDING"))
        await s.flush()
        s.add(_attempt("wa_old0", "wd_old0", old[0], endpoint, mid))
        s.add(_attempt("wa_pending", "wd_pending", pending, endpoint, mid))
        await s.commit()

    async with app.state.session_factory() as s:
        ledger_before = (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar()
        removed = await purge_events(s, 30 * DAY, batch=2)
        await s.commit()
    assert removed == 5  # three batches: 2, 2, 1

    async with app.state.session_factory() as s:
        left = set((await s.execute(select(Event.id).where(Event.merchant_id == mid))).scalars())
        deliveries = set((await s.execute(select(WebhookDelivery.id))).scalars())
        attempts = set((await s.execute(select(WebhookAttempt.id))).scalars())
        ledger_after = (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar()
    assert not left & set(old)
    assert {undispatched, pending, recent} <= left
    assert len(left) >= 3 + 2  # and today's events of the paid intent
    assert "wd_old0" not in deliveries and "wd_old1" not in deliveries
    assert "wd_pending" in deliveries and attempts >= {"wa_pending"}
    assert "wa_old0" not in attempts
    assert ledger_after == ledger_before and ledger_after >= 2


def test_the_cutoff_is_a_primary_key_range() -> None:
    assert event_id_before(0) == "evt_000000000000"
    assert event_id_before(1_700_000_000) == f"evt_{1_700_000_000_000:012x}"
    assert _event_id(DAY, 0) < event_id_before(int(time.time()) - 3600) < _event_id(0, 0)


def test_the_worker_runs_the_retention_unless_it_is_zero() -> None:
    names = [t.__name__ for t in bootstrap.housekeeping(Settings(events_retention_days=30))]
    assert names == ["purge_idempotency_records", "purge_old_events"]
    kept = [t.__name__ for t in bootstrap.housekeeping(Settings(events_retention_days=0))]
    assert kept == ["purge_idempotency_records"]
    assert Settings().events_retention_days == 90
