"""Every conditional-payment query. Children are always looked up under their parent.

The statements are built once with bound parameters: building a statement and its
cache key per request costs about as much CPU as executing it."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import NotFound
from ..models import ConditionalPayment, DeliveryProof, Milestone
from ..payment_intents.repository import check_id

_ORDER_OF_INTENT = select(ConditionalPayment).where(
    ConditionalPayment.payment_intent_id == bindparam("intent_id")
)
# Lock what you check: every mutation of an order starts from a locked order row.
_ORDER_OF_INTENT_LOCKED = _ORDER_OF_INTENT.with_for_update()
_MILESTONES_OF = (
    select(Milestone)
    .where(Milestone.conditional_payment_id == bindparam("order_id"))
    .order_by(Milestone.milestone_index)
)
_MILESTONES_FOR_NEW_INDEX = select(Milestone).where(
    Milestone.conditional_payment_id == bindparam("order_id"),
    or_(
        Milestone.milestone_index == bindparam("index"),
        Milestone.status.in_(("COMPLETED", "RELEASED")),
    ),
)
_MILESTONE_OF = select(Milestone).where(
    Milestone.conditional_payment_id == bindparam("order_id"),
    Milestone.id == bindparam("milestone_id"),
)
_PROOFS_OF = select(DeliveryProof).where(
    DeliveryProof.conditional_payment_id == bindparam("order_id")
)


async def order_for_intent(
    session: AsyncSession, intent_id: str, *, lock: bool = False
) -> ConditionalPayment:
    stmt = _ORDER_OF_INTENT_LOCKED if lock else _ORDER_OF_INTENT
    order = (await session.execute(stmt, {"intent_id": intent_id})).scalar_one_or_none()
    if order is None:
        raise NotFound("Conditional payment not found for this payment intent")
    return order


async def milestones_of(session: AsyncSession, order_id: str) -> list[Milestone]:
    return list((await session.execute(_MILESTONES_OF, {"order_id": order_id})).scalars())


async def milestones_for_new_index(
    session: AsyncSession, order_id: str, index: int
) -> list[Milestone]:
    """Just the rows the creation rules need: one with this index (duplicate?) and
    the completed or released ones (is the index below them?)."""
    params = {"order_id": order_id, "index": index}
    return list((await session.execute(_MILESTONES_FOR_NEW_INDEX, params)).scalars())


async def milestone_of(session: AsyncSession, order_id: str, milestone_id: str) -> Milestone:
    check_id(milestone_id, NotFound("Milestone not found", param="milestoneId"))
    params = {"order_id": order_id, "milestone_id": milestone_id}
    milestone = (await session.execute(_MILESTONE_OF, params)).scalar_one_or_none()
    if milestone is None:
        raise NotFound("Milestone not found", param="milestoneId")
    return milestone


async def proofs_of(session: AsyncSession, order_id: str) -> list[DeliveryProof]:
    return list((await session.execute(_PROOFS_OF, {"order_id": order_id})).scalars())
