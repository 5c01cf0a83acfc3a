"""What funding sets in motion: the durable timers of each release type."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain.clock import now
from ..models import ConditionalPayment, PaymentIntent
from ..worker.jobs import schedule

TIME_LOCK_JOB = "time_lock_release"
DELIVERY_DEADLINE_JOB = "delivery_deadline"
MILESTONE_RELEASE_JOB = "milestone_release"
ORDER_RELEASE_JOB = "order_release"
DISPUTE_TIMEOUT_JOB = "dispute_timeout"


def wall_time(order: ConditionalPayment, order_time: int) -> int:
    """An instant on the order's (test) clock as a wall-clock due time."""
    return order_time - order.clock_offset


def order_now(order: ConditionalPayment) -> int:
    return now() + order.clock_offset


def schedule_for_order(
    session: AsyncSession, order: ConditionalPayment, kind: str, target_id: str, order_time: int
) -> None:
    schedule(
        session,
        kind=kind,
        merchant_id=order.merchant_id,
        mode=order.mode,
        target_id=target_id,
        order_id=order.id,
        due_at=wall_time(order, order_time),
    )


async def schedule_after_funding(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, order: ConditionalPayment
) -> None:
    if order.release_type == "TIME_LOCKED" and order.time_lock_until is not None:
        if order.time_lock_until <= order_now(order):
            from .service import release_order_in_full

            await release_order_in_full(session, settings, intent, order, reason="time_lock")
        else:
            schedule_for_order(session, order, TIME_LOCK_JOB, order.id, order.time_lock_until)
    elif order.release_type in ("DELIVERY_PROOF", "AUTO_RELEASE") and order.delivery_deadline:
        schedule_for_order(session, order, DELIVERY_DEADLINE_JOB, order.id, order.delivery_deadline)
