"""The metrics middleware's cost per request, in microseconds of CPU.

The same ASGI call (an inner app that answers 200 from a matched route, as FastAPI
leaves it in the scope) is timed with and without MetricsMiddleware around it, in
interleaved rounds; the difference of the best rounds is the middleware's own cost.
`multi` sets PROMETHEUS_MULTIPROC_DIR first (values in memory-mapped files, as with
`escrowgate serve --workers N`).

    PYTHONPATH=src .venv/bin/python bench/metrics_overhead.py [single|multi] [N]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from typing import Any

MODE = sys.argv[1] if len(sys.argv) > 1 else "single"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
ROUNDS = 7
if MODE == "multi":
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="escrowgate-bench-")

from escrowgate.api.metrics import MetricsMiddleware  # noqa: E402 (after the variable)


class Route:
    path = "/payment-intents/{intent_id}"


ROUTE = Route()
START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b"{}"}


async def inner(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = ROUTE
    await send(START)
    await send(BODY)


async def receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    return None


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/v1/payment-intents/intent_x"}


async def timed(app: Any) -> float:
    started = time.process_time()
    for _ in range(N):
        await app(scope(), receive, send)
    return time.process_time() - started


async def main() -> None:
    wrapped = MetricsMiddleware(inner, session_factory=lambda: None)  # type: ignore[arg-type,return-value]
    bare, with_mw = [], []
    for _ in range(ROUNDS):
        bare.append(await timed(inner))
        with_mw.append(await timed(wrapped))
    cost = (min(with_mw) - min(bare)) / N * 1e6
    print(
        f"mode={MODE} N={N} rounds={ROUNDS}: bare {min(bare) / N * 1e6:.2f} us/request, "
        f"with metrics {min(with_mw) / N * 1e6:.2f} us/request, middleware {cost:.2f} us"
    )


try:
    asyncio.run(main())
finally:
    if MODE == "multi":
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
