"""The edge's admission gate (api/admission.py): a freed slot goes to the oldest
waiter, never to a request that arrived later; a cancelled waiter loses nothing."""

from __future__ import annotations

import asyncio

import pytest

from escrowgate.api.admission import FairGate


async def test_slots_are_handed_over_in_arrival_order_and_newcomers_queue_behind():
    gate = FairGate(1)
    order: list[str] = []
    release_first = asyncio.Event()

    async def holder() -> None:
        async with gate:
            order.append("first")
            await release_first.wait()

    async def later(name: str) -> None:
        async with gate:
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(later(f"w{i}")) for i in range(3)]
    await asyncio.sleep(0)
    assert gate.waiting == 3
    release_first.set()
    # A newcomer arriving right as the slot frees must not overtake the waiters.
    await asyncio.sleep(0)
    newcomer = asyncio.create_task(later("newcomer"))
    await asyncio.gather(first, *waiters, newcomer)
    assert order == ["first", "w0", "w1", "w2", "newcomer"]


async def test_at_most_limit_inside_at_once():
    gate = FairGate(3)
    inside = 0
    peak = 0

    async def work() -> None:
        nonlocal inside, peak
        async with gate:
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 3


async def test_a_cancelled_waiter_gives_up_its_place_and_the_slot_is_not_lost():
    gate = FairGate(1)
    hold = asyncio.Event()

    async def holder() -> None:
        async with gate:
            await hold.wait()

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(gate.__aenter__())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert gate.waiting == 0
    hold.set()
    await h
    async with gate:  # the one slot is free again
        pass


def test_a_gate_needs_at_least_one_slot():
    with pytest.raises(ValueError):
        FairGate(0)
