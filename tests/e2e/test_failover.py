"""The failover drill: PostgreSQL streaming replication with a synchronous standby (two
real clusters on loopback ports, started here), escrowgate as two API processes and a
worker pointed at both hosts (`target_session_attrs=read-write`), a client load of card
payments, milestone creations, completions and refunds, then `kill -9` of the primary's
postmaster in the middle of it and promotion of the standby.

Afterwards every request answered 2xx is on the new primary (RPO 0), requests during the
outage got 503 `database_unavailable` with Retry-After (never a 500), retries with the
same Idempotency-Key got the original answer or applied once, `escrowgate audit` is
clean, and each API process answers 2xx again within 10 s of the promotion (RTO).

PostgreSQL only: on the SQLite run (no TEST_DATABASE_URL) it is skipped; with
TEST_DATABASE_URL set (CI) a missing binary is a failure. Run it alone:
`TEST_DATABASE_URL=postgresql://... pytest -m failover -s`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.live_server import LiveServer
from tests.support.driver import (
    GOOD_CARD,
    intent_body,
    intents_url,
    milestone_url,
    milestones_url,
    payment_url,
    refund_url,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.failover,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="PostgreSQL only (streaming replication); runs in the PostgreSQL run",
    ),
]

BIN = Path(sys.executable).parent
DATABASE = "escrowgate"
FLOWS = 8  # concurrent clients, each paying, planning, completing and refunding in a loop
RTO_LIMIT_SECONDS = 10.0  # the bound: 2xx again within 10 s of the promotion
REQUEST_TIMEOUT = 15.0
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass
class Outcomes:
    """What the clients were told, keyed by what must be on the new primary."""

    intents: dict[str, str] = field(default_factory=dict)  # create key -> intent id (201)
    milestones: set[str] = field(default_factory=set)  # milestone ids answered 201
    succeeded: set[str] = field(default_factory=set)  # intents answered SUCCEEDED (paid)
    completed: set[str] = field(default_factory=set)  # milestones answered COMPLETED
    refunded: set[str] = field(default_factory=set)  # intents whose refund got 200
    unavailable: list[tuple[float, int, str, str | None]] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # any 5xx but a proper 503
    unexpected: list[str] = field(default_factory=list)
    transport_errors: int = 0
    replays: int = 0  # 2xx answered with Idempotent-Replayed: true
    ok_times: list[float] = field(default_factory=list)  # monotonic time of every 2xx
    flows_done: int = 0


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "escrowgate"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"escrowgate {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


class Client:
    """One payer-and-merchant journey after another; each POST keeps its Idempotency-Key
    across retries (a 503, a timeout or a 409 while the first attempt still runs)."""

    def __init__(self, n: int, urls: list[str], key: str, out: Outcomes, run: str) -> None:
        self.n = n
        self.urls = urls
        self.headers = {"X-API-Key": key}
        self.out = out
        self.run = run
        self.stop = False
        self.turn = n

    async def post(self, c: httpx.AsyncClient, path: str, body: Any, key: str, authed: bool,
                   deadline: float) -> httpx.Response:
        while True:
            assert time.monotonic() < deadline, f"client {self.n}: {path} never succeeded"
            self.turn += 1
            url = self.urls[self.turn % len(self.urls)] + path  # both API processes
            headers = {**(self.headers if authed else {}), "Idempotency-Key": key}
            try:
                r = await c.post(url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)
            except httpx.HTTPError:
                self.out.transport_errors += 1
                await asyncio.sleep(0.2)
                continue
            if 200 <= r.status_code < 300:
                self.out.ok_times.append(time.monotonic())
                if r.headers.get("idempotent-replayed") == "true":
                    self.out.replays += 1
                return r
            if r.status_code == 503:
                self.out.unavailable.append(
                    (time.monotonic(), r.status_code, r.text, r.headers.get("retry-after"))
                )
                await asyncio.sleep(min(float(r.headers.get("retry-after") or 1), 1.0) / 2)
                continue
            if r.status_code == 409:  # the first attempt with this key is still running
                await asyncio.sleep(0.2)
                continue
            if r.status_code >= 500:
                self.out.server_errors.append(f"{r.status_code} {path}: {r.text[:500]}")
            else:
                self.out.unexpected.append(f"{r.status_code} {path}: {r.text[:500]}")
            await asyncio.sleep(0.2)
            if len(self.out.server_errors) + len(self.out.unexpected) > 20:
                raise AssertionError("too many wrong answers; see the report")

    async def journey(self, c: httpx.AsyncClient, i: int, deadline: float) -> None:
        k = f"fo-{self.run}-{self.n}-{i}"
        create_key = f"{k}-create"
        r = await self.post(c, intents_url(), intent_body(autoRelease=True), create_key, True,
                            deadline)
        iid = r.json()["id"]
        self.out.intents[create_key] = iid
        r = await self.post(c, milestones_url(iid), {"milestoneIndex": 0, "amount": "600.00"},
                            f"{k}-milestone", True, deadline)
        mid = r.json()["id"]
        self.out.milestones.add(mid)
        r = await self.post(c, payment_url(iid), {"card": GOOD_CARD}, f"{k}-pay", False,
                            deadline)
        if r.json()["data"]["status"] == "SUCCEEDED":
            self.out.succeeded.add(iid)
        else:
            self.out.unexpected.append(f"paid but {r.json()['data']['status']}")
        r = await self.post(c, milestone_url(iid, mid, "complete"), {"completedBy": "dev"},
                            f"{k}-complete", True, deadline)
        self.out.completed.add(mid)
        await self.post(c, refund_url(iid), {"amount": "100.00"}, f"{k}-refund", True, deadline)
        self.out.refunded.add(iid)
        self.out.flows_done += 1

    async def loop(self, deadline: float) -> None:
        async with httpx.AsyncClient() as c:
            i = 0
            while not self.stop:
                await self.journey(c, i, deadline)
                i += 1


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _first_2xx(url: str, key: str, started: float, deadline: float) -> float:
    """Seconds from `started` to this process's first 2xx (a fresh create, once)."""
    probe_key = "probe-" + uuid.uuid4().hex
    async with httpx.AsyncClient() as c:
        while True:
            assert time.monotonic() < deadline, f"{url} never answered 2xx after the promotion"
            try:
                r = await c.post(url + intents_url(), json=intent_body(),
                                 headers={"X-API-Key": key, "Idempotency-Key": probe_key},
                                 timeout=REQUEST_TIMEOUT)
                if 200 <= r.status_code < 300:
                    return time.monotonic() - started
                assert r.status_code in (503, 409), (r.status_code, r.text)
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)


def _report(capsys: pytest.CaptureFixture[str], result: dict[str, Any]) -> None:
    """The measurements, in the test output (uncaptured) and in tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "failover.json").write_text(json.dumps(result, indent=2) + "\n")
    with capsys.disabled():
        print("\nfailover drill: " + json.dumps(result))


async def test_failover_loses_no_acknowledged_write(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.e2e.pg_cluster import Pair

    pair = Pair()  # raises (fails the test) if the PostgreSQL binaries are missing
    logs = Path(tempfile.mkdtemp(prefix="escrowgate-failover-logs-"))
    processes: list[Any] = []
    try:
        pair.start()
        pair.primary.sql(f"CREATE DATABASE {DATABASE}")
        url = pair.multi_host_url(DATABASE)
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        env.pop("DB_PGBOUNCER", None)
        assert _cli(env, "migrate").strip() == "migrations applied"
        merchant = _cli(env, "merchants", "create", "--name", "Failover Shop").strip()
        key = _cli(env, "keys", "create", "--merchant", merchant, "--mode", "test").strip()
        assert key.startswith("sk_test_")

        settings = {"db_pool_size": 4, "db_max_overflow": 4, "off_ramp_mock_delay_seconds": 1}
        apis = [
            LiveServer(url, log_path=str(logs / f"api{n}.log"), **settings).start(timeout=60)
            for n in (1, 2)
        ]
        processes += apis
        worker_env = {**env, "DB_POOL_SIZE": "4", "DB_MAX_OVERFLOW": "4",
                      "OFF_RAMP_MOCK_DELAY_SECONDS": "1", "WORKER_POLL_SECONDS": "0.2"}
        worker_log = (logs / "worker.log").open("wb")
        worker = subprocess.Popen([str(BIN / "escrowgate"), "worker"], env=worker_env,
                                  stdout=worker_log, stderr=subprocess.STDOUT)
        worker_log.close()
        processes.append(worker)

        out = Outcomes()
        run = uuid.uuid4().hex[:8]
        clients = [Client(n, [a.url for a in apis], key, out, run) for n in range(FLOWS)]
        deadline = time.monotonic() + 150  # generous: a loaded 2-core CI machine
        tasks = [asyncio.create_task(c.loop(deadline)) for c in clients]
        try:
            await _wait(lambda: out.flows_done >= FLOWS or any(t.done() for t in tasks), 60,
                        "load before the failover")
            # The worker is up and working (payouts done) before the primary dies.
            await _wait(
                lambda: pair.primary.sql("SELECT count(*) FROM jobs WHERE status = 'DONE'",
                                         database=DATABASE) != "0",
                60,
                "the worker's first job",
            )
            before = len(out.ok_times)

            killed_at = time.monotonic()
            pair.primary.kill_postmaster()  # in the middle of the load
            # The outage lasts as long as a failover manager would take to decide (here
            # at least 2 s and three 503s seen by the clients), then the promotion.
            await asyncio.sleep(2)
            await _wait(lambda: len(out.unavailable) >= 3 or any(t.done() for t in tasks), 30,
                        "503s during the outage")
            pair.promote()
            promoted_at = time.monotonic()
            probe_deadline = promoted_at + 60
            rto = await asyncio.gather(
                *(_first_2xx(a.url, key, promoted_at, probe_deadline) for a in apis)
            )
            done_at_promotion = out.flows_done
            await _wait(
                lambda: out.flows_done >= done_at_promotion + FLOWS
                or any(t.done() for t in tasks),
                60,
                "load after the failover",
            )
        finally:
            for c in clients:
                c.stop = True
            results = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        assert out.server_errors == [], out.server_errors  # never a 500
        assert out.unexpected == [], out.unexpected
        assert out.unavailable, "the outage was seen by the clients"
        for _, status, body, retry_after in out.unavailable:
            assert status == 503 and retry_after is not None and int(retry_after) >= 1
            assert json.loads(body) == {"error": {
                "code": "database_unavailable",
                "message": "database unavailable",
                "type": "api_error",
            }}
        first_ok_after_kill = min(t for t in out.ok_times if t > promoted_at) - killed_at

        # The worker survived the failover without a restart: the payouts (settle jobs,
        # due 1 s after each release) of the journeys after the promotion are done.
        assert worker.poll() is None, (logs / "worker.log").read_text()[-3000:]
        new_primary = pair.standby
        await _wait(
            lambda: new_primary.sql(
                "SELECT count(*) FROM jobs WHERE status IN ('PENDING', 'FAILED')",
                database=DATABASE,
            ) == "0",
            60,
            "the worker to finish every job on the new primary",
        )

        # RPO: every acknowledged write is on the new primary.
        lost = _lost_writes(new_primary, out)
        # Each journey's effects applied exactly once, retries included: one intent per
        # create key, and one FUND, RELEASE, SETTLE and REFUND transaction per intent.
        intents = set(out.intents.values())
        created = new_primary.sql(
            f"SELECT count(*) FROM payment_intents WHERE merchant_id = '{merchant}'",
            database=DATABASE,
        )
        postings = new_primary.sql(
            "SELECT kind || ':' || count(DISTINCT transaction_id) FROM ledger_entries"
            f" WHERE payment_intent_id IN ({_in(intents)}) GROUP BY kind ORDER BY kind",
            database=DATABASE,
        ).split()
        n = len(intents)
        assert postings == [f"FUND:{n}", f"REFUND:{n}", f"RELEASE:{n}", f"SETTLE:{n}"], postings
        per_intent = new_primary.sql(
            "SELECT count(*) FROM (SELECT payment_intent_id, kind FROM ledger_entries"
            f" WHERE payment_intent_id IN ({_in(intents)}) GROUP BY 1, 2"
            " HAVING count(DISTINCT transaction_id) <> 1) twice",
            database=DATABASE,
        )
        assert per_intent == "0"
        assert int(created) == n + len(apis), (created, n)  # + one probe create per API
        # A retry with the same key answers the original (one replay per create key).
        replayed = await _replay_creates(apis[0].url, key, out)
        audit = subprocess.run([str(BIN / "escrowgate"), "audit"], env=env,
                               capture_output=True, text=True, timeout=120)

        result = {
            "acknowledged_writes": len(out.ok_times),
            "acknowledged_before_kill": before,
            "journeys": out.flows_done,
            "lost_acknowledged_writes_rpo": sum(len(v) for v in lost.values()),
            "answers_503": len(out.unavailable),
            "answers_5xx_other": len(out.server_errors),
            "replayed_answers_during_load": out.replays,
            "rto_seconds_after_promotion_per_api": [round(x, 2) for x in rto],
            "outage_seconds_kill_to_first_2xx": round(first_ok_after_kill, 2),
            "promotion_seconds_after_kill": round(promoted_at - killed_at, 2),
            "worker_restarts": 0,
        }
        _report(capsys, result)
        assert lost == {"intents": [], "milestones": [], "funded": [], "completed": [],
                        "refunded": []}, lost
        assert replayed == len(out.intents)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert audit.stdout.startswith("audit ok"), audit.stdout
        assert max(rto) < RTO_LIMIT_SECONDS, result
        shutil.rmtree(logs, ignore_errors=True)  # kept when the drill failed
    finally:
        for p in processes:
            if isinstance(p, LiveServer):
                p.stop()
            elif p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        pair.close()


def _in(values: set[str] | list[str]) -> str:
    return ",".join(f"'{v}'" for v in sorted(values)) or "''"


def _lost_writes(node: Any, out: Outcomes) -> dict[str, list[str]]:
    """Ids answered 2xx that the new primary does not have (each must be empty)."""

    def missing(query: str, expected: set[str]) -> list[str]:
        found = set(node.sql(query, database=DATABASE).split()) if expected else set()
        return sorted(expected - found)

    intents = set(out.intents.values())
    return {
        "intents": missing(f"SELECT id FROM payment_intents WHERE id IN ({_in(intents)})",
                           intents),
        "milestones": missing(f"SELECT id FROM milestones WHERE id IN ({_in(out.milestones)})",
                              out.milestones),
        # SUCCEEDED means funded: a FUND posting for the intent's order, and the order's
        # funded amount.
        "funded": missing(
            "SELECT o.payment_intent_id FROM conditional_payments o"
            " JOIN ledger_entries e ON e.conditional_payment_id = o.id AND e.kind = 'FUND'"
            f" WHERE o.funded_amount > 0 AND o.payment_intent_id IN ({_in(out.succeeded)})",
            out.succeeded,
        ),
        "completed": missing(
            "SELECT id FROM milestones WHERE status IN ('COMPLETED', 'RELEASED')"
            f" AND id IN ({_in(out.completed)})",
            out.completed,
        ),
        "refunded": missing(
            "SELECT o.payment_intent_id FROM conditional_payments o"
            " JOIN ledger_entries e ON e.conditional_payment_id = o.id AND e.kind = 'REFUND'"
            f" WHERE o.payment_intent_id IN ({_in(out.refunded)})",
            out.refunded,
        ),
    }


async def _replay_creates(base_url: str, key: str, out: Outcomes) -> int:
    """Retry every create with its key after the failover: the same intent, replayed."""
    same = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as c:
        for create_key, iid in out.intents.items():
            r = await c.post(intents_url(), json=intent_body(autoRelease=True),
                             headers={"X-API-Key": key, "Idempotency-Key": create_key})
            assert r.status_code == 201, r.text
            assert r.json()["id"] == iid and r.headers["idempotent-replayed"] == "true"
            same += 1
    return same


async def test_lists_read_the_standby_and_everything_else_the_primary() -> None:
    """DATABASE_READ_URL on a real standby whose replay is paused (a lagging replica):
    the intent and event lists do not show a fresh intent yet; the intent itself, its
    idempotent replay, the payer's public view and payment answer from the primary; once
    replay resumes the lists catch up."""
    from tests.e2e.pg_cluster import Pair

    pair = Pair()
    server: LiveServer | None = None
    logs = Path(tempfile.mkdtemp(prefix="escrowgate-replica-logs-"))
    try:
        pair.start()
        pair.primary.sql(f"CREATE DATABASE {DATABASE}")
        env = {**os.environ, "DATABASE_URL": pair.primary.url(DATABASE), "LOG_LEVEL": "WARNING"}
        env.pop("DB_PGBOUNCER", None)
        assert _cli(env, "migrate").strip() == "migrations applied"
        merchant = _cli(env, "merchants", "create", "--name", "Replica Shop").strip()
        key = _cli(env, "keys", "create", "--merchant", merchant, "--mode", "test").strip()
        headers = {"X-API-Key": key}
        server = LiveServer(
            pair.primary.url(DATABASE),
            log_path=str(logs / "api.log"),
            database_read_url=pair.standby.url(DATABASE),
        ).start(timeout=60)

        async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT) as c:

            async def listed() -> tuple[set[str], int]:
                """The intent list's ids and the number of events (both replica routes)."""
                intents = await c.get(intents_url() + "?limit=100", headers=headers)
                events = await c.get("/v1/events?limit=100", headers=headers)
                assert intents.status_code == 200 and events.status_code == 200
                return {i["id"] for i in intents.json()["data"]}, len(events.json()["data"])

            first = await c.post(intents_url(), json=intent_body(), headers=headers)
            assert first.status_code == 201
            deadline = time.monotonic() + 30
            while first.json()["id"] not in (await listed())[0]:
                assert time.monotonic() < deadline, "the standby never replayed the intent"
                await asyncio.sleep(0.1)

            events_before = (await listed())[1]
            assert events_before > 0
            pair.standby.sql("SELECT pg_wal_replay_pause()")
            deadline = time.monotonic() + 30
            while pair.standby.sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
                assert time.monotonic() < deadline, "replay did not pause"
                await asyncio.sleep(0.1)

            r = await c.post(intents_url(), json=intent_body(), headers={
                **headers, "Idempotency-Key": "replica-create"})
            assert r.status_code == 201
            fresh = r.json()["id"]
            # The lagging standby serves the lists: the fresh intent is not there yet.
            intents, events = await listed()
            assert first.json()["id"] in intents and fresh not in intents
            assert events == events_before
            # Everything that must see its own writes reads the primary.
            assert (await c.get(f"{intents_url()}/{fresh}", headers=headers)).status_code == 200
            replay = await c.post(intents_url(), json=intent_body(), headers={
                **headers, "Idempotency-Key": "replica-create"})
            assert replay.status_code == 201 and replay.json()["id"] == fresh
            assert replay.headers["idempotent-replayed"] == "true"
            public = await c.get(f"{intents_url()}/public/{fresh}")
            assert public.status_code == 200, public.text
            paid = await c.post(payment_url(fresh), json={"card": GOOD_CARD})
            assert paid.status_code == 200 and paid.json()["data"]["status"] == "SUCCEEDED"
            after = await c.get(f"{intents_url()}/public/{fresh}")
            assert after.json()["data"]["status"] == "SUCCEEDED"
            page = await c.get(f"/pay/{fresh}")
            assert page.status_code == 200
            assert (await listed()) == (intents, events_before)  # still lagging

            pair.standby.sql("SELECT pg_wal_replay_resume()")
            deadline = time.monotonic() + 30
            while fresh not in (await listed())[0]:
                assert time.monotonic() < deadline, "the standby never caught up"
                await asyncio.sleep(0.1)
            assert (await listed())[1] > events_before
        shutil.rmtree(logs, ignore_errors=True)  # kept when the test failed
    finally:
        if server is not None:
            server.stop()
        pair.close()
