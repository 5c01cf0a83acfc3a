"""The worker's composition root: every aggregate's job handlers, the side loops and
the housekeeping, handed to the generic runner. It imports no HTTP code, so a worker
process loads none (the API's routers and pages are composed in app.py). Nothing
below registers anything by being imported."""

from __future__ import annotations

from collections.abc import Sequence

from .config import Settings
from .db.housekeeping import events_retention, purge_idempotency_records
from .payments.jobs import HANDLERS as PAYMENT_JOBS
from .webhooks import delivery as webhook_delivery
from .worker.jobs import Handlers
from .worker.runner import Housekeeping, Loop


def job_handlers() -> Handlers:
    return dict(PAYMENT_JOBS)


def housekeeping(settings: Settings | None = None) -> Sequence[Housekeeping]:
    """Periodic clean-ups the worker runs: idempotency answers are kept 24 hours, events
    EVENTS_RETENTION_DAYS (the ledger forever)."""
    tasks: list[Housekeeping] = [purge_idempotency_records]
    events = events_retention(settings.events_retention_days) if settings else None
    if events is not None:
        tasks.append(events)
    return tuple(tasks)


def worker_loops() -> Sequence[Loop]:
    """Loops the worker process runs beside the job loop: webhook delivery."""
    return (Loop("webhooks", webhook_delivery.run_forever, webhook_delivery.run_once),)
