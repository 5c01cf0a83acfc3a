"""GET /metrics of real server processes (`escrowgate serve`), scraped before and after
real requests: each counter moves by exactly what was done. The second test runs two
API worker processes and a separate `escrowgate worker` sharing PROMETHEUS_MULTIPROC_DIR:
/metrics sums every process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.driver import intent_body, intent_url, intents_url, webhook_endpoints_url

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`escrowgate serve` on an SQLite file, set up with the operator's commands."""

    def __init__(self, tmp: Path, *, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.workers = workers
        self.db = tmp / "metrics.db"
        self.log = tmp / "server.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "LOG_LEVEL": "WARNING",
            "RUN_WORKER_IN_PROCESS": "false",
            "PORT": str(self.port),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "escrowgate"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"escrowgate {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def key(self) -> str:
        merchant = self.cli("merchants", "create", "--name", "Metrics Ltd").strip()
        return self.cli("keys", "create", "--merchant", merchant).strip()

    def start(self) -> None:
        self.cli("migrate")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "escrowgate"), "serve", "--workers", str(self.workers)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # a bounded wait for the port, not an assertion
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready: " + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def scrape(self) -> tuple[str, Samples]:
        # A new connection each time: with several workers any of them may answer.
        r = httpx.get(self.url + "/metrics", headers={"Connection": "close"}, timeout=10)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=")
        samples: Samples = {}
        for family in text_string_to_metric_families(r.text):
            for s in family.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
        return r.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path, RATE_LIMIT_TEST_PER_MINUTE="8")
    s.start()
    try:
        yield s
    finally:
        s.stop()


def insert_job(db: Path, job_id: str, kind: str, *, attempts: int = 0) -> None:
    """A due job row, as the use cases write them (the worker runs it next)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, merchant_id, mode, target_id, order_id, due_at, "
            "status, attempts, created_at) VALUES (?, ?, 'merchant_x', 'test', ?, NULL, 0, "
            "'PENDING', ?, ?)",
            (job_id, kind, "pi_" + job_id, attempts, int(time.time())),
        )


def test_counters_move_by_exactly_the_requests_made(server: Server):
    key = server.key()
    auth = {"X-API-Key": key}
    _, before = server.scrape()

    with httpx.Client(base_url=server.url, timeout=10) as c:
        idem = {**auth, "Idempotency-Key": "metrics-test-1"}
        first = c.post(intents_url(), json=intent_body(), headers=idem)
        assert first.status_code == 201, first.text
        again = c.post(intents_url(), json=intent_body(), headers=idem)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        iid = first.json()["id"]
        assert c.get(intent_url(iid), headers=auth).status_code == 200
        assert c.get(intent_url("pi_doesnotexist"), headers=auth).status_code == 404
        assert c.get(intent_url(iid)).status_code == 401  # refused by the edge
        assert c.get("/v1/no-such-route", headers=auth).status_code == 404
        # The limit is 8 a minute; a minute may turn over meanwhile: count what came back.
        answers = [c.get(intents_url(), headers=auth).status_code for _ in range(12)]
    rejected = answers.count(429)
    assert rejected >= 1 and set(answers) <= {200, 429}

    text, after = server.scrape()
    req = "escrowgate_http_requests_total"
    assert moved(before, after, req, method="POST", route="/v1/payment-intents", status="201") == 2
    route = "/v1/payment-intents/{intent_id}"
    assert moved(before, after, req, method="GET", route=route, status="200") == 1
    assert moved(before, after, req, method="GET", route=route, status="404") == 1
    assert moved(before, after, req, method="GET", route="unrouted", status="401") == 1
    assert moved(before, after, req, method="GET", route="unrouted", status="404") == 1
    listed = "/v1/payment-intents"
    assert moved(before, after, req, method="GET", route=listed, status="200") == 12 - rejected
    assert moved(before, after, req, method="GET", route="unrouted", status="429") == rejected
    # The first scrape is counted once it is answered; this one is not in its own body.
    assert moved(before, after, req, method="GET", route="/metrics", status="200") == 1
    latency = "escrowgate_http_request_duration_seconds_count"
    assert moved(before, after, latency, method="POST", route="/v1/payment-intents") == 2
    assert moved(before, after, "escrowgate_idempotent_replays_total") == 1
    assert moved(before, after, "escrowgate_rate_limit_rejections_total", limit="test") == rejected
    # Labels carry templates, never raw paths: no id anywhere in the exposition.
    assert iid not in text and "pi_doesnotexist" not in text and "no-such-route" not in text
    # One process, idle: no connection is checked out; its pool may open 5 + 10 (SQLite).
    assert value(after, "escrowgate_db_pool_checked_out") == 0
    assert value(after, "escrowgate_db_pool_capacity") == 15

    insert_job(server.db, "job_due_1", "chain_confirm")
    insert_job(server.db, "job_due_2", "chain_confirm")
    _, due = server.scrape()
    assert value(due, "escrowgate_jobs_due", kind="chain_confirm") == 2


def test_metrics_can_be_switched_off(tmp_path: Path):
    s = Server(tmp_path, METRICS_ENABLED="false")
    s.start()
    try:
        r = httpx.get(s.url + "/metrics", timeout=10)
        assert r.status_code == 404
    finally:
        s.stop()


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver on loopback: /ok answers 200, anything else 500."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200 if self.path == "/ok" else 500)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_several_processes_are_summed(tmp_path: Path):
    """Two API worker processes and a separate job worker write to one directory."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a process long gone
    s = Server(
        tmp_path, workers=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), RATE_LIMIT_ENABLED="false"
    )
    s.start()
    try:
        assert not (metrics_dir / "counter_999999.db").exists()  # cleaned at start
        key = s.key()
        _, before = s.scrape()
        for _ in range(30):  # new connections: the kernel spreads them over the workers
            r = httpx.get(
                s.url + intents_url(), headers={"X-API-Key": key, "Connection": "close"}
            )
            assert r.status_code == 200
        insert_job(s.db, "job_done_1", "chain_confirm")
        insert_job(s.db, "job_fail_1", "no_such_kind", attempts=9)  # its last attempt
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{receiver.server_address[1]}"
            for path in ("/ok", "/fail"):
                r = httpx.post(
                    s.url + webhook_endpoints_url(),
                    json={"url": base + path, "enabledEvents": ["payment_intent.created"]},
                    headers={"X-API-Key": key},
                )
                assert r.status_code == 201, r.text
            for _ in range(3):  # three events, each to both endpoints
                r = httpx.post(
                    s.url + intents_url(),
                    json=intent_body(type="CONDITIONAL", metadata={}),
                    headers={"X-API-Key": key},
                )
                assert r.status_code == 201, r.text
            s.cli("worker", "--once")  # another process, same directory
        finally:
            receiver.shutdown()
        _, after = s.scrape()
        attempts = "escrowgate_webhook_delivery_attempts_total"
        assert moved(before, after, attempts, outcome="succeeded") == 3
        assert moved(before, after, attempts, outcome="retry") == 3  # due again in a minute
        assert moved(before, after, attempts, outcome="failed") == 0
        req = "escrowgate_http_requests_total"
        listed = "/v1/payment-intents"
        assert moved(before, after, req, method="GET", route=listed, status="200") == 30
        jobs = "escrowgate_jobs_run_total"
        assert moved(before, after, jobs, kind="chain_confirm", outcome="done") == 1
        assert moved(before, after, jobs, kind="no_such_kind", outcome="failed") == 1
        assert value(after, "escrowgate_jobs_failed", kind="no_such_kind") == 1
        assert value(after, "escrowgate_jobs_due", kind="chain_confirm") == 0
        pids = {f.stem.rsplit("_", 1)[1] for f in metrics_dir.glob("counter_*.db")}
        assert len(pids) >= 3  # two API processes and the worker
        # Only the live API processes' pools count (the worker has exited).
        assert value(after, "escrowgate_db_pool_capacity") == 2 * 15
    finally:
        s.stop()
