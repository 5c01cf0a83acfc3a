"""The harness's webhook-delivery step: runs bench/webhooks_throughput.py against its
own PostgreSQL database (escrowgate_bench_webhooks, recreated) and keeps its numbers
for the report's "Webhook delivery" section."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import Config

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(fast receiver alone|fast receiver \+ dead receiver)\s+(\d+) events/s")


def measure(cfg: Config) -> dict[str, Any]:
    events = 250 if cfg.quick else 2000  # quick: the whole run stays under 3 minutes
    db = cfg.db + "_webhooks"
    dsn = f"postgresql://{cfg.pg_user}@{cfg.pg_host}:{cfg.pg_port}/{db}"
    subprocess.run(
        ["psql", "-h", cfg.pg_host, "-p", str(cfg.pg_port), "-U", cfg.pg_user, "-qc",
         f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}", "postgres"],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "webhooks_throughput.py"),
         "--events", str(events), "--database-url", dsn],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    rates = {}
    for line in done.stdout.splitlines():
        m = LINE.match(line.strip())
        if m:
            rates["alone" if m.group(1).endswith("alone") else "with_dead"] = int(m.group(2))
    return {
        "events": events,
        "database": "PostgreSQL",
        "rates": rates,
        "ok": done.returncode == 0 and len(rates) == 2,
        "error": None if done.returncode == 0 else done.stderr[-500:],
        "command": f"PYTHONPATH=src python bench/webhooks_throughput.py --events {events} "
        f"--database-url postgresql://.../{db}",
    }
