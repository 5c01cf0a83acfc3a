"""Shared settings and small helpers for the benchmark harness (bench/run)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = Path(os.environ.get("BENCH_OUT") or BENCH / "out").resolve()
REPORT = Path(os.environ.get("BENCH_REPORT") or BENCH / "REPORT.md").resolve()
VENV_BIN = ROOT / ".venv" / "bin"

# Databases that belong to other people on this server: never touched.
FORBIDDEN_DBS = {"test", "escrowgate_lead", "escrowgate_h1", "escrowgate_h2", "postgres",
                 "template0", "template1"}

PATHS = ("create_intent", "create_milestone", "complete_release", "get_intent")
PATH_TITLES = {
    "create_intent": "Create payment intent (POST /v1/payment-intents)",
    "create_milestone": "Create milestone (POST /v1/payment-intents/{id}/escrow/milestones)",
    "complete_release": "Complete + auto-release milestone (POST .../milestones/{mid}/complete)",
    "get_intent": "Get payment intent (GET /v1/payment-intents/{id})",
}


def _ints(value: str) -> list[int]:
    return [int(x) for x in value.replace(" ", "").split(",") if x]


@dataclass
class Config:
    quick: bool
    pg_host: str
    pg_port: int
    pg_user: str
    db: str
    duration: int
    warmup: int
    concurrency: list[int]
    scales: list[int]
    large_concurrency: list[int]
    workers: int
    pool_size: int
    max_overflow: int
    port: int
    profile_seconds: int
    max_foreign_cores: float
    retries: int
    milestones_per_order: int = 5
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.db}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_config() -> Config:
    env = os.environ.get
    quick = env("BENCH_QUICK", "") not in ("", "0", "false", "no")
    cfg = Config(
        quick=quick,
        pg_host=env("BENCH_PG_HOST", "127.0.0.1"),
        pg_port=int(env("BENCH_PG_PORT", "5432")),
        pg_user=env("BENCH_PG_USER", "postgres"),
        db=env("BENCH_DB", "escrowgate_bench"),
        duration=int(env("BENCH_DURATION", "3" if quick else "10")),
        warmup=int(env("BENCH_WARMUP", "1" if quick else "2")),
        # quick: the headline (16) and the tail (64) at one scale, so the run stays ~3 minutes
        concurrency=_ints(env("BENCH_CONCURRENCY", "16,64" if quick else "1,16,64")),
        scales=_ints(env("BENCH_SCALES", "10000" if quick else "10000,1000000")),
        large_concurrency=_ints(env("BENCH_LARGE_CONCURRENCY", "16" if quick else "1,16,64")),
        workers=int(env("BENCH_WORKERS", str(os.cpu_count() or 2))),
        pool_size=int(env("BENCH_DB_POOL_SIZE", "12")),
        max_overflow=int(env("BENCH_DB_MAX_OVERFLOW", "4")),
        port=int(env("BENCH_PORT", "0")) or free_port(),
        profile_seconds=int(env("BENCH_PROFILE_SECONDS", "1" if quick else "8")),
        max_foreign_cores=float(env("BENCH_MAX_FOREIGN_CORES", "0.35")),
        retries=int(env("BENCH_RETRIES", "0" if quick else "1")),
    )
    if cfg.db in FORBIDDEN_DBS or not cfg.db.startswith("escrowgate_bench"):
        sys.exit(f"refusing to use database {cfg.db!r}: the bench database must be "
                 "named escrowgate_bench* (it is dropped and recreated)")
    if cfg.pg_host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("the bench only runs against a local PostgreSQL (127.0.0.1)")
    return cfg


T0 = time.monotonic()


def key_from_demo(output: str) -> str:
    """The test key in what `escrowgate demo` printed (its `export ESCROWGATE_KEY=` line)."""
    return next(
        line.split("=", 1)[1].strip()
        for line in output.splitlines()
        if "export ESCROWGATE_KEY=" in line
    )


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def psql(cfg: Config, sql: str, *, db: str | None = None, check: bool = True,
         timeout: float = 3600) -> list[list[str]]:
    """Run SQL through psql (unaligned, tuples only); rows split on the field separator."""
    cmd = ["psql", "-h", cfg.pg_host, "-p", str(cfg.pg_port), "-U", cfg.pg_user,
           "-d", db or cfg.db, "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1"]
    res = subprocess.run(cmd, input=sql, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f"psql failed ({res.returncode}): {res.stderr.strip()}\n"
                           f"SQL: {sql[:500]}")
    return [line.split("\x1f") for line in res.stdout.splitlines() if line != ""]


def psql_value(cfg: Config, sql: str, *, db: str | None = None) -> str:
    rows = psql(cfg, sql, db=db)
    return rows[0][0] if rows else ""


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))


def need(tool: str, hint: str) -> str:
    found = shutil.which(tool)
    if not found:
        sys.exit(f"{tool} not found: {hint}")
    return found


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
