"""Milestone use cases: create (exactly as the docs' Create Milestone page), list, get."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from ..api.context import Ctx
from ..domain import ids
from ..domain import milestones as rules
from ..domain.clock import now
from ..domain.money import parse_amount
from ..errors import InvalidRequest
from ..escrow import repository as escrow_repo
from ..escrow.render import milestone_data
from ..escrow.service import owned_order
from ..events.service import emit
from ..models import ConditionalPayment, Milestone
from .schemas import CreateMilestone


def views(rows: list[Milestone]) -> list[rules.MilestoneView]:
    return [rules.MilestoneView(m.milestone_index, m.status, m.amount) for m in rows]


def order_view(order: ConditionalPayment) -> rules.OrderView:
    return rules.OrderView(
        release_type=order.release_type,
        order_status=order.order_status,
        amount=order.amount,
        refunded_amount=order.refunded_amount,
        milestone_total=order.milestone_total,
        milestone_count=order.milestone_count,
    )


async def create_milestone(ctx: Ctx, intent_id: str, body: CreateMilestone) -> Milestone:
    amount = parse_amount(body.amount)
    intent, order = await owned_order(ctx, intent_id, lock=True)
    existing = await escrow_repo.milestones_for_new_index(
        ctx.session, order.id, body.milestoneIndex
    )
    percentage_bp = rules.check_new_milestone(
        order_view(order),
        views(existing),
        index=body.milestoneIndex,
        amount=amount,
        percentage=body.percentage,
    )
    at = now()
    milestone = Milestone(
        id=ids.new_id(ids.MILESTONE),
        conditional_payment_id=order.id,
        payment_intent_id=intent.id,
        merchant_id=order.merchant_id,
        milestone_index=body.milestoneIndex,
        description=body.description,
        amount=amount,
        percentage_bp=percentage_bp,
        status=rules.PENDING,
        created_at=at,
        updated_at=at,
    )
    ctx.session.add(milestone)
    order.milestone_total += amount
    order.milestone_count += 1
    order.updated_at = at
    try:
        await ctx.session.flush()
    except IntegrityError as exc:  # the unique index backs up the locked check
        raise InvalidRequest(
            f"Milestone with index {body.milestoneIndex} already exists", param="milestoneIndex"
        ) from exc
    emit(
        ctx.session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.created",
        obj=milestone_data(milestone),
    )
    return milestone


async def list_milestones(ctx: Ctx, intent_id: str) -> list[Milestone]:
    _, order = await owned_order(ctx, intent_id)
    return await escrow_repo.milestones_of(ctx.session, order.id)


async def get_milestone(ctx: Ctx, intent_id: str, milestone_id: str) -> Milestone:
    _, order = await owned_order(ctx, intent_id)
    return await escrow_repo.milestone_of(ctx.session, order.id, milestone_id)
