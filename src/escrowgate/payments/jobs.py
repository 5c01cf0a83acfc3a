"""The payment aggregate's durable timers, one handler per job kind. Each locks
intent then order (the API's order), asks the model whether there is still
something to do, and is a no-op when there is not. Exported as one dict, wired
into the worker by the composition root (bootstrap.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..models import ConditionalPayment, Job, PaymentIntent
from ..worker.jobs import Handler
from . import model, repository
from .disputes import dispute_timed_out
from .funding import confirm_on_chain
from .refunds import refund_held
from .release import order_now, release_order_in_full, release_ready_milestones
from .settlement import complete_settlement


async def _locked(
    session: AsyncSession, job: Job
) -> tuple[PaymentIntent, ConditionalPayment] | None:
    return await repository.lock_by_order_id(session, job.order_id) if job.order_id else None


async def chain_confirm(session: AsyncSession, settings: Settings, job: Job) -> None:
    intent = await repository.intent_for_job(session, job.target_id)
    if intent is not None:
        await confirm_on_chain(session, settings, intent)


async def milestone_release(session: AsyncSession, settings: Settings, job: Job) -> None:
    """A completed milestone's dispute window passed: release what is ready."""
    if locked := await _locked(session, job):
        await release_ready_milestones(session, settings, *locked)


async def order_release(session: AsyncSession, settings: Settings, job: Job) -> None:
    """The dispute window after delivery passed without a dispute."""
    if locked := await _locked(session, job):
        intent, order = locked
        if model.delivery_window_passed(order, order.delivered_at, order_now(order)):
            await release_order_in_full(
                session, settings, intent, order, reason=model.ReleaseReason.WINDOW
            )


async def time_lock(session: AsyncSession, settings: Settings, job: Job) -> None:
    if locked := await _locked(session, job):
        intent, order = locked
        if model.time_lock_due(order, order.time_lock_until, order_now(order)):
            await release_order_in_full(
                session, settings, intent, order, reason=model.ReleaseReason.TIME_LOCK
            )


async def delivery_deadline(session: AsyncSession, settings: Settings, job: Job) -> None:
    """No proof by the deadline: the payer gets the held money back."""
    if locked := await _locked(session, job):
        intent, order = locked
        if model.delivery_deadline_missed(order, order.delivery_deadline, order_now(order)):
            await refund_held(
                session, settings, intent, order, model.held(order), reason="delivery_deadline"
            )


async def dispute_timeout(session: AsyncSession, settings: Settings, job: Job) -> None:
    if locked := await _locked(session, job):
        await dispute_timed_out(session, settings, *locked)


async def settle(session: AsyncSession, settings: Settings, job: Job) -> None:
    """The mock off-ramp confirms a payout."""
    locked = await repository.lock_settlement(session, job.target_id)
    if locked is not None:
        settlement, intent, order = locked
        await complete_settlement(session, settings, settlement, intent, order)


HANDLERS: dict[str, Handler] = {
    model.JobKind.CHAIN_CONFIRM: chain_confirm,
    model.JobKind.MILESTONE_RELEASE: milestone_release,
    model.JobKind.ORDER_RELEASE: order_release,
    model.JobKind.TIME_LOCK: time_lock,
    model.JobKind.DELIVERY_DEADLINE: delivery_deadline,
    model.JobKind.DISPUTE_TIMEOUT: dispute_timeout,
    model.JobKind.SETTLE: settle,
}
assert set(HANDLERS) == set(model.JobKind), "every job kind has exactly one handler"
