"""py-spy profiles of the uvicorn workers while wrk drives one path, and where the
CPU goes: by library (leaf-most recognised frame) and by step of the request
(inclusive: authentication, BEGIN, ORM flush, commit, rendering ...)."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import OUT, VENV_BIN, log

# (category, substring of the frame's file path), first match wins, leaf first.
LIBS = [
    ("asyncpg (driver)", "(asyncpg/"),
    ("SQLAlchemy ORM", "(sqlalchemy/orm/"),
    ("SQLAlchemy core/engine/pool", "(sqlalchemy/"),
    ("pydantic (validation)", "(pydantic"),
    ("FastAPI (routing, deps, serialization)", "(fastapi/"),
    ("Starlette", "(starlette/"),
    ("uvicorn / httptools (HTTP)", "(uvicorn/"),
    ("json encode/decode", "(json/"),
    ("logging (structlog)", "(structlog/"),
    ("logging (structlog)", "(logging/"),
    ("keccak / eth_utils", "(eth_"),
    ("keccak / eth_utils", "(Crypto/"),
    ("escrowgate code", "(escrowgate/"),
    ("event loop (asyncio/uvloop)", "(asyncio/"),
    ("event loop (asyncio/uvloop)", "(uvloop/"),
]

# (step, substring of a frame "function (file"), inclusive: any frame of the stack.
STEPS = [
    ("authentication (edge: own session, SELECT api_keys, ROLLBACK)",
     "_authenticate (escrowgate/api/edge.py"),
    ("BEGIN (session autobegin: connection checkout + BEGIN round trip)",
     "_start_transaction (sqlalchemy"),
    ("ORM query execution (AsyncSession.execute, incl. compile + fetch)",
     "AsyncSession.execute (sqlalchemy"),
    ("ORM flush (unit of work: INSERT/UPDATE)", "Session._flush (sqlalchemy"),
    ("COMMIT (AsyncSession.commit)", "AsyncSession.commit (sqlalchemy"),
    ("session close / ROLLBACK / pool checkin", "AsyncSession.close (sqlalchemy"),
    ("request body parsing + pydantic validation", "request_body_to_args (fastapi"),
    ("JSON body parse (ExactJSON parse_json)", "parse_json (escrowgate/api/routing.py"),
    ("response JSON render (JSONResponse.render / serialize)", "render (starlette/responses.py"),
    ("FastAPI response serialization (dict return -> jsonable_encoder)",
     "serialize_response (fastapi"),
    ("intent_data / typed data render", "intent_data (escrowgate"),
    ("milestone_data render", "milestone_data (escrowgate"),
    ("keccak (eth_utils)", "keccak (eth_utils"),
    ("events: emit() building Event rows", "emit (escrowgate/events"),
    ("access log line (structlog log.info)", "structlog/"),
    ("idempotency (none sent by the bench)", "idempotency.py"),
]


def _lib(frame: str) -> str | None:
    for cat, needle in LIBS:
        if needle in frame:
            return cat
    return None


def analyse(raw_files: list[Path]) -> dict[str, Any]:
    total = 0
    libs: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for f in raw_files:
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            cat = "other"
            for fr in reversed(frames):
                c = _lib(fr)
                if c:
                    cat = c
                    break
            libs[cat] += n
            leaf[frames[-1][:140]] += n
            joined = ";".join(frames)
            for step, needle in STEPS:
                if needle in joined:
                    steps[step] += n
            seen = set()
            for fr in frames:
                if "escrowgate/" in fr:
                    name = (fr.split(" (")[0] + " ("
                            + fr.split("escrowgate/")[-1].split(":")[0] + ")")
                    if name not in seen:
                        seen.add(name)
                        own[name] += n

    def pct(c: Counter[str], k: int) -> list[tuple[str, float]]:
        if not total:
            return []
        return [(name, round(100.0 * v / total, 1)) for name, v in c.most_common(k)]

    return {"samples": total, "libraries": pct(libs, 20), "steps": pct(steps, 30),
            "leaf": pct(leaf, 15), "escrowgate_inclusive": pct(own, 15)}


def record(
    pids: list[int], seconds: int, name: str, rate: int = 250
) -> tuple[list[Path], list[subprocess.Popen[bytes]]]:
    out = OUT / "profile"
    out.mkdir(parents=True, exist_ok=True)
    files, procs = [], []
    for pid in pids:
        f = out / f"{name}.{pid}.raw"
        f.unlink(missing_ok=True)
        files.append(f)
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(seconds),
             "--rate", str(rate), "--gil", "--nonblocking", "--format", "raw", "--output", str(f)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    time.sleep(0.5)
    return files, procs


def finish(procs: list[subprocess.Popen[bytes]]) -> list[str]:
    errors = []
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
        if p.returncode not in (0, None):
            err = p.stderr.read().decode()[-300:] if p.stderr else ""
            errors.append(err)
            log(f"py-spy failed: {err}")
    return errors


def available() -> bool:
    return (VENV_BIN / "py-spy").exists()
