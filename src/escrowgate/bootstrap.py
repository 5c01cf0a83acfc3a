"""The composition root: the one place that knows every aggregate. It wires their
routers into the API and their job handlers into the worker; nothing below it
registers anything by being imported."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from .api import idempotency
from .events.routes import router as events_router
from .ledger.routes import router as ledger_router
from .pages import site as pages
from .payments.jobs import HANDLERS as PAYMENT_JOBS
from .payments.payer_routes import router as payer_router
from .payments.routes import router as payments_router
from .webhooks import delivery as webhook_delivery
from .webhooks.routes import router as webhooks_router
from .worker.jobs import Handlers
from .worker.runner import Housekeeping, Loop


def job_handlers() -> Handlers:
    return dict(PAYMENT_JOBS)


def housekeeping() -> Sequence[Housekeeping]:
    """Periodic clean-ups the worker runs: idempotency answers are kept 24 hours."""
    return (idempotency.purge_expired,)


def worker_loops() -> Sequence[Loop]:
    """Loops the worker process runs beside the job loop: webhook delivery."""
    return (Loop("webhooks", webhook_delivery.run_forever, webhook_delivery.run_once),)


def api_router() -> APIRouter:
    router = APIRouter()
    # Literal paths (/payment-intents/account/...) before the /{intent_id} ones.
    for part in (ledger_router, payer_router, payments_router, events_router, webhooks_router):
        router.include_router(part)
    return router


def install_pages(app: FastAPI) -> None:
    """The hosted payment page, the merchant dashboard and the offline /docs."""
    pages.install(app)
