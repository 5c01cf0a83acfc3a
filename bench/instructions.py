"""Machine instructions per request of the four measured paths, counted by valgrind
(cachegrind, instruction counting only): an A/B measure that this shared host's other
load cannot move. CPU time per request differs by a third between two runs of the same
code here (bench/PROFILE_NOTES.md, section 0); an instruction count by about 0.1
million a request at the default 100 requests (work that follows the wall clock, such
as the key cache's refresh, runs fifty times longer under valgrind): enough to see a
change of 5% on a write path, not on a GET. More `--requests` narrow it.

    .venv/bin/python bench/instructions.py [--requests 100] [--src A/src --src B/src]

For each path, one process (the ASGI app called in process, as bench/inproc.py does,
one client) runs twice under cachegrind with the same setup: once with 10 requests of
the path, once with `--requests`; the difference divided by the extra requests is the
path's instructions per request (interpreter, libraries and driver included; the
database server is another process and is not counted). `--src` (repeatable) names a
checkout's src directory to measure instead of the installed one: give two for an A/B,
printed side by side. DATABASE_URL: a database this can migrate and write to (default:
the bench database that `bench/run` leaves). Needs valgrind (Debian's package; installed
when missing and run as root). Not a test: nothing here asserts a count. Takes about a
minute a path a checkout.

An instruction is not a nanosecond: a change that trades instructions for cache misses
or system calls (a syscall is a few hundred instructions here and costs far more) can
count fewer and run slower. Read it beside the CPU columns of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATHS = ("get_intent", "create_intent", "create_milestone", "complete_release")
WARM = 10
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/escrowgate_bench"


def _child(path: str, requests: int) -> None:
    """Run inside valgrind: the setup of `path`, then `requests` of it."""
    sys.path.insert(0, str(HERE))
    from inproc import CARD, COMPLETE_BODY, CREATE_BODY, Driver

    async def main() -> None:
        d = Driver(os.environ["BENCH_KEY"])
        base = "/v1/payment-intents"
        total = int(os.environ["BENCH_TOTAL"])
        async with d.app.router.lifespan_context(d.app):
            reqs: list[tuple[str, str, object, int]]
            if path == "get_intent":
                intent = (await d.ok("POST", base, CREATE_BODY, 201))["id"]
                reqs = [("GET", f"{base}/{intent}", None, 200)] * requests
            elif path == "create_intent":
                reqs = [("POST", base, CREATE_BODY, 201)] * requests
            elif path == "create_milestone":
                roomy = dict(CREATE_BODY, amount="100000000.00")
                orders = [
                    (await d.ok("POST", base, roomy, 201))["id"]  # 100 milestones each
                    for _ in range((total + 99) // 100)
                ]
                reqs = [
                    (
                        "POST",
                        f"{base}/{orders[k // 100]}/escrow/milestones",
                        {
                            "milestoneIndex": k % 100,
                            "description": "bench milestone",
                            "amount": "10.00",
                        },
                        201,
                    )
                    for k in range(requests)
                ]
            else:  # the same setup for both runs: `total` funded orders
                funded = []
                for _ in range(total):
                    i = (await d.ok("POST", base, CREATE_BODY, 201))["id"]
                    m = (
                        await d.ok(
                            "POST",
                            f"{base}/{i}/escrow/milestones",
                            {"milestoneIndex": 0, "description": "b", "amount": "1000.00"},
                            201,
                        )
                    )["id"]
                    await d.ok("POST", f"{base}/public/{i}/payment", CARD, 200)
                    funded.append((i, m))
                reqs = [
                    ("POST", f"{base}/{i}/escrow/milestones/{m}/complete", COMPLETE_BODY, 200)
                    for i, m in funded[:requests]
                ]
            for method, url, body, expect in reqs:
                await d.ok(method, url, body, expect)

    asyncio.run(main())


def _count(src: str | None, path: str, requests: int, total: int, key: str) -> int:
    env = dict(os.environ, BENCH_KEY=key, BENCH_TOTAL=str(total))
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        path,
        "--requests",
        str(requests),
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"{path}: the run failed\n{run.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def _ensure_valgrind() -> None:
    if shutil.which("valgrind"):
        return
    if os.geteuid() != 0:
        raise SystemExit("valgrind is missing: install it (apt-get install valgrind)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "valgrind"],
        check=True,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument(
        "--src", action="append", default=[], help="a checkout's src directory (repeat for an A/B)"
    )
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.requests)
        return
    if args.requests <= WARM:
        raise SystemExit(f"--requests must be more than {WARM}")
    _ensure_valgrind()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    sys.path.insert(0, str(HERE))
    from inproc import demo_key  # sets the service's environment as bench/server.py does

    cli = Path(sys.executable).parent / "escrowgate"
    subprocess.run([str(cli), "migrate"], check=True, capture_output=True)
    key = demo_key()
    variants: list[str | None] = list(args.src) or [None]
    print(f"instructions per request (millions), {args.requests} - {WARM} requests a path")
    print(f"{'path':17s} " + "  ".join(f"{(v or 'installed')[-24:]:>24s}" for v in variants))
    for path in args.paths.split(","):
        counts = []
        for src in variants:
            few = _count(src, path, WARM, args.requests, key)
            many = _count(src, path, args.requests, args.requests, key)
            counts.append((many - few) / (args.requests - WARM) / 1e6)
        line = f"{path:17s} " + "  ".join(f"{c:24.3f}" for c in counts)
        if len(counts) == 2:
            line += f"   B/A {counts[1] / counts[0]:.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
