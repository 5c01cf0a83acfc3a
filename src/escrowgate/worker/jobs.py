"""Due jobs (filled in by the money-flow capability)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings


async def run_due(session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    return 0
