"""Admission and the pool (api/admission.py `admitted`): a process lets in as many
requests at once as its pool keeps connections for, never more, so requests do not
open overflow connections that the pool closes again at once (under load that was a
new PostgreSQL connection for one request, dozens a second)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import event

from escrowgate.api.admission import admitted
from escrowgate.config import describe
from tests.support.driver import Settings, create_app, create_intent, intent_url

POOL_SIZE = 3
OVERFLOW = 5
REQUESTS = 40


def test_admitted_is_the_kept_pool_less_what_is_held_outside_requests() -> None:
    assert admitted(10, reserved=1) == 9
    assert admitted(12, reserved=0) == 12
    # A pool that keeps no more than is reserved: one request at a time, on the overflow.
    assert admitted(3, reserved=3) == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "db_pool_size",
            0,
            "DB_POOL_SIZE: must be at least 1 (the connections each process keeps)",
        ),
        (
            "db_max_overflow",
            -1,
            "DB_MAX_OVERFLOW: must be 0 or more (extra connections beyond DB_POOL_SIZE)",
        ),
    ],
)
def test_a_pool_setting_out_of_range_is_refused(variable: str, value: int, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{variable: value})
    assert describe(refused.value) == f"{message} (got {value!r})"


async def test_requests_never_take_more_connections_than_the_pool_keeps(
    settings: Settings, merchant: Any
) -> None:
    app = create_app(
        settings.model_copy(update={"db_pool_size": POOL_SIZE, "db_max_overflow": OVERFLOW})
    )
    pool = app.state.engine.sync_engine.pool
    # PostgreSQL keeps DB_POOL_SIZE; SQLite's file database the queue pool's default (5),
    # or, with SQLAlchemy releases before that default, a pool that keeps nothing
    # (NullPool: a connection per checkout), where the setting is the limit.
    keeps = callable(getattr(pool, "size", None))
    kept = pool.size() if keeps else POOL_SIZE
    if not settings.is_sqlite:
        assert kept == POOL_SIZE
    busy = 0
    in_use: list[int] = []
    opened: list[int] = []

    def on_checkout(*_: Any) -> None:
        nonlocal busy
        busy += 1
        in_use.append(busy)

    def on_checkin(*_: Any) -> None:
        nonlocal busy
        busy -= 1

    def on_connect(*_: Any) -> None:
        opened.append(1)

    event.listen(app.state.engine.sync_engine, "checkout", on_checkout)
    event.listen(app.state.engine.sync_engine, "checkin", on_checkin)
    event.listen(app.state.engine.sync_engine, "connect", on_connect)
    # The lifespan runs as a server runs it: on PostgreSQL the key listener holds one
    # of the kept connections for as long as the app serves.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            intent = await create_intent(c, merchant)
            answers: list[httpx.Response] = []
            # A GET holds its pooled connection for one read only: a burst may happen not
            # to overlap up to the limit (seen once in many runs), so up to five bursts.
            for _ in range(5):
                answers += await asyncio.gather(
                    *(
                        c.get(intent_url(intent["id"]), headers=merchant.headers)
                        for _ in range(REQUESTS)
                    )
                )
                if max(in_use) >= kept:
                    break
    assert [r.status_code for r in answers] == [200] * len(answers)
    assert {r.json()["id"] for r in answers} == {intent["id"]}
    # The requests did overlap up to the limit (else this proves nothing) and never past it.
    assert max(in_use) == kept, in_use
    if keeps:
        assert len(opened) <= kept, f"{len(opened)} connections opened for a pool keeping {kept}"
