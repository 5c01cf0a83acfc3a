"""A peer, side by side (issue 14, item 4): another open-source escrow or milestone-payment
service measured in the same run on the closest equivalents of create milestone and GET.

Its code stays outside this repository: `BENCH_PEER_DIR` names a checkout of it. A peer is
measured through an adapter here (how to start it against PostgreSQL or SQLite, make an
account and an escrow, and which requests are the closest equivalents). No adapter exists
set up as bench/README.md ("A peer") says: secure-escrow-backend (Express + TypeORM +
SQLite, MIT). Without BENCH_PEER_DIR the report says "skipped" with the reason."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

import load
from common import OUT, Config, free_port, log


def _wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("peer exited early; see bench/out/peer/peer.log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("peer did not answer in time")


def secure_escrow_backend(cfg: Config, bench: Any, peer_dir: Path) -> dict[str, Any]:
    """Express + TypeORM + SQLite escrow API (buyer/seller, escrows of products, JWT).
    Closest equivalents: create milestone ~ POST /api/escrows (one escrow with one product
    line: reads the seller and the product, inserts the escrow and its product line);
    GET intent ~ GET /api/escrows/{id} (the escrow with its lines, parties, disputes).
    One Node process (its design: SQLite, one writer), its own file database."""
    entry = peer_dir / "dist" / "index.js"
    if not entry.exists():
        return {"skipped": "skipped: peer checkout not built (npm ci && npx tsc; see "
                           "bench/README.md, A peer)"}
    work = OUT / "peer"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORT": str(port), "DATABASE_PATH": str(work / "peer.sqlite"),
           "JWT_SECRET": "bench-peer", "NODE_ENV": "production",
           "UPLOAD_DIR": str(work / "uploads")}
    with open(work / "peer.log", "ab") as fh:
        proc = subprocess.Popen(["node", str(entry)], cwd=work, env=env, stdout=fh,
                                stderr=fh, start_new_session=True)
    out: dict[str, Any] = {"name": "secure-escrow-backend", "workers": 1}
    try:
        _wait_http(f"{base}/api/health", proc)
        c = httpx.Client(base_url=base + "/api", timeout=30)

        def user(role: str) -> tuple[str, str]:
            email = f"{role}@bench.example"
            r = c.post("/auth/register", json={"name": role, "email": email,
                                               "password": "bench-pass", "role": role})
            r.raise_for_status()
            r = c.post("/auth/login", json={"email": email, "password": "bench-pass"})
            r.raise_for_status()
            body = r.json()
            return str(body["token"]), str(body["user"]["id"])
        seller_token, seller_id = user("seller")
        buyer_token, _ = user("buyer")
        r = c.post("/products", headers={"Authorization": f"Bearer {seller_token}"},
                   data={"name": "bench item", "description": "bench", "price": "10",
                         "category": "bench"},
                   # its product route takes multipart only (multer): a 1-byte image
                   files={"image": ("item.png", b"\x89", "image/png")})
        r.raise_for_status()
        product = str(r.json()["id"])
        body = json.dumps({"products": [{"productId": product, "quantity": 1}],
                           "sellerId": seller_id, "escrowDays": 14}, separators=(",", ":"))
        auth = {"Authorization": f"Bearer {buyer_token}"}
        ids = [str(c.post("/escrows", headers={**auth, "Content-Type": "application/json"},
                          content=body).json()["id"]) for _ in range(200)]
        conc = 16 if 16 in cfg.concurrency else max(cfg.concurrency)
        roles = {proc.pid: "app"}
        create_file = load.write_requests(OUT / "requests" / "peer_create.tsv",
                                          [f"POST\t/api/escrows\t{body}"])
        rnd = random.Random(7)
        get_file = load.write_requests(OUT / "requests" / "peer_get.tsv",
                                       [f"GET\t/api/escrows/{rnd.choice(ids)}\t"
                                        for _ in range(5000)])
        key = f"Bearer {buyer_token}"
        cfg = dataclasses.replace(cfg, port=port)  # wrk drives the peer's port
        load.run_wrk(cfg, create_file, conc, max(1, cfg.warmup), key, roles)
        load.run_wrk(cfg, get_file, conc, max(1, cfg.warmup), key, roles)
        out["concurrency"] = conc
        out["create"] = load.run_wrk(cfg, create_file, conc, cfg.duration, key, roles)
        out["create"]["foreign_cores"] = round(load.foreign_cores(out["create"]), 2)
        out["get"] = load.run_wrk(cfg, get_file, conc, cfg.duration, key, roles)
        out["get"]["foreign_cores"] = round(load.foreign_cores(out["get"]), 2)
        log(f"peer {out['name']}: create escrow {out['create']['throughput']}/s, "
            f"GET escrow {out['get']['throughput']}/s at c={conc}")
    finally:
        os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
            proc.wait(timeout=10)
    return out


# name of the checkout directory -> adapter (a callable(cfg, bench, dir) -> results)
ADAPTERS: dict[str, Any] = {"secure-escrow-backend": secure_escrow_backend}


def measure(cfg: Config, bench: Any) -> dict[str, Any]:
    raw = os.environ.get("BENCH_PEER_DIR", "")
    if not raw:
        reason = "skipped: no peer (BENCH_PEER_DIR is not set; see bench/README.md, A peer)"
        log(f"peer: {reason}")
        return {"skipped": reason}
    peer_dir = Path(raw)
    if not peer_dir.is_dir():
        reason = "skipped: no peer (BENCH_PEER_DIR does not name a directory)"
        log(f"peer: {reason}")
        return {"skipped": reason}
    adapter = ADAPTERS.get(peer_dir.name)
    if adapter is None:
        reason = (f"skipped: no peer adapter for a checkout named {peer_dir.name!r} "
                  "(bench/peer.py ADAPTERS; see bench/README.md, A peer)")
        log(f"peer: {reason}")
        return {"skipped": reason}
    try:
        return dict(adapter(cfg, bench, peer_dir))
    except Exception as exc:  # a peer that fails must not lose the rest of the run
        log(f"peer: failed: {exc}")
        return {"skipped": f"skipped: the peer failed ({type(exc).__name__}: "
                           f"{str(exc)[:200]})"}
