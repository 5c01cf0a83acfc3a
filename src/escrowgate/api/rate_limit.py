"""Per-key fixed-window rate limits (one-minute windows).

In-process by default; with REDIS_URL set the counter lives in Redis so several API
processes enforce one limit (the optional extra `escrowgate[redis]`). If Redis does not
answer, each process falls back to its own counter for a while (logged) rather than
failing requests: a rate limit protects the service, it must not take it down.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog

from ..config import SettingsError

log = structlog.get_logger("escrowgate.rate_limit")
REDIS_MISSING = (
    "REDIS_URL is set but the redis package is not installed: "
    "pip install 'escrowgate[redis]'"
)
REDIS_RETRY_SECONDS = 5.0  # after a Redis failure, count in-process this long


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int


class RateLimiter:
    def __init__(
        self,
        *,
        test_limit: int,
        live_limit: int,
        public_limit: int = 0,
        enabled: bool = True,
        redis_url: str | None = None,
    ) -> None:
        # "public": keyless routes, counted per client address (an intent id is a
        # capability there: the limit makes guessing them slow as well as hopeless).
        self.limits = {"test": test_limit, "live": live_limit, "public": public_limit}
        self.enabled = enabled
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        self._redis_down_until = 0.0
        if enabled and redis_url:
            try:  # an optional extra: imported only when configured
                import redis.asyncio as aioredis
            except ImportError:
                raise SettingsError(REDIS_MISSING) from None

            self._redis = aioredis.Redis.from_url(
                redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )

    async def hit(self, key_id: str, mode: str) -> Decision | None:
        limit = self.limits.get(mode, 0)
        if not self.enabled or limit <= 0:
            return None
        window = int(time.time()) // 60
        reset_at = (window + 1) * 60
        count = None
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            count = await self._incr_redis(key_id, window)
        if count is None:
            count = self._incr_local(key_id, window)
        return Decision(
            allowed=count <= limit, limit=limit, remaining=max(0, limit - count), reset_at=reset_at
        )

    def _incr_local(self, key_id: str, window: int) -> int:
        with self._lock:
            if len(self._counts) > 100_000:  # drop old windows
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            count = self._counts.get((key_id, window), 0) + 1
            self._counts[(key_id, window)] = count
            return count

    async def _incr_redis(self, key_id: str, window: int) -> int | None:
        """The shared count, or None when Redis fails (then in-process for a while)."""
        from redis.exceptions import RedisError

        name = f"escrowgate:rl:{key_id}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, 120)
            count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning(
                "rate_limit_redis_unavailable",
                error=type(exc).__name__,
                fallback="in-process",
                retry_in_s=REDIS_RETRY_SECONDS,
            )
            return None
        return int(count)
