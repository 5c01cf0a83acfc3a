"""CPU per GET of the server process, two checkouts alternated: an A/B through HTTP for
a change that instruction counts cannot see (system calls, page faults: valgrind counts
user-space instructions only) and that one quick bench cannot resolve (its figures move
by a fifth between two runs of the same code on this host).

    .venv/bin/python bench/server_ab.py --src A/src --src B/src [--rounds 6] [--seconds 10]

Per round and checkout: one uvicorn process (`escrowgate serve --workers 1`, the bench's
settings) serving that checkout's src (PYTHONPATH), wrk at 8 connections on one intent's
GET for 3 s of warm-up, then `--seconds` measured; CPU = the process's user + system
time (/proc) / the requests wrk counted. Prints each run and the medians; a run with a
non-2xx answer fails the script. The database and the server's settings are the bench's
(bench/common.py: BENCH_DB, default the escrowgate_bench database that `bench/run` leaves
migrated; bench/server.py). Needs wrk. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import OUT, Config, key_from_demo, load_config  # noqa: E402
from seed import CREATE_BODY  # noqa: E402
from server import Server, cli  # noqa: E402


def _serve(cfg: Config, src: str) -> Server:
    """One server process (the bench's settings) serving `src`."""
    # Read by server.app_env; absolute, as the server runs in bench/out.
    os.environ["BENCH_APP_PYTHONPATH"] = os.path.abspath(src)
    return Server(cfg, workers=1, name="server_ab").start()


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


def _setup(cfg: Config) -> tuple[str, str]:
    """A key (`escrowgate demo`) and one intent to GET, made by the installed code."""
    os.environ.pop("BENCH_APP_PYTHONPATH", None)
    OUT.mkdir(parents=True, exist_ok=True)
    key = key_from_demo(cli(cfg, "demo"))
    server = Server(cfg, workers=1, name="server_ab").start()
    try:
        answer = (
            httpx.post(
                f"{cfg.base_url}/v1/payment-intents",
                headers={"x-api-key": key},
                json=CREATE_BODY,
                timeout=10,
            )
            .raise_for_status()
            .json()
        )
    finally:
        server.stop()
    return key, f"{cfg.base_url}/v1/payment-intents/{answer['id']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", required=True, help="a checkout's src")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    cfg = load_config()
    key, url = _setup(cfg)
    runs: dict[str, list[float]] = {src: [] for src in args.src}
    for r in range(args.rounds):
        for src in args.src:
            server = _serve(cfg, src)
            try:
                pid = server.worker_pids()[0]
                _wrk(key, url, 3)
                before = _cpu_ticks(pid)
                requests, failed = _wrk(key, url, args.seconds)
                ticks = _cpu_ticks(pid) - before
            finally:
                server.stop()
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
