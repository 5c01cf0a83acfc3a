"""A peer, side by side (issue 14, item 4): another open-source escrow or milestone-payment
service measured in the same run on the closest equivalents of create milestone and GET.

Its code stays outside this repository: `BENCH_PEER_DIR` names a checkout of it. A peer is
measured through an adapter here (how to start it against PostgreSQL or SQLite, make an
account and an escrow, and which requests are the closest equivalents). No adapter exists
yet: bench/README.md ("A peer") says which candidates were tried and why none runs here,
so the report says "skipped" with the reason."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common import Config, log

# name of the checkout directory -> adapter (a callable(cfg, bench, dir) -> results)
ADAPTERS: dict[str, Any] = {}


def measure(cfg: Config, bench: Any) -> dict[str, Any]:
    raw = os.environ.get("BENCH_PEER_DIR", "")
    if not raw:
        reason = "skipped: no peer (BENCH_PEER_DIR is not set; see bench/README.md, A peer)"
        log(f"peer: {reason}")
        return {"skipped": reason}
    peer_dir = Path(raw)
    if not peer_dir.is_dir():
        reason = "skipped: no peer (BENCH_PEER_DIR does not name a directory)"
        log(f"peer: {reason}")
        return {"skipped": reason}
    adapter = ADAPTERS.get(peer_dir.name)
    if adapter is None:
        reason = (f"skipped: no peer adapter for a checkout named {peer_dir.name!r} "
                  "(bench/peer.py ADAPTERS; see bench/README.md, A peer)")
        log(f"peer: {reason}")
        return {"skipped": reason}
    return dict(adapter(cfg, bench, peer_dir))
