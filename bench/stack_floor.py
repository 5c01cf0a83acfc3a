"""The floor of the stack: CPU the service's own process spends per database round trip
and per transaction, before any escrowgate code runs.

Measured in one process against the bench database, with the same layers the service
uses (asyncpg alone; SQLAlchemy Core on an AsyncConnection; the ORM on an AsyncSession,
pool checkout included). CPU time of this process only (`time.process_time`), so
PostgreSQL's own work and other load on the machine do not count; the best of a few
repetitions is kept. The report turns these into the most throughput each path could
reach on this machine if escrowgate's own code, FastAPI and HTTP cost nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from escrowgate.models import PaymentIntent

ROUNDS = 3
N = 1500


async def _best(op: Callable[[int], Awaitable[Any]], rounds: int, n: int = N) -> float:
    """Microseconds of this process's CPU per call of op, best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for i in range(n):
            await op(i)
        best = min(best, (time.process_time() - start) / n * 1e6)
    return round(best, 1)


async def _measure(dsn: str, intent_id: str, rounds: int) -> dict[str, float]:
    out: dict[str, float] = {}
    raw = await asyncpg.connect(dsn)
    try:
        by_id = "SELECT * FROM payment_intents WHERE id = $1"

        async def raw_stmt(_: int) -> None:
            await raw.fetchrow(by_id, intent_id)

        async def raw_tx(_: int) -> None:
            async with raw.transaction():
                await raw.fetchrow(by_id, intent_id)

        await raw_stmt(0)
        out["asyncpg_statement_us"] = await _best(raw_stmt, rounds)
        out["asyncpg_transaction_us"] = await _best(raw_tx, rounds)
    finally:
        await raw.close()

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://"),
                                 pool_size=2)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    core_by_id = text("SELECT * FROM payment_intents WHERE id = :id")
    orm_by_id = select(PaymentIntent).where(PaymentIntent.id == intent_id)
    try:
        async with engine.connect() as conn:

            async def core_stmt(_: int) -> None:
                (await conn.execute(core_by_id, {"id": intent_id})).first()

            await core_stmt(0)
            out["sqlalchemy_core_statement_us"] = await _best(core_stmt, rounds)
            await conn.rollback()

        async with sessions() as session:

            async def orm_stmt(_: int) -> None:
                (await session.execute(orm_by_id)).scalar_one()
                session.expunge_all()  # load the row as a new entity each time, as a request does

            await orm_stmt(0)
            out["sqlalchemy_orm_statement_us"] = await _best(orm_stmt, rounds)

        async def session_tx(_: int) -> None:
            async with sessions() as s, s.begin():
                (await s.execute(orm_by_id)).scalar_one()

        async def checkout(_: int) -> None:
            async with engine.connect():
                pass

        out["sqlalchemy_session_transaction_us"] = await _best(session_tx, rounds)
        out["pool_checkout_us"] = await _best(checkout, rounds)
    finally:
        await engine.dispose()
    return out


def measure(dsn: str, intent_id: str, rounds: int = ROUNDS) -> dict[str, float]:
    return asyncio.run(_measure(dsn, intent_id, rounds))



# ---- HTTP: FastAPI + uvicorn answering a POST with a validated body, no database ----

_APP = '''
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    milestoneIndex: int
    description: str
    amount: str

app = FastAPI()

@app.post("/v1/echo", status_code=201)
async def echo(body: Body) -> dict:
    return {"id": "milestone_x", "object": "milestone", "data": body.model_dump()}
'''

_LUA = '''
wrk.method = "POST"
wrk.body = '{"milestoneIndex": 1, "description": "Design phase", "amount": "200.00"}'
wrk.headers["Content-Type"] = "application/json"
'''


def _until_answering(url: str, method: str, seconds: float = 20) -> None:
    """Wait for a server just started to answer `url` (any HTTP status)."""
    deadline = time.monotonic() + seconds
    while subprocess.run(["curl", "-s", "-o", "/dev/null", "-X", method, url],
                         capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered {url} in {seconds:.0f} s")
        time.sleep(0.1)


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def http_floor(port: int, concurrency: int = 16, seconds: int = 4) -> dict[str, float]:
    """CPU µs per request of a bare FastAPI app under uvicorn (one process, uvloop and
    httptools as the service runs) answering wrk at the given concurrency."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "floor_app.py").write_text(_APP)
        Path(tmp, "post.lua").write_text(_LUA)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port),
             "--log-level", "warning", "--no-access-log"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/v1/echo"
            _until_answering(url, "POST")
            subprocess.run(["wrk", "-t1", f"-c{concurrency}", "-d1s", "-s", f"{tmp}/post.lua",
                            url], capture_output=True, check=True)  # warm-up
            t0 = _ticks(server.pid)
            res = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s",
                                  f"{tmp}/post.lua", url], capture_output=True, text=True,
                                 check=True)
            cpu_s = (_ticks(server.pid) - t0) / os.sysconf("SC_CLK_TCK")
        finally:
            server.terminate()
            server.wait(10)
    m = re.search(r"(\d+) requests in", res.stdout)
    n = int(m.group(1)) if m else 0
    return {"fastapi_post_request_us": round(cpu_s / n * 1e6, 1) if n else 0.0,
            "fastapi_post_requests_per_s_one_process": round(n / seconds, 1)}


# ---- The tail floor: a bare FastAPI read served as escrowgate is served, at c=64 ----

_READ_APP = '''
import os

import asyncpg
from fastapi import FastAPI
from fastapi.responses import Response

app = FastAPI()
pool = None


@app.on_event("startup")
async def start() -> None:
    global pool
    size = int(os.environ["FLOOR_POOL"])
    pool = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=size, max_size=size)


@app.get("/v1/floor/{intent_id}")
async def read(intent_id: str) -> Response:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT id, amount, status FROM payment_intents WHERE id = $1", intent_id)
    return Response('{"id":"%s","amount":%d,"status":"%s"}' % tuple(row),
                    media_type="application/json")
'''

# Served by escrowgate's own supervisor (src/escrowgate/serving.py): N uvicorn processes,
# each with a listening socket of its own (SO_REUSEPORT), as `escrowgate serve` runs them.
_SERVE = '''
import sys

from escrowgate.serving import serve

if __name__ == "__main__":
    serve(host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]),
          log_level="warning", log_config=None, app="read_app:app")
'''

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_percentile(out: str, pct: str) -> float:
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        raise RuntimeError(f"no {pct}% line in wrk's output: {out[-500:]}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def tail_floor(port: int, dsn: str, intent_id: str, *, workers: int, pool: int,
               concurrency: int = 64, seconds: int = 8, rounds: int = 3,
               rate_concurrency: int = 16) -> dict[str, Any]:
    """p50 and p99 of a bare FastAPI app that answers a GET with one asyncpg read of a
    payment intent, served as the service is (`workers` uvicorn processes, a socket each,
    a pool of `pool` connections each, no escrowgate code), under wrk at `concurrency`:
    the tail the stack and this machine give before any of our code runs. The median
    of `rounds` runs of p99 / p50; and its rate at `rate_concurrency` (one run)."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "read_app.py").write_text(_READ_APP)
        Path(tmp, "serve.py").write_text(_SERVE)
        env = {**os.environ, "FLOOR_DSN": dsn, "FLOOR_POOL": str(pool)}
        server = subprocess.Popen([sys.executable, "serve.py", str(port), str(workers)],
                                  cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}/v1/floor/{intent_id}"
        try:
            _until_answering(url, "GET")
            subprocess.run(["wrk", "-t1", f"-c{concurrency}", "-d2s", url],
                           capture_output=True, check=True)  # warm-up
            runs = []
            for _ in range(rounds):
                out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s",
                                      "--latency", url], capture_output=True, text=True,
                                     check=True).stdout
                if "Non-2xx" in out or "Socket errors" in out:
                    raise RuntimeError(f"the tail-floor app failed requests: {out}")
                p50, p99 = _wrk_percentile(out, "50"), _wrk_percentile(out, "99")
                runs.append({"p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                             "p99_over_p50": round(p99 / p50, 2)})
            # Its rate at the headline's concurrency: the most a GET served this way gets
            # from these cores (one intent, always cached; a smaller answer than ours).
            out = subprocess.run(["wrk", "-t1", f"-c{rate_concurrency}", f"-d{seconds}s",
                                  url], capture_output=True, text=True, check=True).stdout
            if "Non-2xx" in out or "Socket errors" in out:
                raise RuntimeError(f"the tail-floor app failed requests: {out}")
            rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
    runs.sort(key=lambda r: r["p99_over_p50"])
    return {"workers": workers, "pool_per_process": pool, "concurrency": concurrency,
            "seconds": seconds, "runs": runs, "median": runs[len(runs) // 2],
            "rate_concurrency": rate_concurrency, "rate": round(rate, 1)}
