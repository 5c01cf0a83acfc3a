"""Every conditional-payment query. Children are always looked up under their parent."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import NotFound
from ..models import ConditionalPayment, DeliveryProof, Milestone
from ..payment_intents.repository import check_id


async def order_for_intent(
    session: AsyncSession, intent_id: str, *, lock: bool = False
) -> ConditionalPayment:
    stmt = select(ConditionalPayment).where(ConditionalPayment.payment_intent_id == intent_id)
    if lock:
        # Lock what you check: every mutation of an order starts here.
        stmt = stmt.with_for_update()
    order = (await session.execute(stmt)).scalar_one_or_none()
    if order is None:
        raise NotFound("Conditional payment not found for this payment intent")
    return order


async def milestones_of(session: AsyncSession, order_id: str) -> list[Milestone]:
    stmt = (
        select(Milestone)
        .where(Milestone.conditional_payment_id == order_id)
        .order_by(Milestone.milestone_index)
    )
    return list((await session.execute(stmt)).scalars())


async def milestones_for_new_index(
    session: AsyncSession, order_id: str, index: int
) -> list[Milestone]:
    """Just the rows the creation rules need: one with this index (duplicate?) and
    the completed or released ones (is the index below them?)."""
    stmt = select(Milestone).where(
        Milestone.conditional_payment_id == order_id,
        or_(Milestone.milestone_index == index, Milestone.status.in_(("COMPLETED", "RELEASED"))),
    )
    return list((await session.execute(stmt)).scalars())


async def milestone_of(session: AsyncSession, order_id: str, milestone_id: str) -> Milestone:
    check_id(milestone_id, NotFound("Milestone not found", param="milestoneId"))
    stmt = select(Milestone).where(
        Milestone.conditional_payment_id == order_id, Milestone.id == milestone_id
    )
    milestone = (await session.execute(stmt)).scalar_one_or_none()
    if milestone is None:
        raise NotFound("Milestone not found", param="milestoneId")
    return milestone


async def proofs_of(session: AsyncSession, order_id: str) -> list[DeliveryProof]:
    stmt = select(DeliveryProof).where(DeliveryProof.conditional_payment_id == order_id)
    return list((await session.execute(stmt)).scalars())
