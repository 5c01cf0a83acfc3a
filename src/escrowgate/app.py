"""FastAPI application factory: the API's routes under /v1 (and /api/v1 through
the edge), the edge middleware, error handlers, and (on SQLite) the in-process
worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from . import bootstrap
from .api import handlers
from .api.admission import FairGate, admitted
from .api.cors import CorsMiddleware
from .api.edge import EdgeMiddleware
from .api.metrics import MetricsMiddleware
from .api.rate_limit import RateLimiter
from .api.routing import install_route_index, operation_id
from .auth.cache import KeyCache, RevocationListener
from .config import Settings, get_settings
from .db.engine import kept_connections, make_engine, make_session_factory
from .db.migrate import SchemaGate
from .events.routes import router as events_router
from .health import install_health
from .ledger.routes import router as ledger_router
from .logging_setup import configure_logging
from .metrics import track_pool, untrack_pool
from .openapi import install as install_openapi
from .pages import site as pages
from .payments.payer_routes import router as payer_router
from .payments.routes import router as payments_router
from .webhooks.routes import router as webhooks_router
from .worker.jobs import run_due
from .worker.runner import Heartbeat, run_forever, start_when_ready

DESCRIPTION = """
Open-source, API-compatible implementation of the Finternet Payment Gateway's
programmable escrow. Every route is served under `/v1` and, identically, under
`/api/v1`. Authenticate with `X-API-Key: sk_test_...` or `Authorization: Bearer ...`.
Every error is `{"error": {"code", "message", "type", "param"?}}`. POST requests
accept an `Idempotency-Key` header.
"""


def _api_routes() -> list[BaseRoute]:
    """The API's composition: every aggregate's routes (each already under /v1), in
    one flat list for the application's own router (api/routing.py says why)."""
    # Literal paths (/payment-intents/account/...) before the /{intent_id} ones.
    parts = (ledger_router, payer_router, payments_router, events_router, webhooks_router)
    return [route for part in parts for route in part.routes]


# FastAPI's native OpenTelemetry: off. escrowgate's metrics are Prometheus
# (api/metrics.py) and its logs structlog; with it on, every request asks the
# OpenTelemetry globals (and the environment) whether a provider is configured
# (docs/architecture.md, "Fewer Python calls per request"). Releases before it have
# none to turn off.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)

_heap_settled = False


def settle_heap() -> None:
    """Once per process, when the app starts serving: everything alive then (modules,
    the app, mappers, prebuilt statements: hundreds of thousands of objects) moves to
    the garbage collector's permanent generation, so the collections that requests'
    allocations trigger never scan it again; and young collections run less often
    (a request allocates a few thousand objects, nearly all freed by reference
    counting). Measured in bench/: see docs/architecture.md, "Where the CPU goes"."""
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pgbouncer=settings.db_pgbouncer,
    )
    session_factory = make_session_factory(engine)
    # DATABASE_READ_URL: a standby for the list routes that tolerate replica lag
    # (api/context.py: replica_ctx); None: they read the primary like every route.
    read_engine = (
        make_engine(
            settings.database_read_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pgbouncer=settings.db_pgbouncer,
        )
        if settings.database_read_url
        else None
    )
    if settings.metrics_enabled:
        track_pool(engine.sync_engine)
    job_handlers = bootstrap.job_handlers()
    schema_gate = SchemaGate(engine)
    heartbeat = Heartbeat()
    # API-key lookups cached per process, kept honest by LISTEN/NOTIFY (auth/cache.py):
    # PostgreSQL only, and not behind PgBouncer in transaction mode (no LISTEN there).
    key_cache = KeyCache()
    key_listener = (
        None
        if settings.is_sqlite or settings.db_pgbouncer
        else RevocationListener(engine, key_cache)
    )
    # Requests admitted at once (api/admission.py): the connections the pool keeps, less
    # the listener's and the in-process worker's.
    admission = FairGate(
        admitted(
            kept_connections(engine, settings.db_pool_size),
            reserved=(key_listener is not None) + (2 if settings.worker_in_process else 0),
        )
    )

    async def run_due_jobs() -> int:
        return await run_due(session_factory, settings, job_handlers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settle_heap()
        tasks: list[asyncio.Task[Any]] = []
        if key_listener is not None:
            tasks.append(asyncio.create_task(key_listener.run()))
        if settings.worker_in_process:
            tasks.append(
                asyncio.create_task(
                    run_forever(
                        session_factory,
                        settings,
                        job_handlers,
                        bootstrap.housekeeping(settings),
                        ready=schema_gate.check,
                        heartbeat=heartbeat,
                    )
                )
            )
            tasks += [
                asyncio.create_task(
                    start_when_ready(loop, session_factory, settings, schema_gate.check)
                )
                for loop in bootstrap.worker_loops()
            ]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if settings.metrics_enabled:
            untrack_pool(engine.sync_engine)
        await engine.dispose()
        if read_engine is not None:
            await read_engine.dispose()

    app = FastAPI(
        title="escrowgate",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by the pages (pages/site.py)
        redoc_url=None,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        generate_unique_id_function=operation_id,
        **_NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.job_handlers = job_handlers
    app.state.key_cache = key_cache
    app.state.run_due_jobs = run_due_jobs  # the test clock runs due jobs as a worker would
    # Read-only requests: no BEGIN/ROLLBACK around their SELECTs (READ COMMITTED gives
    # every statement its own snapshot anyway). SQLite keeps its BEGIN IMMEDIATE. Behind
    # PgBouncer in transaction mode they keep BEGIN too: outside a transaction the pooler
    # may run a statement's Bind on another server connection than its Parse.
    app.state.read_session_factory = (
        session_factory
        if settings.is_sqlite or settings.db_pgbouncer
        else make_session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
    )
    app.state.replica_session_factory = (
        None
        if read_engine is None
        else make_session_factory(
            read_engine
            if settings.db_pgbouncer
            else read_engine.execution_options(isolation_level="AUTOCOMMIT")
        )
    )
    handlers.install(app)
    api_routes = _api_routes()
    # Under /v1; /api/v1 (the reference backend's prefix) reaches the same routes
    # through the edge (api/edge.py sets the root path), and the OpenAPI document
    # lists them once, under /v1, and says so in its description.
    app.router.routes.extend(api_routes)
    install_route_index(app.router)  # api/routing.py: only the routes that can match

    install_openapi(app, api_routes)  # security schemes, examples
    install_health(app, settings, schema_gate, heartbeat)
    pages.install(app)  # the hosted payment page, the dashboard, the offline /docs

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app.add_middleware(
        EdgeMiddleware,
        session_factory=lambda: app.state.session_factory,
        read_session_factory=lambda: app.state.read_session_factory,
        max_body_bytes=settings.max_body_bytes,
        schema_gate=schema_gate,
        key_cache=key_cache,
        admission=admission,
        rate_limiter=RateLimiter(
            test_limit=settings.rate_limit_test_per_minute,
            live_limit=settings.rate_limit_live_per_minute,
            public_limit=settings.rate_limit_public_per_minute,
            enabled=settings.rate_limit_enabled,
            redis_url=settings.redis_url,
        ),
    )
    # Outermost: preflights are answered before the edge authenticates anything.
    app.add_middleware(CorsMiddleware, origins=settings.cors_origins)
    if settings.metrics_enabled:  # outermost: its latency is the whole answer's
        app.add_middleware(
            MetricsMiddleware,
            session_factory=lambda: app.state.read_session_factory,
        )
    return app
