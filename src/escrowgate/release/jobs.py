"""Worker jobs of the release paths. Each locks intent then order (the API's
order), re-checks state, and is a no-op when there is nothing left to do."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..models import ConditionalPayment, Job, PaymentIntent
from ..worker.jobs import handler
from .schedules import MILESTONE_RELEASE_JOB
from .service import release_ready_milestones


async def lock_order(
    session: AsyncSession, order_id: str
) -> tuple[PaymentIntent, ConditionalPayment] | None:
    intent_id = (
        await session.execute(
            select(ConditionalPayment.payment_intent_id).where(ConditionalPayment.id == order_id)
        )
    ).scalar_one_or_none()
    if intent_id is None:
        return None
    intent = (
        await session.execute(
            select(PaymentIntent).where(PaymentIntent.id == intent_id).with_for_update()
        )
    ).scalar_one()
    order = (
        await session.execute(
            select(ConditionalPayment).where(ConditionalPayment.id == order_id).with_for_update()
        )
    ).scalar_one()
    return intent, order


@handler(MILESTONE_RELEASE_JOB)
async def _milestone_release(session: AsyncSession, settings: Settings, job: Job) -> None:
    if job.order_id is None:
        return
    locked = await lock_order(session, job.order_id)
    if locked is None:
        return
    intent, order = locked
    await release_ready_milestones(session, settings, intent, order)
