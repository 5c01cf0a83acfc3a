"""Complete Milestone and payer approval (the use cases behind the routes)."""

from __future__ import annotations

from ..api.context import Ctx
from ..domain import milestones as rules
from ..domain import signatures
from ..errors import InvalidRequest, InvalidStatus, NotFound
from ..escrow import repository as escrow_repo
from ..escrow.render import milestone_data
from ..escrow.service import owned_order
from ..events.service import emit
from ..milestones.schemas import CompleteMilestone
from ..milestones.service import views
from ..models import ConditionalPayment, Milestone
from ..payment_intents.typed_data import release_approval_typed_data
from .schedules import MILESTONE_RELEASE_JOB, order_now, schedule_for_order
from .service import check_not_disputed, release_ready_milestones


def check_funded(order: ConditionalPayment) -> None:
    if order.funded_at is None:
        raise InvalidStatus("Conditional payment is not funded yet")


async def complete_milestone(
    ctx: Ctx, intent_id: str, milestone_id: str, body: CompleteMilestone
) -> Milestone:
    intent, order = await owned_order(ctx, intent_id, lock=True)
    rows = await escrow_repo.milestones_of(ctx.session, order.id)  # all: order rules need them
    milestone = next((m for m in rows if m.id == milestone_id), None)
    if milestone is None:
        raise NotFound("Milestone not found", param="milestoneId")
    check_funded(order)
    if order.order_status == "DISPUTED":
        raise InvalidStatus("Cannot complete a milestone while a dispute is open")
    rules.check_can_complete(
        views(rows),
        rules.MilestoneView(milestone.milestone_index, milestone.status, milestone.amount),
    )
    at = order_now(order)
    milestone.status = rules.COMPLETED
    milestone.completed_at = at
    milestone.completed_by = body.completedBy
    milestone.completion_proof = body.completionProof
    milestone.completion_proof_uri = body.completionProofURI
    milestone.updated_at = at
    emit(
        ctx.session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.completed",
        obj=milestone_data(milestone),
    )
    if order.auto_release:
        await release_ready_milestones(ctx.session, ctx.settings, intent, order, rows)
    else:
        schedule_for_order(
            ctx.session, order, MILESTONE_RELEASE_JOB, milestone.id, at + order.dispute_window
        )
    return milestone


def approval_typed_data(ctx: Ctx, intent_id: str, milestone: Milestone) -> dict[str, object]:
    return release_approval_typed_data(
        intent_id,
        milestone.id,
        milestone.amount,
        chain_id=ctx.settings.chain_id,
        contract_address=ctx.settings.contract_address,
    )


async def approve_milestone(
    ctx: Ctx, intent_id: str, milestone_id: str, signature: str
) -> Milestone:
    """The payer's EIP-712 approval of one milestone's release. The release happens
    now if every earlier milestone is released; otherwise when they are."""
    intent, order = await owned_order(ctx, intent_id, lock=True)
    milestone = await escrow_repo.milestone_of(ctx.session, order.id, milestone_id)
    check_funded(order)
    check_not_disputed(order)
    if milestone.status == rules.RELEASED:
        raise InvalidRequest("Milestone already released")
    if milestone.status != rules.COMPLETED:
        raise InvalidStatus(f"Milestone must be COMPLETED to approve (status: {milestone.status})")
    if not order.buyer_address:
        raise InvalidStatus("This order has no payer address to approve with")
    signatures.verify(
        approval_typed_data(ctx, intent.id, milestone), signature, order.buyer_address
    )
    milestone.approved_at = order_now(order)
    # The approval is recorded even when an earlier milestone still holds the release.
    emit(
        ctx.session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.approved",
        obj=milestone_data(milestone),
    )
    await release_ready_milestones(ctx.session, ctx.settings, intent, order)
    return milestone
