"""Table maintenance the worker runs every few minutes (no HTTP, no aggregate)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.clock import now
from ..models import IdempotencyRecord

IDEMPOTENCY_RETENTION_SECONDS = 24 * 3600  # an Idempotency-Key's answer is kept this long


async def purge_idempotency_records(session: AsyncSession) -> int:
    """Remove stored answers older than the retention; how many were removed."""
    cutoff = now() - IDEMPOTENCY_RETENTION_SECONDS
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
