"""Milestone use cases: create (exactly as the docs' Create Milestone page), list,
get, complete (strictly in index order) and the payer's EIP-712 approval."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..db.constraints import violates_unique
from ..db.rows import insert_entity, update_entity, write_changes, write_now
from ..domain import ids, signatures
from ..domain.clock import now
from ..domain.errors import InvalidRequest
from ..events.service import emit
from ..models import MILESTONE_INDEX_UNIQUE, ConditionalPayment, Milestone, PaymentIntent
from . import model, repository
from .lifecycle import move_milestone
from .release import order_now, release_ready_milestones, schedule_for_order
from .render import milestone_approval_typed_data, milestone_object


async def create_milestone(
    session: AsyncSession,
    caller: Principal,
    intent_id: str,
    *,
    index: int,
    description: str | None,
    amount: int,
    percentage: Decimal | None,
) -> Milestone:
    intent, order, existing = await repository.order_and_milestones(
        session, caller, intent_id, for_index=index
    )
    percentage_bp = model.check_new_milestone(
        order, existing, index=index, amount=amount, percentage=percentage
    )
    at = now()
    milestone = Milestone(
        id=ids.new_id(ids.MILESTONE),
        conditional_payment_id=order.id,
        payment_intent_id=intent.id,
        merchant_id=order.merchant_id,
        currency=order.currency,
        milestone_index=index,
        description=description,
        amount=amount,
        percentage_bp=percentage_bp,
        status=model.MilestoneStatus.PENDING,
        added_after_funding=model.added_after_funding(order),
        created_at=at,
        updated_at=at,
    )
    insert_entity(session, milestone)
    update_entity(
        session,
        order,
        milestone_total=order.milestone_total + amount,
        milestone_count=order.milestone_count + 1,
        updated_at=at,
    )
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.created",
        obj=milestone_object(milestone),
    )
    try:  # all three now, in one statement: the unique index backs up the locked check
        await write_now(session)
    except IntegrityError as exc:
        if not violates_unique(exc, MILESTONE_INDEX_UNIQUE):
            raise  # any other constraint is a bug to see, not a duplicate index
        raise InvalidRequest(
            f"Milestone with index {index} already exists", param="milestoneIndex"
        ) from exc
    return milestone


async def list_milestones(
    session: AsyncSession, caller: Principal, intent_id: str
) -> list[Milestone]:
    _, order = await repository.owned_order(session, caller, intent_id)
    return model.in_index_order(await repository.milestones_of(session, order.id))


async def get_milestone(
    session: AsyncSession, caller: Principal, intent_id: str, milestone_id: str
) -> Milestone:
    _, order = await repository.owned_order(session, caller, intent_id)
    return await repository.milestone_of(session, order.id, milestone_id)


async def complete_milestone(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    milestone_id: str,
    *,
    completed_by: str,
    proof: str | None,
    proof_uri: str | None,
) -> Milestone:
    # All the milestones: the order rules need them.
    intent, order, rows = await repository.order_and_milestones(session, caller, intent_id)
    milestone = next((m for m in rows if m.id == milestone_id), None)
    if milestone is None:
        raise repository.milestone_not_found()
    model.check_can_complete(order, rows, milestone)
    at = order_now(order)
    milestone.completed_at = at
    milestone.completed_by = completed_by
    milestone.completion_proof = proof
    milestone.completion_proof_uri = proof_uri
    move_milestone(
        session, order, milestone, model.MilestoneStatus.COMPLETED, at, "milestone.completed"
    )
    if order.auto_release:
        await release_ready_milestones(session, settings, intent, order, rows)
    else:
        schedule_for_order(
            session, order, model.JobKind.MILESTONE_RELEASE, milestone.id, at + order.dispute_window
        )
    write_changes(session)  # queued INSERTs and UPDATEs, sent with the events at commit
    return milestone


async def approve_milestone(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    milestone_id: str,
    signature: str,
) -> Milestone:
    """The payer's EIP-712 approval of one milestone's release. The release happens
    now if every earlier milestone is released; otherwise when they are."""
    intent, order = await repository.owned_order(session, caller, intent_id, lock=True)
    milestone = await repository.milestone_of(session, order.id, milestone_id)
    payer = model.check_can_approve_milestone(order, milestone)
    signatures.verify(milestone_approval_typed_data(milestone, settings), signature, payer)
    await record_approval(
        session, settings, intent, order, milestone, model.Approver.PAYER_SIGNATURE
    )
    return milestone


async def record_approval(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    order: ConditionalPayment,
    milestone: Milestone,
    approver: model.Approver,
) -> None:
    """An authorised approval of a COMPLETED milestone (the caller checked who may
    approve, under the intent and order locks): recorded, then every milestone that
    is releasable now is released, in index order."""
    milestone.approved_at = order_now(order)
    milestone.approved_by = approver
    # The approval is recorded even when an earlier milestone still holds the release.
    emit(
        session,
        merchant_id=order.merchant_id,
        mode=order.mode,
        type="milestone.approved",
        obj=milestone_object(milestone),
    )
    await release_ready_milestones(session, settings, intent, order)
