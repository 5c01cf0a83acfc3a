"""Background worker loop: claims due jobs and runs each in its own transaction."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings

log = structlog.get_logger("escrowgate.worker")


async def run_due_jobs(session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    from .jobs import run_due

    return await run_due(session_factory, settings)


async def run_forever(session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    while True:
        try:
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

    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    try:
        if once:
            count = await run_due_jobs(factory, settings)
            log.info("worker_once", jobs=count)
        else:
            await run_forever(factory, settings)
    finally:
        await engine.dispose()
