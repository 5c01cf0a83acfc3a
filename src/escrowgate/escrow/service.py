"""Loading an order on behalf of a caller: ownership, type, then the (locked) row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..api.context import Ctx
from ..domain import intents
from ..errors import InvalidRequest
from ..models import ConditionalPayment, Dispute, PaymentIntent
from ..payment_intents import repository as intent_repo
from . import repository
from .render import order_data


async def owned_order(
    ctx: Ctx, intent_id: str, *, lock: bool = False
) -> tuple[PaymentIntent, ConditionalPayment]:
    """The caller's intent and its conditional payment, in one statement. With lock,
    both rows are locked (FOR UPDATE on the join, no OF): after a wait for the lock
    PostgreSQL re-reads every locked row, so neither row is a snapshot from before
    the wait; the row locks are taken in FROM order, intent then order, the order
    every path uses. The slow path below only answers 403/404/wrong type precisely."""
    assert ctx.principal is not None
    found = await intent_repo.get_owned_with_order(ctx.session, ctx.principal, intent_id, lock=lock)
    if found is not None:
        return found
    intent = await intent_repo.get_owned(ctx.session, ctx.principal, intent_id, lock=lock)
    if intent.type != intents.DVP:
        raise InvalidRequest("Payment intent is not of type DELIVERY_VS_PAYMENT")
    order = await repository.order_for_intent(ctx.session, intent.id, lock=lock)
    return intent, order


async def open_dispute(ctx: Ctx, order_id: str) -> Dispute | None:
    stmt = select(Dispute).where(Dispute.conditional_payment_id == order_id)
    return (await ctx.session.execute(stmt)).scalar_one_or_none()


async def order_envelope(ctx: Ctx, order: ConditionalPayment) -> dict[str, Any]:
    data = order_data(
        order,
        ctx.settings,
        milestones=await repository.milestones_of(ctx.session, order.id),
        proofs=await repository.proofs_of(ctx.session, order.id),
        dispute=await open_dispute(ctx, order.id),
    )
    return {"id": order.id, "object": "conditional_payment", "data": data}
