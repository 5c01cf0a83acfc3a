"""Wall-clock time in Unix seconds and the ISO-8601 form the API shows."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache


def now() -> int:
    return int(time.time())


def iso(ts: int | None) -> str | None:
    return None if ts is None else _iso(ts)


@lru_cache(maxsize=1024)  # an answer shows the same few instants several times over
def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_str(ts: int | None) -> str | None:
    """Contract-style instants are Unix seconds as decimal strings."""
    return None if ts is None else str(ts)
