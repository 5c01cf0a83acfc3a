"""`escrowgate serve --workers 2`: a socket per worker (serving.py), so keep-alive
connections opened together are spread over both processes instead of piling onto
whichever woke first; a worker that dies is replaced; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import BIN, Deployment
from tests.support.driver import intents_url
from tests.support.processes import children

pytestmark = pytest.mark.e2e

CONNECTIONS = 32


def established_inodes(port: int, *, listening_side: bool = True) -> set[str]:
    """Socket inodes of ESTABLISHED TCP connections to `port`: the server's side
    (local port `port`) or the clients' side (remote port `port`)."""
    inodes = set()
    column = 1 if listening_side else 2
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[column].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    return inodes


def connections_held(pid: int, inodes: set[str]) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


def workers_of(proc: subprocess.Popen[bytes], count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in children(proc.pid) if b"spawn_main" in _cmdline(p)]
        if len(found) == count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"expected {count} worker processes")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_connections_opened_together_land_on_both_workers_and_a_dead_worker_is_replaced():
    d = Deployment()
    d.migrate()
    _, key = d.create_merchant_key("Balance Ltd")
    out = d.log.open("wb")
    proc = subprocess.Popen(
        [str(BIN / "escrowgate"), "serve", "--workers", "2", "--port", str(d.port)],
        env={**d.env, "RUN_WORKER_IN_PROCESS": "false", "RATE_LIMIT_ENABLED": "false"},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    d.proc = proc
    clients: list[httpx.Client] = []
    try:
        d.wait_ready(timeout=60)
        workers = workers_of(proc, 2)
        # Each client holds one keep-alive connection, all opened at once.
        clients = [
            httpx.Client(base_url=d.base_url, limits=httpx.Limits(max_connections=1))
            for _ in range(CONNECTIONS)
        ]
        # The connections arrive while both workers are busy (stopped here, so the
        # test does not depend on timing): all wait in the kernel's accept queues. With
        # one shared socket, the first worker to run would accept every one of them.
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            pending = [
                pool.submit(c.get, intents_url(), headers={"X-API-Key": key}) for c in clients
            ]
            deadline = time.monotonic() + 30
            while len(established_inodes(d.port, listening_side=False)) < CONNECTIONS:
                assert time.monotonic() < deadline, "the clients connect"
                time.sleep(0.05)
            # One worker gets going first, as one always does.
            os.kill(workers[0], signal.SIGCONT)
            time.sleep(1.0)
            os.kill(workers[1], signal.SIGCONT)
            answers = [f.result(timeout=60) for f in pending]
        for r in answers:
            assert r.status_code == 200 and r.json()["object"] == "list", r.text
        inodes = established_inodes(d.port)
        held = [connections_held(pid, inodes) for pid in workers]
        assert sum(held) == CONNECTIONS, held
        # Spread by the kernel's hash: fewer than 4 of 32 on one side has odds ~1e-6.
        assert min(held) >= 4, f"connections per worker: {held}"

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = [p for p in children(proc.pid) if b"spawn_main" in _cmdline(p)]
            if len(now) == 2 and workers[0] not in now:
                break
            assert time.monotonic() < deadline, "the dead worker is replaced"
            time.sleep(0.2)
        fresh = httpx.Client(base_url=d.base_url)
        clients.append(fresh)
        for _ in range(10):
            r = fresh.get(intents_url(), headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
    finally:
        for c in clients:
            c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert children(proc.pid) == []
