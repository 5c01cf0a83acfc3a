"""The rate limiter counts in fixed one-minute windows (api/rate_limit.py): a test
that expects the Nth request to be refused must not straddle a window's end."""

from __future__ import annotations

import asyncio
import time


async def away_from_window_edge(margin: float = 4.0) -> None:
    """Return at once, or after the next window began when fewer than `margin`
    seconds are left in this one."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.1)
