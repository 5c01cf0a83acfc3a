"""Admission in arrival order: at most as many requests inside a process as its
database pool has connections for; the rest wait first come, first served.

Why: SQLAlchemy's pool hands a returned connection to whichever coroutine asks
next, so a request that has just arrived can take it ahead of one that has been
waiting (barging). With more requests in flight than connections, a few unlucky
requests lost that race for seconds: GET intent at 64 connections on 2 processes
(pool 16 each) had a p50 of 31 ms and a p99 of 5.9 s (bench/REPORT.md). Waiting here
instead, in a queue that hands each freed slot to the oldest waiter, bounds every
request's wait by the ones ahead of it; the pool itself never makes anyone wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


def admitted(pool_size: int, *, reserved: int) -> int:
    """Requests a process lets in at once: the connections its pool keeps, less those
    held outside requests (`reserved`: the key listener's, the in-process worker's two
    loops'). Not the overflow (DB_MAX_OVERFLOW): the pool closes an overflow connection
    as soon as it is returned, so requests that counted on it opened and closed
    PostgreSQL connections all the time under load (a backend forked, a login, its
    caches warmed, for one request: 45-51 new connections in 8 s at c=64 on 2
    processes; docs/architecture.md, *Admission and the pool*). The overflow is for
    what runs outside the gate. When the pool keeps no more than `reserved`, one
    request at a time is let in, on an overflow connection."""
    return max(1, pool_size - reserved)


class FairGate:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        # The slot goes straight to the oldest waiter: a newcomer cannot take it first.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
