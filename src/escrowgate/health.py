"""Liveness and readiness. /health: the process answers. /ready: it can serve: the
database answers, is migrated to this code's head, and the in-process worker (when
this process runs one) has looped recently. A load balancer routes on /ready."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from .config import Settings
from .db.migrate import SchemaGate
from .worker.runner import Heartbeat


def install_health(
    app: FastAPI, settings: Settings, gate: SchemaGate, heartbeat: Heartbeat
) -> None:
    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        checks: dict[str, object] = {}
        ok = True
        try:
            migrated = await gate.check(force=True)
            checks["database"] = "ok"
            checks["migrations"] = {
                "status": "ok" if migrated else "pending",
                "current": gate.current,
                "head": gate.head,
            }
            ok = migrated
        except Exception as exc:  # unreachable, wrong credentials...
            checks["database"] = f"unreachable: {type(exc).__name__}"
            ok = False
        if settings.worker_in_process:
            stale_after = max(10.0, settings.worker_poll_seconds * 5)
            age = time.monotonic() - heartbeat.last if heartbeat.last else None
            fresh = age is not None and age <= stale_after
            checks["worker"] = "ok" if fresh else "no heartbeat"
            ok = ok and fresh
        else:
            checks["worker"] = "external (escrowgate worker processes)"
        body = {"status": "ready" if ok else "not_ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)
