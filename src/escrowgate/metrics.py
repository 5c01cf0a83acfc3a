"""Prometheus metrics (docs/metrics.md): the counters and gauges every layer records to.

Multi-process: when PROMETHEUS_MULTIPROC_DIR is set (by `escrowgate serve --workers N`,
or by the operator for the API and `escrowgate worker` together), each process writes
its values to files in that directory and /metrics sums them over the processes. The
variable must be set before this module is first imported: prometheus-client chooses
its value store at import time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series beside every counter

HTTP_REQUESTS = Counter(
    "escrowgate_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "escrowgate_http_request_duration_seconds",
    "Time from the first byte of the request to the end of the answer, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS_RUN = Counter(
    "escrowgate_jobs_run",
    "Jobs run by a worker, by kind and outcome (done; retry: failed, due again later; "
    "failed: failed for the last time, left for an operator)",
    ["kind", "outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "escrowgate_webhook_delivery_attempts",
    "Webhook delivery attempts, by outcome (succeeded; retry: failed, due again later; "
    "failed: given up)",
    ["outcome"],
)
IDEMPOTENT_REPLAYS = Counter(
    "escrowgate_idempotent_replays",
    "Requests answered with the stored answer of an earlier request with the same Idempotency-Key",
)
OPTIMISTIC_RERUNS = Counter(
    "escrowgate_optimistic_reruns",
    "Requests run again under locks because the payment intent they read unlocked "
    "changed before their guarded write (nothing of the first run was written)",
)
RATE_LIMITED = Counter(
    "escrowgate_rate_limit_rejections",
    "Requests refused with 429, by limit (test, live: per API key; public: per client address)",
    ["limit"],
)
DB_POOL_CHECKED_OUT = Gauge(
    "escrowgate_db_pool_checked_out",
    "Database connections in use (checked out of the pools of the live processes)",
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "escrowgate_db_pool_capacity",
    "Database connections the pools of the live processes may open (pool size + overflow)",
    multiprocess_mode="livesum",
)

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class RequestRecorder:
    """Counts one answered request. The labelled children are cached per (method, route,
    status): a label lookup costs more than the increment itself."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def __call__(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in _METHODS:  # a client's made-up method: one bounded label
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_LATENCY.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def _capacity(pool: Any) -> int:
    size = pool.size() if hasattr(pool, "size") else 0
    return int(size) + max(0, int(getattr(pool, "_max_overflow", 0)))


def track_pool(sync_engine: Any) -> None:
    """Keep this process's pool gauges: +1 on checkout, -1 on checkin."""
    from sqlalchemy import event

    DB_POOL_CAPACITY.inc(_capacity(sync_engine.pool))

    @event.listens_for(sync_engine, "checkout")
    def _checkout(*_: Any) -> None:
        DB_POOL_CHECKED_OUT.inc()

    @event.listens_for(sync_engine, "checkin")
    def _checkin(*_: Any) -> None:
        DB_POOL_CHECKED_OUT.dec()


def untrack_pool(sync_engine: Any) -> None:
    DB_POOL_CAPACITY.dec(_capacity(sync_engine.pool))


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_of(path: Path) -> int | None:
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def prepare_multiprocess_dir(path: str) -> None:
    """Create the directory and remove the files of processes that are gone (a previous
    run's counters), keeping those of live processes (an API beside a worker)."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for file in directory.glob("*.db"):
        pid = _pid_of(file)
        if pid is not None and not _alive(pid) and pid != os.getpid():
            with contextlib.suppress(FileNotFoundError):
                file.unlink()


def forget_dead_processes(path: str) -> None:
    """The live* gauges (pool usage) of processes that died count no more; their
    counters stay (a counter must not go down when a worker process is replaced)."""
    from prometheus_client import multiprocess

    for file in Path(path).glob("gauge_live*.db"):
        pid = _pid_of(file)
        if pid is not None and not _alive(pid):
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def registry_for_scrape() -> Any:
    """The registry to expose: this process's, or the sum over every process."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    forget_dead_processes(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


__all__ = [
    "DB_POOL_CAPACITY",
    "DB_POOL_CHECKED_OUT",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "IDEMPOTENT_REPLAYS",
    "JOBS_RUN",
    "MULTIPROC_ENV",
    "RATE_LIMITED",
    "WEBHOOK_ATTEMPTS",
    "RequestRecorder",
    "prepare_multiprocess_dir",
    "registry_for_scrape",
    "track_pool",
]
