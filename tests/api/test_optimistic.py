"""Optimistic writes (db/optimistic.py): on PostgreSQL, create milestone and complete
milestone read their aggregate unlocked and write it in one statement guarded by the
intent's version. These tests interleave a second request between the first one's
read and its write (a hook on the repository read the use case makes last), so the
race the guard exists for happens every time, not by chance; then they check that
nothing was paid twice and that the first request ran again under locks.

Mutation-checked: with the guard's version condition removed the double completion
releases the milestone twice and the test fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker

from escrowgate.metrics import OPTIMISTIC_RERUNS
from escrowgate.payments import repository
from tests.support.driver import (
    EXCEED,
    Settings,
    assert_error,
    audit_clean,
    balance,
    cancel_url,
    create_app,
    create_intent,
    dvp,
    intent_url,
    milestone_url,
    milestones_url,
    pay_by_card,
    post_complete,
    sessions_not_freed,
)


def on_postgres(settings: Settings) -> bool:
    return settings.database_url.startswith("postgresql")


def raw_dsn(settings: Settings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def sql(settings: Settings, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(raw_dsn(settings))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def interleave(monkeypatch: pytest.MonkeyPatch, other: Callable[[], Awaitable[None]]) -> None:
    """After the first call of `repository.order_and_milestones` (the read of the request
    under test, before its write), `other` runs to its end: another request that commits
    between the first one's read and its write."""
    read = "order_and_milestones"
    original = getattr(repository, read)
    fired = False

    async def hooked(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        rows = await original(*args, **kwargs)
        if not fired:
            fired = True
            await other()
        return rows

    monkeypatch.setattr(repository, read, hooked)


async def funded_auto_release(client: httpx.AsyncClient, m: Any) -> tuple[str, list[str]]:
    """A funded 1000.00 intent with autoRelease and milestones 0 (400.00), 1 (600.00)."""
    iid = (await create_intent(client, m, amount="1000.00", autoRelease=True))["id"]
    mids = []
    for index, amount in enumerate(("400.00", "600.00")):
        r = await client.post(
            milestones_url(iid), json={"milestoneIndex": index, "amount": amount}, headers=m.headers
        )
        assert r.status_code == 201, r.text
        mids.append(r.json()["id"])
    assert (await pay_by_card(client, iid)).status_code == 200
    return iid, mids


def reruns() -> float:
    return float(OPTIMISTIC_RERUNS._value.get())


def postgres_only(settings: Settings) -> None:
    if not on_postgres(settings):
        # SQLite serialises whole transactions (BEGIN IMMEDIATE): a request cannot run
        # between another's read and write there, and there is no optimistic write.
        pytest.skip("optimistic writes are PostgreSQL's")


def version_of(settings: Settings, iid: str) -> Awaitable[Any]:
    return sql(settings, "SELECT version FROM payment_intents WHERE id = $1", iid)


@pytest.mark.parametrize("locked", [False, True], ids=["meanwhile-optimistic", "meanwhile-locked"])
async def test_a_completion_that_lands_between_read_and_write_is_not_paid_twice(
    client, app, make_merchant, settings, monkeypatch, locked
):
    """The request in between is optimistic too (its guard moves the version), or runs
    under locks (an Idempotency-Key: its lock moves the version)."""
    postgres_only(settings)
    m = await make_merchant()
    iid, mids = await funded_auto_release(client, m)
    second: list[httpx.Response] = []
    headers = {**m.headers, "Idempotency-Key": f"meanwhile-{iid}"} if locked else m.headers

    async def complete_meanwhile() -> None:
        url = milestone_url(iid, mids[0], "complete")
        body = {"completedBy": "0x" + "ab" * 20}
        second.append(await client.post(url, json=body, headers=headers))

    interleave(monkeypatch, complete_meanwhile)
    before = reruns()
    first = await post_complete(client, m, iid, mids[0])

    assert second[0].status_code == 200, second[0].text
    assert second[0].json()["data"]["status"] == "RELEASED"
    # The first read PENDING, but the milestone was released before it wrote: it ran
    # again under locks and got the documented answer for what it finds now.
    assert_error(first, 400, "invalid_request", "Milestone already released")
    b = await balance(client, m)
    assert b["availableBalance"] == Decimal("400.00")  # released once
    assert b["reservedBalance"] == Decimal("600.00")
    assert reruns() == before + 1
    releases = await sql(
        settings,
        "SELECT count(*) FROM ledger_entries WHERE reference_id = $1 AND kind = 'RELEASE'",
        mids[0],
    )
    assert releases == 2  # one posting: its two legs
    events = await sql(
        settings,
        "SELECT count(*) FROM events WHERE type = 'milestone.released' AND payload::text LIKE $1",
        f"%{mids[0]}%",
    )
    assert events == 1
    await audit_clean(app)


async def test_a_milestone_created_between_read_and_write_is_counted(
    client, app, make_merchant, settings, monkeypatch
):
    """Two creates that each fit alone but not together: the one whose read came first
    is refused with the documented message once it runs under locks."""
    postgres_only(settings)
    m = await make_merchant()
    iid = (await create_intent(client, m, amount="1000.00"))["id"]
    second: list[httpx.Response] = []

    async def create_meanwhile() -> None:
        body = {"milestoneIndex": 1, "amount": "600.00"}
        second.append(await client.post(milestones_url(iid), json=body, headers=m.headers))

    interleave(monkeypatch, create_meanwhile)
    before = reruns()
    first = await client.post(
        milestones_url(iid), json={"milestoneIndex": 0, "amount": "600.00"}, headers=m.headers
    )
    assert second[0].status_code == 201, second[0].text
    assert_error(first, 400, "invalid_request", EXCEED)
    r = await client.get(milestones_url(iid), headers=m.headers)
    assert [(x["milestoneIndex"], x["amount"]) for x in r.json()["data"]] == [(1, "600.00")]
    assert reruns() == before + 1
    await audit_clean(app)


async def test_a_refused_request_moves_no_version_and_a_write_moves_it_once(
    client, make_merchant, settings
):
    """Every committed change of the aggregate moves the intent's version (what the guard
    compares); a request refused by the rules writes nothing. Locked paths move it by
    their lock (an Idempotency-Key sends complete under locks)."""
    postgres_only(settings)
    m = await make_merchant()
    iid, mids = await funded_auto_release(client, m)
    version = await version_of(settings, iid)
    refused = await post_complete(client, m, iid, mids[1])  # index 0 first
    message = "Previous milestone (index 0) must be completed first"
    assert_error(refused, 400, "invalid_request", message)
    assert await version_of(settings, iid) == version
    assert (await post_complete(client, m, iid, mids[0])).status_code == 200  # optimistic
    assert await version_of(settings, iid) == version + 1
    locked = await client.post(
        milestone_url(iid, mids[1], "complete"),
        json={"completedBy": "0x" + "ab" * 20},
        headers={**m.headers, "Idempotency-Key": f"locked-{iid}"},
    )
    assert locked.status_code == 200, locked.text
    assert await version_of(settings, iid) == version + 2


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient, list[str]]]:
    """A second app with its lifespan running (the key cache armed, as a server runs),
    each statement its pooled connections send recorded (asyncpg's query logger)."""
    if not on_postgres(settings) or settings.db_pgbouncer:
        pytest.skip("the key cache and the statement count are PostgreSQL's, reached directly")
    app = create_app(settings)
    sent: list[str] = []

    @event.listens_for(app.state.engine.sync_engine, "connect")
    def _log(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c, sent


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient, list[str]]]:
    async with serve(settings) as served_app:
        yield served_app


async def _until_cached(app: Any, client: httpx.AsyncClient, m: Any, iid: str) -> None:
    """Wait for the listener to arm the key cache, then let it learn the key."""
    for _ in range(1000):
        if app.state.key_cache.armed:
            break
        await asyncio.sleep(0.01)
    assert app.state.key_cache.armed
    for _ in range(2):
        assert (await client.get(milestones_url(iid), headers=m.headers)).status_code == 200


async def _settled(sent: list[str]) -> list[str]:
    """The first word of each statement sent (asyncpg calls its loggers soon after the
    statement, not at once: let them run first)."""
    await asyncio.sleep(0.05)
    # The key cache listener's liveness probe (auth/cache.py) is not the request's.
    return [q.split(None, 1)[0].upper() for q in sent if q.strip() != "SELECT 1"]


async def test_complete_and_release_is_one_read_and_one_write(served, make_merchant):
    """With the key in the cache, complete + release sends two statements: the intent
    with its order and milestones, and the guarded write as its own transaction (no
    BEGIN, no COMMIT); create milestone the same."""
    app, client, sent = served
    m = await make_merchant()
    iid, mids = await funded_auto_release(client, m)
    await _until_cached(app, client, m, iid)

    await _settled(sent)
    sent.clear()
    r = await post_complete(client, m, iid, mids[0])
    assert r.status_code == 200 and r.json()["data"]["status"] == "RELEASED", r.text
    assert await _settled(sent) == ["SELECT", "WITH"], sent
    assert "LEFT OUTER JOIN milestones" in sent[0]
    assert "escrowgate_guard" in sent[1]

    other = (await create_intent(client, m, amount="1000.00"))["id"]
    await _settled(sent)
    sent.clear()
    r = await client.post(
        milestones_url(other), json={"milestoneIndex": 0, "amount": "10.00"}, headers=m.headers
    )
    assert r.status_code == 201, r.text
    assert await _settled(sent) == ["SELECT", "WITH"], sent
    await audit_clean(app)


async def test_a_session_that_sent_nothing_is_closed_with_its_request(served, make_merchant):
    """With the key in the cache, create intent, create milestone and complete + release
    end with nothing sent through the request's session itself (create intent's write
    goes on a pooled connection; the optimistic read's link is given back when its
    guarded write commits): the session is closed all the same, so it is freed with the
    request and not left to the cyclic GC, whose collections paused the writes for 7-14
    ms (docs/architecture.md, *The cyclic GC on the write paths*)."""
    app, client, _sent = served
    m = await make_merchant()
    iid, mids = await funded_auto_release(client, m)
    await _until_cached(app, client, m, iid)

    async def requests() -> None:
        other = (await create_intent(client, m, amount="1000.00"))["id"]
        body = {"milestoneIndex": 0, "amount": "10.00"}
        r = await client.post(milestones_url(other), json=body, headers=m.headers)
        assert r.status_code == 201, r.text
        r = await post_complete(client, m, iid, mids[0])
        assert r.json()["data"]["status"] == "RELEASED", r.text

    made, alive = await sessions_not_freed(requests)
    assert made >= 3 and alive == [], (made, alive)


async def test_a_get_makes_no_session_unless_it_answers_403_or_404(served, make_merchant):
    """With the key in the cache, a GET's one pooled read needs no session (db/direct.py:
    Reader; making one was about a twelfth of a GET's CPU); the 403 and 404 answers read
    again in one, made then."""
    app, client, _sent = served
    m, other = await make_merchant(), await make_merchant()
    mine = (await create_intent(client, m))["id"]
    theirs = (await create_intent(client, other))["id"]
    await _until_cached(app, client, m, mine)
    made: list[str] = []
    factory = app.state.read_session_factory

    class Counting(async_sessionmaker[Any]):
        def __call__(self, **kw: Any) -> Any:
            made.append("session")
            return super().__call__(**kw)

    app.state.read_session_factory = Counting(class_=factory.class_, **factory.kw)
    r = await client.get(intent_url(mine), headers=m.headers)
    assert r.status_code == 200 and r.json()["id"] == mine, r.text
    assert made == []
    r = await client.get(intent_url(theirs), headers=m.headers)
    assert r.status_code == 403, r.text
    assert made == ["session"]
    missing = "intent_" + "0" * 44
    r = await client.get(intent_url(missing), headers=m.headers)
    assert r.json()["error"]["message"] == f"Payment intent not found: {missing}"
    assert r.status_code == 404 and made == ["session", "session"]


async def test_a_rerun_on_the_served_path_is_not_paid_twice_and_gives_back_its_connection(
    served, make_merchant, monkeypatch
):
    """The race of the first test on the path a server takes (the key from the cache:
    the read and the guarded write on a connection of its own, no BEGIN): the first
    request runs again under locks, the milestone is released once, and every
    connection the requests took is back in the pool."""
    app, client, _ = served
    m = await make_merchant()
    iid, mids = await funded_auto_release(client, m)
    await _until_cached(app, client, m, iid)
    pool = app.state.engine.sync_engine.pool
    held = pool.checkedout()  # the key cache's listener keeps one
    second: list[httpx.Response] = []

    async def complete_meanwhile() -> None:
        second.append(await post_complete(client, m, iid, mids[0]))

    interleave(monkeypatch, complete_meanwhile)
    before = reruns()
    first = await post_complete(client, m, iid, mids[0])
    assert second[0].status_code == 200 and second[0].json()["data"]["status"] == "RELEASED"
    assert_error(first, 400, "invalid_request", "Milestone already released")
    assert reruns() == before + 1
    b = await balance(client, m)
    assert b["availableBalance"] == Decimal("400.00")
    assert pool.checkedout() == held
    await audit_clean(app)


async def test_every_lock_moves_the_version(client, make_merchant, settings):
    """The two other locking statements move it too: the public one (a card payment,
    as the payer's routes and the worker's jobs lock) and the owned intent's (cancel)."""
    postgres_only(settings)
    m = await make_merchant()
    paid = await dvp(client, m, fund=False)
    assert await version_of(settings, paid) == 0
    assert (await pay_by_card(client, paid)).status_code == 200
    assert await version_of(settings, paid) >= 1
    cancelled = (await create_intent(client, m))["id"]
    r = await client.post(cancel_url(cancelled), headers=m.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELED"
    assert await version_of(settings, cancelled) == 1


async def test_optimistic_writes_off_runs_under_locks(settings, make_merchant):
    """OPTIMISTIC_WRITES=false (an upgrade across migration 0011 with older processes
    still running): complete + release locks as every other path does."""
    off = settings.model_copy(update={"optimistic_writes": False})
    async with serve(off) as (app, client, sent):
        m = await make_merchant()
        iid, mids = await funded_auto_release(client, m)
        await _until_cached(app, client, m, iid)
        version = await version_of(settings, iid)
        await _settled(sent)
        sent.clear()
        r = await post_complete(client, m, iid, mids[0])
        assert r.status_code == 200 and r.json()["data"]["status"] == "RELEASED", r.text
        kinds = [kind.rstrip(";") for kind in await _settled(sent)]
        assert kinds[0] == "BEGIN" and kinds[-1] == "COMMIT", sent
        assert any("locked_intent" in q and "FOR UPDATE" in q for q in sent), sent
        assert not any("escrowgate_guard" in q for q in sent), sent
        assert await version_of(settings, iid) == version + 1  # the lock's move
