"""Durable time: work due later is a row with a due time. A worker claims one due
row with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL) and runs it in the same
transaction as its effects, so a crash between claim and commit rolls both back:
nothing is lost and nothing runs twice."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..config import Settings
from ..domain import ids
from ..domain.clock import now
from ..logging_setup import unfiltered_logger
from ..metrics import JOBS_RUN
from ..models import Job

log = structlog.get_logger("escrowgate.worker")
errors_log = unfiltered_logger("escrowgate.worker")

Handler = Callable[[AsyncSession, Settings, Job], Awaitable[None]]
# kind -> handler; built by the composition root (bootstrap.py), passed in explicitly.
Handlers = Mapping[str, Handler]
MAX_ATTEMPTS = 10


def schedule(
    session: AsyncSession,
    *,
    kind: str,
    merchant_id: str,
    mode: str,
    target_id: str,
    due_at: int,
    order_id: str | None = None,
) -> Job:
    job = Job(
        id=ids.new_id(ids.JOB),
        kind=kind,
        merchant_id=merchant_id,
        mode=mode,
        target_id=target_id,
        order_id=order_id,
        due_at=due_at,
        status="PENDING",
        attempts=0,
        created_at=now(),
    )
    session.add(job)
    return job


async def cancel_jobs(session: AsyncSession, order_id: str, kinds: tuple[str, ...]) -> None:
    """Cancel an order's pending jobs of these kinds. A job a worker is running right
    now is skipped (SKIP LOCKED), not waited for: the API holds the order lock the
    worker wants next, so waiting would deadlock; the handler re-checks state under
    that lock and does nothing."""
    ids = (
        (
            await session.execute(
                select(Job.id)
                .where(Job.order_id == order_id, Job.kind.in_(kinds), Job.status == "PENDING")
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if ids:
        await session.execute(
            update(Job).where(Job.id.in_(ids)).values(status="CANCELLED", finished_at=now())
        )


async def shift_jobs(session: AsyncSession, order_id: str, seconds: int) -> None:
    """Test clock: make an order's pending jobs due `seconds` earlier (skipping any
    a worker is running, for the same reason as cancel_jobs)."""
    ids = (
        (
            await session.execute(
                select(Job.id)
                .where(Job.order_id == order_id, Job.status == "PENDING")
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    if ids:
        await session.execute(
            update(Job).where(Job.id.in_(ids)).values(due_at=Job.due_at - seconds)
        )


async def wait_for_due_jobs(session: AsyncSession, order_id: str, at: int) -> int:
    """Wait until no other worker is running one of this order's jobs due by `at`
    (a plain FOR UPDATE waits for their commit), and count those still pending: due,
    but run by nobody. The caller ends its transaction before running them."""
    rows = await session.execute(
        select(Job.id)
        .where(Job.order_id == order_id, Job.status == "PENDING", Job.due_at <= at)
        .with_for_update()
    )
    return len(rows.all())


async def _claim(session: AsyncSession, at: int) -> Job | None:
    stmt = (
        select(Job)
        .where(Job.status == "PENDING", Job.due_at <= at)
        .order_by(Job.due_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def run_one(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings, handlers: Handlers
) -> bool:
    """Claim and run one due job. True when a job was found.

    The handler runs inside a savepoint: if it fails, its effects are rolled back
    but the claim (row lock) is kept while the failure and back-off are recorded,
    so no other worker can pick the job up in between."""
    async with session_factory() as session:
        job = await _claim(session, now())
        if job is None:
            # Nothing due: leaving the block closes the session, which rolls back and
            # runs to completion even if the worker is cancelled meanwhile (shutdown).
            # An explicit rollback here could be cut off halfway by that cancellation,
            # and the pool then logged the interrupted reset with a trace.
            return False
        job_id, kind = job.id, job.kind
        about = {
            "job_id": job_id,
            "kind": kind,
            "target_id": job.target_id,
            "order_id": job.order_id,
        }
        started = time.perf_counter()
        try:
            async with session.begin_nested():
                await handlers[kind](session, settings, job)
            job.status = "DONE"
            job.finished_at = now()
            outcome = "done"
        except Exception as exc:
            errors_log.error("job_failed", **about, exc_info=exc)
            session.expire_all()  # drop what the rolled-back handler changed in memory
            job = await session.get(Job, job_id)
            assert job is not None
            job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if job.attempts + 1 >= MAX_ATTEMPTS:
                job.status = "FAILED"
                job.finished_at = now()
                outcome = "failed"
            else:
                job.due_at = now() + min(3600, 2 ** (job.attempts + 1))
                outcome = "retry"
        job.attempts += 1
        await session.commit()
    JOBS_RUN.labels(kind, outcome).inc()
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    log.info("job", **about, outcome=outcome, attempt=job.attempts, duration_ms=duration_ms)
    return True


async def run_due(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    handlers: Handlers,
    *,
    limit: int = 500,
) -> int:
    count = 0
    while count < limit and await run_one(session_factory, settings, handlers):
        count += 1
    return count


async def list_jobs(session: AsyncSession, status: str, limit: int) -> list[Job]:
    """Jobs of one status, newest first (the operator's `jobs list`)."""
    stmt = (
        select(Job)
        .where(Job.status == status)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def retry_job(session: AsyncSession, job_id: str) -> Job:
    """A FAILED job due now again, with a fresh set of attempts (its last error is kept
    until it runs). Raises LookupError for an unknown job or one not FAILED."""
    job = (
        await session.execute(select(Job).where(Job.id == job_id).with_for_update())
    ).scalar_one_or_none()
    if job is None:
        raise LookupError(f"no such job: {job_id}")
    if job.status != "FAILED":
        raise LookupError(f"job {job_id} is {job.status}: only a FAILED job can be retried")
    job.status = "PENDING"
    job.attempts = 0
    job.due_at = now()
    job.finished_at = None
    return job
