"""CPU per GET of the server process, two checkouts alternated: an A/B through HTTP for
a change that instruction counts cannot see (system calls, page faults: valgrind counts
user-space instructions only) and that one quick bench cannot resolve (its figures move
by a fifth between two runs of the same code on this host).

    .venv/bin/python bench/server_ab.py --src A/src --src B/src [--rounds 6] [--seconds 10]

Per round and checkout: one uvicorn process (`escrowgate serve --workers 1`, the bench's
settings) serving that checkout's src (PYTHONPATH), wrk at 8 connections on one intent's
GET for 3 s of warm-up, then `--seconds` measured; CPU = the process's user + system
time (/proc) / the requests wrk counted. Prints each run and the medians; a run with a
non-2xx answer fails the script. DATABASE_URL: a migrated database (default: the bench
database that `bench/run` leaves). Needs wrk. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from seed import CREATE_BODY  # noqa: E402

CLI = Path(sys.executable).parent / "escrowgate"
PORT = 8111
BASE = f"http://127.0.0.1:{PORT}"


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/escrowgate_bench")
    env.update(RATE_LIMIT_ENABLED="false", LOG_LEVEL="WARNING", RUN_WORKER_IN_PROCESS="false")
    if src:
        env["PYTHONPATH"] = src
    return env


def _serve(src: str | None) -> subprocess.Popen[bytes]:
    cmd = [str(CLI), "serve", "--workers", "1", "--port", str(PORT)]
    proc = subprocess.Popen(
        cmd, env=_env(src), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            if httpx.get(f"{BASE}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _wrk(key: str, url: str, seconds: int) -> tuple[int, bool]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "-H", f"x-api-key: {key}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return requests, "Non-2xx" in out


def _setup() -> tuple[str, str]:
    demo = subprocess.run(
        [str(CLI), "demo"], env=_env(None), capture_output=True, text=True, check=True
    ).stdout
    key = next(
        line.split("=", 1)[1].strip()
        for line in demo.splitlines()
        if "export ESCROWGATE_KEY=" in line
    )
    proc = _serve(None)
    try:
        answer = (
            httpx.post(
                f"{BASE}/v1/payment-intents",
                headers={"x-api-key": key},
                json=CREATE_BODY,
                timeout=10,
            )
            .raise_for_status()
            .json()
        )
    finally:
        proc.terminate()
        proc.wait()
    return key, f"{BASE}/v1/payment-intents/{answer['id']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", required=True, help="a checkout's src")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    key, url = _setup()
    runs: dict[str, list[float]] = {src: [] for src in args.src}
    for r in range(args.rounds):
        for src in args.src:
            proc = _serve(src)
            try:
                _wrk(key, url, 3)
                before = _cpu_ticks(proc.pid)
                requests, failed = _wrk(key, url, args.seconds)
                ticks = _cpu_ticks(proc.pid) - before
            finally:
                proc.terminate()
                proc.wait()
            if failed:
                raise SystemExit(f"{src}: non-2xx answers")
            us = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / requests
            runs[src].append(us)
            print(f"round {r + 1} {src}: {requests} GETs, {us:.0f} us CPU a GET", flush=True)
    for src, values in runs.items():
        print(
            f"median {src}: {statistics.median(values):.0f} us CPU a GET "
            f"({', '.join(f'{v:.0f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
