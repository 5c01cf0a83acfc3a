"""Background worker loop: claims due jobs and runs each in its own transaction,
and every few minutes runs the housekeeping tasks it was given. It knows no
aggregate and no HTTP: the composition root (bootstrap.py) hands it both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from ..db.migrate import NOT_MIGRATED
from ..metrics import track_pool
from .jobs import Handlers, run_due

log = structlog.get_logger("escrowgate.worker")

class Heartbeat:
    """When the loop last came round (monotonic seconds; 0: never)."""

    def __init__(self) -> None:
        self.last = 0.0

    def beat(self) -> None:
        self.last = time.monotonic()


# A periodic clean-up in its own transaction; answers how many rows it removed.
Housekeeping = Callable[[AsyncSession], Awaitable[int]]
HOUSEKEEPING_EVERY_SECONDS = 300


@dataclass(frozen=True)
class Loop:
    """A loop that runs beside the job loop in the worker process (webhook delivery):
    `forever` runs until cancelled; `once` does what is due now (`worker --once`)."""

    name: str
    forever: Callable[[async_sessionmaker[AsyncSession], Settings], Coroutine[Any, Any, None]]
    once: Callable[[async_sessionmaker[AsyncSession], Settings], Coroutine[Any, Any, int]]


async def start_when_ready(
    loop: Loop,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    ready: Callable[[], Awaitable[bool]] | None,
) -> None:
    """Start a side loop once the database is migrated (the job loop says that it
    waits; the side loops wait quietly instead of failing on missing tables)."""
    while ready is not None:
        try:
            if await ready():
                break
        except Exception as exc:  # unreachable (a failover): wait, do not end the worker
            log.warning("worker_waiting", loop=loop.name, reason=type(exc).__name__)
        await asyncio.sleep(settings.worker_poll_seconds)
    await loop.forever(session_factory, settings)


async def run_housekeeping(
    session_factory: async_sessionmaker[AsyncSession], tasks: Sequence[Housekeeping]
) -> int:
    removed = 0
    for task in tasks:
        async with session_factory() as session:
            removed += await task(session)
            await session.commit()
    return removed


async def run_forever(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    handlers: Handlers,
    housekeeping: Sequence[Housekeeping] = (),
    *,
    ready: Callable[[], Awaitable[bool]] | None = None,
    heartbeat: Heartbeat | None = None,
) -> None:
    """`ready`: may the loop touch the tables (is the database migrated)? While it
    answers no, the loop says so once and waits, rather than failing every second."""
    last_housekeeping = 0.0
    loop = asyncio.get_running_loop()
    waiting_said = False
    while True:
        if heartbeat is not None:
            heartbeat.beat()
        try:
            if ready is not None and not await ready():
                if not waiting_said:
                    log.warning("worker_waiting", reason=NOT_MIGRATED)
                    waiting_said = True
                await asyncio.sleep(settings.worker_poll_seconds)
                continue
            if loop.time() - last_housekeeping > HOUSEKEEPING_EVERY_SECONDS:
                last_housekeeping = loop.time()
                await run_housekeeping(session_factory, housekeeping)
            done = await run_due(session_factory, settings, handlers)
            if done:
                continue
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker_iteration_failed")
        await asyncio.sleep(settings.worker_poll_seconds)


async def run_cli(
    settings: Settings,
    handlers: Handlers,
    housekeeping: Sequence[Housekeeping] = (),
    *,
    once: bool,
    loops: Sequence[Loop] = (),
) -> None:
    from ..db.engine import make_engine, make_session_factory
    from ..logging_setup import configure_logging

    configure_logging(settings.log_level)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pgbouncer=settings.db_pgbouncer,
    )
    factory = make_session_factory(engine)
    track_pool(engine.sync_engine)
    try:
        if once:
            purged = await run_housekeeping(factory, housekeeping)
            count = await run_due(factory, settings, handlers)
            log.info("worker_once", jobs=count, housekeeping_rows_removed=purged)
            for loop in loops:
                log.info("worker_once", loop=loop.name, done=await loop.once(factory, settings))
        else:
            from ..db.migrate import SchemaGate

            ready = SchemaGate(engine).check
            await asyncio.gather(
                run_forever(factory, settings, handlers, housekeeping, ready=ready),
                *(start_when_ready(loop, factory, settings, ready) for loop in loops),
            )
    finally:
        await engine.dispose()
