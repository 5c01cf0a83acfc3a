"""Reading a conditional payment whole, and the test clock that moves its time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..domain.clock import now
from ..models import ConditionalPayment, DeliveryProof, Dispute, Milestone
from ..worker.jobs import shift_jobs, wait_for_due_jobs
from . import repository


@dataclass(frozen=True)
class OrderView:
    order: ConditionalPayment
    milestones: list[Milestone]
    proofs: list[DeliveryProof]
    dispute: Dispute | None


async def load_view(session: AsyncSession, order: ConditionalPayment) -> OrderView:
    return OrderView(
        order=order,
        milestones=await repository.milestones_of(session, order.id),
        proofs=await repository.proofs_of(session, order.id),
        dispute=await repository.dispute_of(session, order.id),
    )


async def get_order(session: AsyncSession, caller: Principal, intent_id: str) -> OrderView:
    _, order = await repository.owned_order(session, caller, intent_id)
    return await load_view(session, order)


async def advance_clock(
    session: AsyncSession,
    caller: Principal,
    intent_id: str,
    seconds: int,
    run_due_jobs: Callable[[], Awaitable[int]],
) -> OrderView:
    """Test clock: move this order's time forward by `seconds`, commit, run every job
    now due (in their own transactions, as the worker would), and read the result."""
    _, order = await repository.owned_order(session, caller, intent_id, lock=True)
    order_id = order.id
    order.clock_offset += seconds
    await shift_jobs(session, order.id, seconds)
    await session.commit()  # the jobs below must see the moved clock
    # Answer after every job that was due at the new time has run, whoever ran it:
    # another worker may hold one (SKIP LOCKED let ours pass it by), so wait for it.
    for _ in range(MAX_ROUNDS):
        await run_due_jobs()
        still_due = await wait_for_due_jobs(session, order_id, now())
        await session.commit()  # release the rows: a worker may run what is left
        if not still_due:
            break
    session.expire_all()  # the jobs changed rows in their own transactions
    return await get_order(session, caller, intent_id)


MAX_ROUNDS = 5  # a job that keeps failing is retried later, not waited on forever
