"""kill -9 of the worker in the middle of deliveries: every event still reaches the
receiver (a real HTTP server on loopback), and the only duplicates are deliveries that
were in flight, sent again with the same webhook-id."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.support.driver import intent_body, intents_url, webhook_endpoints_url

pytestmark = pytest.mark.e2e

EVENTS = 30
PER_ENDPOINT = 4


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []  # (event id, webhook-id), in arrival order
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["content-length"]))
        with self.lock:
            self.seen.append((json.loads(body)["id"], self.headers["webhook-id"]))
        time.sleep(0.2)  # slow enough that deliveries are in flight at the kill
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def start_worker(db_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_LEASE_SECONDS": "2",
        "WEBHOOK_TIMEOUT_SECONDS": "1.5",
        "WEBHOOK_POLL_SECONDS": "0.1",
        "WEBHOOK_PER_ENDPOINT_CONCURRENCY": str(PER_ENDPOINT),
        "WORKER_POLL_SECONDS": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "escrowgate.cli", "worker"], env=env, stdout=subprocess.DEVNULL
    )


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def test_kill_9_mid_delivery_loses_nothing(
    db_url: str, client: httpx.AsyncClient, make_merchant: Any
) -> None:
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        m = await make_merchant("Crash Receiver Ltd")
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        r = await client.post(
            webhook_endpoints_url(),
            json={"url": url, "enabledEvents": ["payment_intent.created"]},
            headers=m.headers,
        )
        assert r.status_code == 201, r.text
        ids = []
        for _ in range(EVENTS):
            r = await client.post(
                intents_url(),
                json=intent_body(type="CONDITIONAL", metadata={}),
                headers=m.headers,
            )
            ids.append(r.json()["id"])
        worker = start_worker(db_url)
        proc = worker

        def started() -> bool:
            assert proc.poll() is None, "the worker exited"
            return len(Recorder.seen) >= 6

        await asyncio.to_thread(wait_for, started, 60, "first deliveries")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        before = len(Recorder.seen)
        worker = start_worker(db_url)

        def all_arrived() -> bool:
            return len({e for e, _ in Recorder.seen}) >= EVENTS

        await asyncio.to_thread(wait_for, all_arrived, 90, "every event")
        worker.terminate()
        worker.wait(10)
        by_event: dict[str, set[str]] = defaultdict(set)
        counts: dict[str, int] = defaultdict(int)
        for event_id, webhook_id in Recorder.seen:
            by_event[event_id].add(webhook_id)
            counts[event_id] += 1
        assert len(by_event) == EVENTS
        assert all(len(w) == 1 for w in by_event.values())  # a retry keeps its webhook-id
        duplicated = [e for e, n in counts.items() if n > 1]
        # Only what was in flight at the kill is sent twice: at most the endpoint's bound.
        assert len(duplicated) <= PER_ENDPOINT, (duplicated, before)
        assert before < EVENTS  # the kill really came mid-way
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(10)
        server.shutdown()
        server.server_close()
