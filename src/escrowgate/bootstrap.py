"""The worker's composition root: every aggregate's job handlers, the side loops and
the housekeeping, handed to the generic runner. It imports no HTTP code, so a worker
process loads none (the API's routers and pages are composed in app.py). Nothing
below registers anything by being imported."""

from __future__ import annotations

from collections.abc import Sequence

from .db.housekeeping import purge_idempotency_records
from .payments.jobs import HANDLERS as PAYMENT_JOBS
from .webhooks import delivery as webhook_delivery
from .worker.jobs import Handlers
from .worker.runner import Housekeeping, Loop


def job_handlers() -> Handlers:
    return dict(PAYMENT_JOBS)


def housekeeping() -> Sequence[Housekeeping]:
    """Periodic clean-ups the worker runs: idempotency answers are kept 24 hours."""
    return (purge_idempotency_records,)


def worker_loops() -> Sequence[Loop]:
    """Loops the worker process runs beside the job loop: webhook delivery."""
    return (Loop("webhooks", webhook_delivery.run_forever, webhook_delivery.run_once),)
