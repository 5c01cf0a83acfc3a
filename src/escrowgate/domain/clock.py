"""Wall-clock time in Unix seconds and the ISO-8601 form the API shows."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> int:
    return int(time.time())


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_str(ts: int | None) -> str | None:
    """Contract-style instants are Unix seconds as decimal strings."""
    return None if ts is None else str(ts)
