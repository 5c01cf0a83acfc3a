"""Background worker loop: claims due jobs and runs each in its own transaction."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings

log = structlog.get_logger("escrowgate.worker")


async def run_due_jobs(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> int:
    from .jobs import run_due

    return await run_due(session_factory, settings)


PURGE_EVERY_SECONDS = 300


async def purge_idempotency_records(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Idempotency answers are kept 24 hours, then removed."""
    from ..api.idempotency import purge_expired

    async with session_factory() as session:
        removed = await purge_expired(session)
        await session.commit()
    return removed


async def run_forever(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    last_purge = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            if loop.time() - last_purge > PURGE_EVERY_SECONDS:
                last_purge = loop.time()
                await purge_idempotency_records(session_factory)
            done = await run_due_jobs(session_factory, settings)
            if done:
                continue
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker_iteration_failed")
        await asyncio.sleep(settings.worker_poll_seconds)


async def run_cli(settings: Settings, *, once: bool) -> None:
    from ..db.engine import make_engine, make_session_factory
    from ..logging_setup import configure_logging

    configure_logging(settings.log_level)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    factory = make_session_factory(engine)
    try:
        if once:
            purged = await purge_idempotency_records(factory)
            count = await run_due_jobs(factory, settings)
            log.info("worker_once", jobs=count, idempotency_records_purged=purged)
        else:
            await run_forever(factory, settings)
    finally:
        await engine.dispose()
