"""Merchant and key administration used by the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .auth.keys import create_key
from .domain import ids
from .domain.clock import now
from .models import ApiKey, Merchant

DEMO_NAME = "Demo Merchant"


async def create_merchant(session: AsyncSession, name: str) -> Merchant:
    merchant = Merchant(id=ids.new_id(ids.MERCHANT), name=name, created_at=now())
    session.add(merchant)
    return merchant


async def require_merchant(session: AsyncSession, merchant_id: str) -> Merchant:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise LookupError(f"no such merchant: {merchant_id}")
    return merchant


async def revoke_key(session: AsyncSession, key_id: str) -> bool:
    key = await session.get(ApiKey, key_id)
    if key is None:
        return False
    if key.revoked_at is None:
        key.revoked_at = now()
    return True


async def demo_setup(session: AsyncSession) -> str:
    """The demo merchant (created once) and a fresh test key for it."""
    stmt = select(Merchant).where(Merchant.name == DEMO_NAME)
    merchant = (await session.execute(stmt)).scalars().first()
    if merchant is None:
        merchant = await create_merchant(session, DEMO_NAME)
        await session.flush()
    _, raw = await create_key(session, merchant_id=merchant.id, mode="test")
    return raw


@dataclass(frozen=True)
class MerchantRow:
    id: str
    name: str
    created_at: int
    keys: int
    active_keys: int


async def list_merchants(session: AsyncSession) -> list[MerchantRow]:
    """Every merchant, oldest first, with its key counts (all / not revoked)."""
    active = func.count(ApiKey.id).filter(ApiKey.revoked_at.is_(None))
    stmt = (
        select(Merchant, func.count(ApiKey.id), active)
        .outerjoin(ApiKey, ApiKey.merchant_id == Merchant.id)
        .group_by(Merchant.id)
        .order_by(Merchant.created_at, Merchant.id)
    )
    return [
        MerchantRow(m.id, m.name, m.created_at, int(keys), int(live))
        for m, keys, live in (await session.execute(stmt)).all()
    ]


async def list_keys(session: AsyncSession, merchant_id: str | None = None) -> list[ApiKey]:
    """Every key (or one merchant's), oldest first. The caller shows no hash."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if merchant_id is not None:
        stmt = stmt.where(ApiKey.merchant_id == merchant_id)
    return list((await session.execute(stmt)).scalars())
