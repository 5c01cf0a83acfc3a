"""Run one measured point: wrk against the API, or pgbench with a captured script;
either way with the CPU of every party accounted for (procstat)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH, OUT, Config, percentile, psql
from procstat import CpuSampler

LUA = BENCH / "wrk" / "replay.lua"
_SEED = [int(time.time()) % 1_000_000]


def _next_seed() -> int:
    """A new seed per pgbench run: its fresh ids must not repeat an earlier run's."""
    _SEED[0] += 7919
    return _SEED[0]


def other_db_xacts(cfg: Config) -> int:
    rows = psql(cfg, "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database "
                     f"WHERE datname IS NOT NULL AND datname <> '{cfg.db}'", db="postgres")
    return int(float(rows[0][0])) if rows else 0


def _cpu_summary(cpu: dict[str, float], wall: float) -> dict[str, Any]:
    out = {k: round(v, 2) for k, v in cpu.items()}
    out["cores"] = {k: round(v / wall, 2) for k, v in cpu.items()
                    if k not in ("wall",) and wall > 0}
    return out


def write_requests(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(cfg: Config, reqfile: Path, concurrency: int, duration: int, key: str,
            roles: dict[int, str], threads: int = 1) -> dict[str, Any]:
    threads = max(1, min(threads, concurrency))
    out_json = Path(tempfile.mkstemp(prefix="wrk-", suffix=".json", dir=OUT)[1])
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(LUA), cfg.base_url, "--", str(reqfile), key, str(out_json), str(threads)]
    x0 = other_db_xacts(cfg)
    sampler = CpuSampler(cfg.db, roles)
    sampler.start()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler.set_role(proc.pid, "generator")
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    gen_cpu = rusage.ru_utime + rusage.ru_stime
    cpu = sampler.stop({"generator": gen_cpu})
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    x1 = other_db_xacts(cfg)
    if os.waitstatus_to_exitcode(status) != 0 or out_json.stat().st_size == 0:
        raise RuntimeError(f"wrk failed: {stderr or stdout}")
    res = json.loads(out_json.read_text())
    out_json.unlink()
    secs = res["duration_us"] / 1e6
    statuses = {int(k): v for k, v in res["statuses"].items()}
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    sock_errors = sum(res["errors"][k] for k in ("connect", "read", "write", "timeout"))
    pct = res["latency_us"]["pct"]
    return {
        "tool": "wrk",
        "concurrency": concurrency,
        "duration_s": round(secs, 2),
        "requests": res["requests"],
        "ok": ok,
        "throughput": round(ok / secs, 1),
        "non_2xx": res["requests"] - ok if statuses else res["errors"]["status"],
        "socket_errors": sock_errors,
        "statuses": statuses,
        "error_sample": res["sample"],
        "pool_wrapped": res["wrapped"],
        "latency_ms": {"mean": round(res["latency_us"]["mean"] / 1000, 2),
                       "p50": round(pct["50"] / 1000, 2), "p90": round(pct["90"] / 1000, 2),
                       "p95": round(pct["95"] / 1000, 2), "p99": round(pct["99"] / 1000, 2),
                       "max": round(res["latency_us"]["max"] / 1000, 2)},
        "cpu": _cpu_summary(cpu, wall),
        "generator_cpu_s": round(gen_cpu, 2),
        "generator_cpu_pct_of_core": round(100 * gen_cpu / wall, 1),
        "app_cores_per_process": [round(x / wall, 2) for x in sampler.app_split],
        "other_db_xacts": x1 - x0,
        "cmd": " ".join(cmd[:-4]) + " -- <requests.tsv> <key> <out.json> <threads>",
    }


def run_pgbench(cfg: Config, script: Path, concurrency: int, duration: int,
                defines: dict[str, str], *, transactions: int | None = None,
                roles: dict[int, str] | None = None, rate: float | None = None) -> dict[str, Any]:
    """`rate`: pgbench's -R, transactions per second scheduled (the script run at another
    client's pace, e.g. the API's own rate)."""
    jobs = 1 if concurrency < 8 else 2
    logdir = Path(tempfile.mkdtemp(prefix="pgbench-", dir=OUT))
    cmd = ["pgbench", "-h", cfg.pg_host, "-p", str(cfg.pg_port), "-U", cfg.pg_user, "-n",
           "-M", "prepared", "-c", str(concurrency), "-j", str(jobs), "-f", str(script),
           "-l", "--log-prefix", str(logdir / "tx"), "--random-seed", str(_next_seed()),
           # a failed optimistic guard (SQLSTATE 40001) runs the script again, as the app
           # runs the request again; no other script fails that way
           "--max-tries", "100"]
    cmd += ["-t", str(transactions)] if transactions else ["-T", str(duration)]
    if rate:
        cmd += ["-R", f"{rate:.0f}"]
    captured_vars = sorted(k for k, v in defines.items()
                           if re.fullmatch(r"v\d+", k) or len(v) > 60)
    display = " ".join(cmd) + " " + " ".join(
        f"-D {k}={v}" for k, v in defines.items() if k not in captured_vars)
    if captured_vars:
        display += " -D " + ",".join(captured_vars) + "=<captured values>"
    display = " ".join(display.split()) + " " + cfg.db
    for k, v in defines.items():
        cmd += ["-D", f"{k}={v}"]
    cmd.append(cfg.db)
    x0 = other_db_xacts(cfg)
    sampler = CpuSampler(cfg.db, roles or {}, interval=0.2)
    sampler.start()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler.set_role(proc.pid, "generator")
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    gen_cpu = rusage.ru_utime + rusage.ru_stime
    cpu = sampler.stop({"generator": gen_cpu})
    x1 = other_db_xacts(cfg)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    lat: list[float] = []
    for f in logdir.glob("tx*"):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6:
                lat.append(int(parts[2]) / 1000.0)
    shutil.rmtree(logdir, ignore_errors=True)
    lat.sort()
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", stdout)
    failed = re.search(r"number of failed transactions: (\d+)", stdout)
    return {
        "tool": "pgbench",
        "concurrency": concurrency,
        "exit_code": code,
        "transactions": int(processed.group(1)) if processed else len(lat),
        "failed": int(failed.group(1)) if failed else None,
        "throughput": round(float(m.group(1)), 1) if m else 0.0,
        "errors_text": (stderr.strip().splitlines()[-3:] if code != 0 else []),
        "latency_ms": {"mean": round(sum(lat) / len(lat), 2) if lat else None,
                       "p50": round(percentile(lat, 50), 2), "p90": round(percentile(lat, 90), 2),
                       "p95": round(percentile(lat, 95), 2), "p99": round(percentile(lat, 99), 2),
                       "max": round(lat[-1], 2) if lat else None},
        "cpu": _cpu_summary(cpu, wall),
        "generator_cpu_s": round(gen_cpu, 2),
        "generator_cpu_pct_of_core": round(100 * gen_cpu / wall, 1),
        "other_db_xacts": x1 - x0,
        "rate_limit": round(rate) if rate else None,
        "cmd": display.replace(str(OUT.parent.parent) + "/", ""),
    }


def stat_tables(cfg: Config) -> dict[str, tuple[int, int]]:
    rows = psql(cfg, "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables")
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def foreign_cores(res: dict[str, Any]) -> float:
    cores = res["cpu"]["cores"]
    return float(cores.get("foreign", 0.0)) + float(cores.get("unattributed", 0.0))
