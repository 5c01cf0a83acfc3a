"""Webhook delivery throughput: events per second delivered to a local receiver that
answers at once, alone and with a receiver that never answers beside it.

    PYTHONPATH=src python bench/webhooks_throughput.py [--events 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from escrowgate.config import Settings  # noqa: E402
from escrowgate.db.engine import make_engine, make_session_factory, normalize_url  # noqa: E402
from escrowgate.db.migrate import upgrade  # noqa: E402
from escrowgate.events.service import emit  # noqa: E402
from escrowgate.merchants import create_merchant  # noqa: E402
from escrowgate.webhooks import endpoints  # noqa: E402
from escrowgate.webhooks.delivery import Deliverer  # noqa: E402
from tests.api.webhooks.receiver import Receiver  # noqa: E402


async def scenario(url: str, n: int, with_dead: bool) -> float:
    settings = Settings(database_url=url, log_level="WARNING")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    fast = await Receiver().start()
    dead = await Receiver(delay=3600).start()
    async with factory() as s:
        m = await create_merchant(s, "bench fast")
        await s.flush()
        await endpoints.create_endpoint(
            s,
            settings,
            merchant_id=m.id,
            mode="test",
            url=fast.url,
            enabled_events=["*"],
            description=None,
        )
        d = None
        if with_dead:
            d = await create_merchant(s, "bench dead")
            await s.flush()
            await endpoints.create_endpoint(
                s,
                settings,
                merchant_id=d.id,
                mode="test",
                url=dead.url,
                enabled_events=["*"],
                description=None,
            )
        await s.commit()
    await asyncio.sleep(0.01)  # events strictly after the endpoints
    async with factory() as s:
        for i in range(n):
            emit(s, merchant_id=m.id, mode="test", type="refund.created", obj={"id": f"r{i}"})
            if d is not None:
                emit(s, merchant_id=d.id, mode="test", type="refund.created", obj={"id": f"d{i}"})
        await s.commit()
    deliverer = Deliverer(factory, settings)
    started = time.perf_counter()
    loop = asyncio.create_task(deliverer.run_forever())
    while fast.answered < n:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    deliverer.stop()
    await loop
    await deliverer.aclose()
    await fast.stop()
    await dead.stop()
    await engine.dispose()
    return n / elapsed


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--database-url", default="")
    args = p.parse_args()
    for with_dead in (False, True):
        url = args.database_url or "sqlite+aiosqlite:///" + os.path.join(
            tempfile.mkdtemp(), "bench.db"
        )
        url = normalize_url(url)
        if args.database_url and url.startswith("postgresql"):
            import asyncpg

            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
            await conn.close()
        await asyncio.to_thread(upgrade, url)
        rate = await scenario(url, args.events, with_dead)
        label = "fast receiver + dead receiver" if with_dead else "fast receiver alone"
        print(f"{label:32s} {rate:8.0f} events/s delivered to the fast receiver")


if __name__ == "__main__":
    asyncio.run(main())
