"""CPU per request of the four measured paths without HTTP: the ASGI app called
directly by 16 concurrent in-process clients, against PostgreSQL, for quick A/B work
on the request path (uvicorn, wrk and the kernel's share are left out).

    .venv/bin/python bench/inproc.py [--requests 900] [--rounds 1] [--cprofile PATH]
                                     [--cycles]

DATABASE_URL: a migrated database (default: the bench database that `bench/run`
leaves, postgresql://postgres@127.0.0.1:5432/escrowgate_bench). A demo merchant and
its key are created first (`escrowgate demo`). Prints, per path, CPU microseconds of
this process per request and requests per second. For an A/B, run it alternately
with PYTHONPATH naming each checkout's src (A B A B ...; this machine is shared and
noisy: compare medians of several runs, never two single figures). `--cprofile
get_intent` writes that path's cProfile to bench/out/inproc.<path>.prof; `--cycles`
prints, per path, the objects its requests left for the cyclic GC (unreachable but in a
reference cycle, so not freed with the request: each makes the GC's collections, which
pause every request in flight, come sooner).
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import key_from_demo  # noqa: E402
from seed import CARD, COMPLETE_BODY, CREATE_BODY  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/escrowgate_bench")
# As bench/server.py runs the service: no rate limit, quiet logs, no worker in process.
os.environ.update(
    RATE_LIMIT_ENABLED="false",
    LOG_LEVEL="WARNING",
    RUN_WORKER_IN_PROCESS="false",
    OFF_RAMP_MOCK_DELAY_SECONDS="0",
    SANDBOX_CHAIN_DELAY_SECONDS="0",
    DB_POOL_SIZE="12",
    DB_MAX_OVERFLOW="4",
)
from escrowgate.app import create_app  # noqa: E402

CLIENTS = 16
Request = tuple[str, str, Any, int]


def demo_key() -> str:
    cli = Path(sys.executable).parent / "escrowgate"
    out = subprocess.run([str(cli), "demo"], capture_output=True, text=True, check=True).stdout
    return key_from_demo(out)


class Driver:
    def __init__(self, key: str) -> None:
        self.app = create_app()
        self.key = key.encode()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [(b"host", b"bench"), (b"x-api-key", self.key)]
        if body is not None:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 80), "state": {},
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await asyncio.sleep(3600)  # a client that stays connected
            return {"type": "http.disconnect"}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    async def ok(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = await self.call(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} -> {status}: {answer[:300]!r}")
        return json.loads(answer)

    async def run(self, name: str, requests: list[Request], profile: str | None,
                  cycles: bool = False) -> None:
        pending = iter(requests)
        if cycles:  # what the cyclic GC finds unreachable is kept, to count it below
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)

        async def client() -> None:
            for method, path, body, expect in pending:
                await self.ok(method, path, body, expect)

        prof = cProfile.Profile() if profile == name else None
        times, wall = os.times(), time.perf_counter()
        if prof:
            prof.enable()
        await asyncio.gather(*[client() for _ in range(CLIENTS)])
        if prof:
            prof.disable()
            (HERE / "out").mkdir(exist_ok=True)
            prof.dump_stats(HERE / "out" / f"inproc.{name}.prof")
        after, wall = os.times(), time.perf_counter() - wall
        user, system = after.user - times.user, after.system - times.system
        n = len(requests)
        if cycles:
            gc.collect()
            kinds = Counter(type(o).__qualname__ for o in gc.garbage)
            gc.set_debug(0)
            gc.garbage.clear()
            top = ", ".join(f"{k} {v / n:.2f}" for k, v in kinds.most_common(4))
            print(f"{name:17s} objects left to the cyclic GC per request: "
                  f"{sum(kinds.values()) / n:.1f} ({top or 'none'})", flush=True)
        print(f"{name:17s} n={n:<5d} cpu {1e6 * (user + system) / n:7.0f} us/req "
              f"(user {1e6 * user / n:5.0f}, system {1e6 * system / n:5.0f})  "
              f"{n / wall:7.0f} req/s", flush=True)


async def analyze(app: Any) -> None:
    """Fresh planner statistics: every run grows the tables, and where autovacuum is
    off (this machine's PostgreSQL) stale ones can make the planner scan a tenant index
    instead of the primary key (8 ms per GET instead of 0.1)."""
    async with app.state.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM (ANALYZE)")


async def main(args: argparse.Namespace) -> None:
    d = Driver(os.environ.get("BENCH_KEY") or demo_key())
    n, rounds = args.requests, args.rounds
    intents_path = "/v1/payment-intents"
    async with d.app.router.lifespan_context(d.app):
        intents = [(await d.ok("POST", intents_path, CREATE_BODY, 201))["id"]
                   for _ in range(CLIENTS * 4)]
        roomy = dict(CREATE_BODY, amount="100000000.00")  # room for many milestones
        ms_orders = [(await d.ok("POST", intents_path, roomy, 201))["id"]
                     for _ in range(64 * rounds)]
        funded = []
        for _ in range(rounds * n // 6):
            i = (await d.ok("POST", intents_path, CREATE_BODY, 201))["id"]
            m = (await d.ok("POST", f"{intents_path}/{i}/escrow/milestones",
                            {"milestoneIndex": 0, "description": "b", "amount": "1000.00"},
                            201))["id"]
            await d.ok("POST", f"{intents_path}/public/{i}/payment", CARD, 200)
            funded.append((i, m))
        await analyze(d.app)
        for r in range(rounds):
            await d.run("get_intent", [("GET", f"{intents_path}/{intents[k % len(intents)]}",
                                        None, 200) for k in range(n)],
                        args.cprofile, args.cycles)
            await d.run("create_intent", [("POST", intents_path, CREATE_BODY, 201)] * (n // 2),
                        args.cprofile, args.cycles)
            await d.run("create_milestone", [
                ("POST", f"{intents_path}/{ms_orders[r * 64 + k % 64]}/escrow/milestones",
                 {"milestoneIndex": k // 64, "description": "bench milestone",
                  "amount": "10.00"}, 201)
                for k in range(n // 2)], args.cprofile, args.cycles)
            share = funded[r * n // 6:(r + 1) * n // 6]
            await d.run("complete_release", [
                ("POST", f"{intents_path}/{i}/escrow/milestones/{m}/complete", COMPLETE_BODY, 200)
                for i, m in share], args.cprofile, args.cycles)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=900, help="GETs per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cprofile", metavar="PATH", help="get_intent, create_intent, ...")
    parser.add_argument("--cycles", action="store_true",
                        help="count the objects each path leaves to the cyclic GC")
    asyncio.run(main(parser.parse_args()))
