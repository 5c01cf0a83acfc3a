"""bench/run: the money paths of escrowgate against PostgreSQL's own limit.

1. A fresh database (escrowgate_bench), migrated; merchant and key from the CLI.
2. The SQL of each path captured from the server (log_statement=all for that
   database only) and turned into pgbench scripts.
3. For each scale (existing payment intents): escrowgate with several uvicorn
   workers driven by wrk at each concurrency, then pgbench running the captured
   SQL at the same concurrencies; EXPLAIN (ANALYZE) of every hot query.
4. py-spy profiles of each path; bench/REPORT.md written from the results.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import capture
import cpu_profile as prof
import explain
import load
import minimal
import peer
import report
import seed
import stack_floor
import webhooks_step
from common import (
    OUT,
    PATHS,
    REPORT,
    VENV_BIN,
    Config,
    free_port,
    lit,
    load_config,
    log,
    need,
    psql,
    psql_value,
    write_json,
)
from procstat import HostProbe
from seed import TAG_FILLER_BENCH, TAG_MS_POOL, TAG_PGB_COMPLETE, Api, State
from server import Server

CONSUMING = ("create_milestone", "complete_release")
# Paths that write nothing: their points begin after a CHECKPOINT (Harness.settle).
READ_ONLY = ("get_intent",)
CAPTURE_INDEX = 997  # the milestone index of the captured request: becomes :idx


def machine_info(cfg: Config) -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])

    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True).stdout
            return out.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    pkgs = {}
    try:
        from importlib.metadata import version as pv

        for p in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "SQLAlchemy",
                  "asyncpg", "pydantic", "structlog", "py-spy"):
            try:
                pkgs[p] = pv(p)
            except Exception:
                pkgs[p] = "not installed"
    except ImportError:
        pass
    settings = {r[0]: r[1] for r in psql(cfg, """SELECT name, setting || coalesce(unit, '')
        FROM pg_settings WHERE name IN ('shared_buffers','max_connections','synchronous_commit',
        'fsync','wal_level','max_wal_size','work_mem','effective_cache_size','jit',
        'random_page_cost','checkpoint_timeout')""", db="postgres")}
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgresql": psql_value(cfg, "SELECT version()", db="postgres"),
        "pg_settings": settings,
        "wrk": version(["wrk", "--version"]) or version(["sh", "-c", "wrk --version 2>&1"]),
        "pgbench": version(["pgbench", "--version"]),
        "packages": pkgs,
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


class Bench:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.st = State()
        self.results: dict[str, Any] = {"config": {k: v for k, v in vars(cfg).items()
                                                   if k != "extra"},
                                        "levels": [], "captures": {}, "issues": []}
        self.rate: dict[str, float] = {p: 150.0 for p in PATHS}
        self.scripts: dict[str, capture.Script] = {}
        self.script_files: dict[str, Path] = {}
        self.ms_pool = 0
        self.pgb_pool = 0
        self.recent_foreign: list[float] = []

    def should_retry(self, foreign: float, attempts: int) -> bool:
        """Measure again only when other processes loaded the machine during this point
        but not during the points before it: a retry cannot escape a sustained load."""
        cfg = self.cfg
        recent = sorted(self.recent_foreign[-3:])
        sustained = len(recent) == 3 and recent[1] > cfg.max_foreign_cores
        return foreign > cfg.max_foreign_cores and attempts <= cfg.retries and not sustained

    def note_foreign(self, foreign: float) -> None:
        self.recent_foreign.append(foreign)

    # ---- setup ---------------------------------------------------------------------
    def setup(self) -> None:
        cfg, st = self.cfg, self.st
        log(f"database {cfg.db}: drop, create, migrate")
        seed.create_database(cfg)
        seed.create_merchants(cfg, st)
        # Standing pools: orders that receive milestones (reset before each point) and
        # funded orders pgbench completes again and again (its statements do not check).
        self.ms_pool = 4000 if not cfg.quick else 2000
        self.pgb_pool = 3000 if not cfg.quick else 1500
        st.ms_pool, st.pgb_complete = self.ms_pool, self.pgb_pool
        psql(cfg, f"ALTER DATABASE {cfg.db} SET log_statement = 'all'", db="postgres")
        server = Server(cfg, 1, "capture")
        try:
            server.start()
            seed.make_templates(cfg, st)
            seed.clone_plain(cfg, st, TAG_MS_POOL, 1, self.ms_pool + 2)
            seed.clone_funded(cfg, st, TAG_PGB_COMPLETE, 1, self.pgb_pool + 2)
            info = seed.add_filler(cfg, st, self.cfg.scales[0])
            log(f"filler: {info}")
            self.capture_all(server)
        finally:
            psql(cfg, f"ALTER DATABASE {cfg.db} RESET log_statement", db="postgres")
            server.stop()
        self.validate_scripts()
        log("stack floor: CPU per round trip of asyncpg and SQLAlchemy ...")
        self.results["stack_floor"] = {
            # quick: one round of each (best of 3 otherwise), for a ~3 minute run
            **stack_floor.measure(cfg.dsn, st.tpl_plain["intent"], rounds=1 if cfg.quick else 3),
            **stack_floor.http_floor(free_port(), seconds=2 if cfg.quick else 4),
        }
        log("stack floor: the tail of a bare FastAPI read at c=64 ...")
        self.results["stack_floor"]["tail_floor"] = stack_floor.tail_floor(
            free_port(), cfg.dsn, st.tpl_plain["intent"], workers=cfg.workers,
            pool=cfg.pool_size + cfg.max_overflow, seconds=3 if cfg.quick else 8,
            rounds=1 if cfg.quick else 3)
        log(f"stack floor: {self.results['stack_floor']}")

    def capture_all(self, server: Server) -> None:
        cfg, st = self.cfg, self.st
        api = Api(cfg, st)
        m_cap, m_warm = self.ms_pool + 1, self.ms_pool + 2
        c_cap, c_warm = self.pgb_pool + 1, self.pgb_pool + 2
        pid = lambda kind, tag, n: st.pool_id(kind, tag, n)  # noqa: E731
        # Warm: every statement once more on this server before the capture.
        api.create_intent()
        api.add_milestone(pid("intent", TAG_MS_POOL, m_warm), CAPTURE_INDEX - 1,
                          seed.MILESTONE_AMOUNT)
        api.complete(pid("intent", TAG_PGB_COMPLETE, c_warm),
                     pid("milestone", TAG_PGB_COMPLETE, c_warm))
        api.get(pid("intent", TAG_FILLER_BENCH, 2))
        actions = {
            "create_intent": lambda: api.create_intent(),
            "create_milestone": lambda: api.add_milestone(
                pid("intent", TAG_MS_POOL, m_cap), CAPTURE_INDEX, seed.MILESTONE_AMOUNT),
            "complete_release": lambda: api.complete(
                pid("intent", TAG_PGB_COMPLETE, c_cap), pid("milestone", TAG_PGB_COMPLETE, c_cap)),
            "get_intent": lambda: api.get(pid("intent", TAG_FILLER_BENCH, 1)),
        }
        known = {
            "create_intent": ({}, []),
            "create_milestone": (
                {pid("intent", TAG_MS_POOL, m_cap): st.pool_sql("intent", TAG_MS_POOL, ":n"),
                 pid("order", TAG_MS_POOL, m_cap): st.pool_sql("order", TAG_MS_POOL, ":n"),
                 str(CAPTURE_INDEX): ":idx"},
                ["-- each client fills its own orders round-robin: -D k=0 -D nc=<clients> "
                 "-D slots=<pool>/<clients>",
                 "\\set j :k % :slots", "\\set idx :k / :slots",
                 "\\set n 1 + :client_id + :nc * :j", "\\set k :k + 1"]),
            "complete_release": (
                {pid("intent", TAG_PGB_COMPLETE, c_cap):
                     st.pool_sql("intent", TAG_PGB_COMPLETE, ":n"),
                 pid("order", TAG_PGB_COMPLETE, c_cap):
                     st.pool_sql("order", TAG_PGB_COMPLETE, ":n"),
                 pid("milestone", TAG_PGB_COMPLETE, c_cap):
                     st.pool_sql("milestone", TAG_PGB_COMPLETE, ":n")},
                ["-- a random funded order of the pool (-D pool=<size>)",
                 "\\set n random(1, :pool)"]),
            "get_intent": (
                {pid("intent", TAG_FILLER_BENCH, 1): st.pool_sql("intent", TAG_FILLER_BENCH, ":n")},
                ["-- a random existing intent of the merchant (-D pool=<size>)",
                 "\\set n random(1, :pool)"]),
        }
        for path in PATHS:
            stmts, started = capture.capture(cfg, path, actions[path])
            capture.save_capture(path, stmts)
            mapping, header = known[path]
            script = capture.build_script(path, stmts, started, mapping, header)
            self.scripts[path] = script
            self.script_files[path] = script.write(OUT / "pgbench")
            self.results["captures"][path] = capture.summarize(stmts)
            self.results["captures"][path]["sql"] = [s.sql for s in stmts]

    def pgbench_defines(self, path: str, concurrency: int) -> dict[str, str]:
        d = dict(self.scripts[path].defines)
        if path == "create_milestone":
            d.update(k="0", nc=str(concurrency), slots=str(max(1, self.ms_pool // concurrency)))
        elif path == "complete_release":
            d["pool"] = str(self.pgb_pool)
        elif path == "get_intent":
            d["pool"] = str(self.st.filler[TAG_FILLER_BENCH])
        return d

    def validate_scripts(self) -> None:
        """Each script must write exactly what the request wrote: rows inserted and
        updated per table per transaction (pg_stat_user_tables), no error."""
        cfg = self.cfg
        self.results["validation"] = {}
        for path in PATHS:
            seed.reset_ms_pool(cfg, self.st)
            before = load.stat_tables(cfg)
            n = 20
            res = load.run_pgbench(cfg, self.script_files[path], 1, 0,
                                   self.pgbench_defines(path, 1), transactions=n)
            time.sleep(0.7)
            after = load.stat_tables(cfg)
            problems = []
            if res["exit_code"] != 0:
                problems.append(f"pgbench failed: {res['errors_text']}")
            for table, exp in self.scripts[path].expected.items():
                d_ins = after.get(table, (0, 0))[0] - before.get(table, (0, 0))[0]
                d_upd = after.get(table, (0, 0))[1] - before.get(table, (0, 0))[1]
                if d_ins != exp["ins"] * n or d_upd != exp["upd"] * n:
                    problems.append(f"{table}: inserted {d_ins}, updated {d_upd}; expected "
                                    f"{exp['ins'] * n}, {exp['upd'] * n}")
            self.results["validation"][path] = {"transactions": n, "expected_per_tx":
                                                self.scripts[path].expected, "problems": problems}
            if problems:
                raise RuntimeError(f"pgbench script for {path} does not do what the request "
                                   f"did: {problems}")
            log(f"pgbench script {path}: validated ({n} tx, rows written as the request)")
        seed.reset_ms_pool(cfg, self.st)
        self.validate_minimal()

    def minimal_defines(self, path: str, concurrency: int) -> dict[str, str]:
        return minimal.defines(path, self.st, self.scripts[path].statements, concurrency,
                               self.ms_pool, self.pgb_pool)

    def validate_minimal(self) -> None:
        """Each minimal-SQL script must write the same rows per table as the request did
        (the durable work), checked like the captured scripts (pg_stat_user_tables)."""
        cfg = self.cfg
        self.results["validation_minimal"] = {}
        for path in PATHS:
            seed.reset_ms_pool(cfg, self.st)
            want = {t: v for t, v in self.scripts[path].expected.items()
                    if v["ins"] or v["upd"]}
            declared = {t: v for t, v in minimal.expected(path).items() if v["ins"] or v["upd"]}
            problems = []
            if declared != want:
                problems.append(f"declared writes {declared} differ from the request's {want}")
            before = load.stat_tables(cfg)
            n = 20
            res = load.run_pgbench(cfg, minimal.script(path), 1, 0,
                                   self.minimal_defines(path, 1), transactions=n)
            time.sleep(0.7)
            after = load.stat_tables(cfg)
            if res["exit_code"] != 0:
                problems.append(f"pgbench failed: {res['errors_text']}")
            for table in set(want) | set(after):
                exp = want.get(table, {"ins": 0, "upd": 0})
                d_ins = after.get(table, (0, 0))[0] - before.get(table, (0, 0))[0]
                d_upd = after.get(table, (0, 0))[1] - before.get(table, (0, 0))[1]
                if d_ins != exp["ins"] * n or d_upd != exp["upd"] * n:
                    problems.append(f"{table}: inserted {d_ins}, updated {d_upd}; expected "
                                    f"{exp['ins'] * n}, {exp['upd'] * n}")
            self.results["validation_minimal"][path] = {
                "transactions": n, "expected_per_tx": want, "problems": problems,
                "round_trips": minimal.statements(path),
                "round_trips_captured": len(self.scripts[path].statements)}
            if problems:
                raise RuntimeError(f"minimal-SQL script for {path} does not do the request's "
                                   f"durable work: {problems}")
            log(f"minimal-SQL script {path}: validated ({n} tx, same rows as the request, "
                f"{minimal.statements(path)} round trips vs "
                f"{len(self.scripts[path].statements)})")
        seed.reset_ms_pool(cfg, self.st)

    # ---- API points ----------------------------------------------------------------
    def request_file(self, path: str, concurrency: int, duration: float,
                     extra_factor: float = 1.0) -> tuple[Path, dict[str, Any]]:
        cfg, st = self.cfg, self.st
        f = OUT / "requests" / f"{path}.tsv"
        est = int(max(600, 3.0 * self.rate[path] * (duration + 1) * extra_factor))
        info: dict[str, Any] = {}
        if path == "create_intent":
            lines = ["POST\t/v1/payment-intents\t" + seed.dumps(seed.CREATE_BODY)]
        elif path == "get_intent":
            rnd = random.Random(7)
            top = st.filler[TAG_FILLER_BENCH]
            lines = [f"GET\t/v1/payment-intents/"
                     f"{st.pool_id('intent', TAG_FILLER_BENCH, rnd.randint(1, top))}\t"
                     for _ in range(20000)]
            info["targets"] = top
        elif path == "create_milestone":
            seed.reset_ms_pool(cfg, st)
            cap = min(est, self.ms_pool * 100)
            lines = []
            for i in range(cap):
                n, idx = 1 + i % self.ms_pool, i // self.ms_pool
                body = seed.dumps({"milestoneIndex": idx, "description": "bench milestone",
                                   "amount": seed.MILESTONE_AMOUNT})
                lines.append(f"POST\t/v1/payment-intents/{st.pool_id('intent', TAG_MS_POOL, n)}"
                             f"/escrow/milestones\t{body}")
            info["pool_orders"] = self.ms_pool
            info["capacity"] = cap
        elif path == "complete_release":
            tag = st.new_tag("c")
            t0 = time.monotonic()
            seed.clone_funded(cfg, st, tag, 1, est)
            psql(cfg, "ANALYZE payment_intents, conditional_payments, milestones, ledger_entries")
            info["pool_tag"], info["capacity"] = tag, est
            info["clone_seconds"] = round(time.monotonic() - t0, 1)
            body = seed.dumps(seed.COMPLETE_BODY)
            lines = [f"POST\t/v1/payment-intents/{st.pool_id('intent', tag, n)}/escrow/milestones/"
                     f"{st.pool_id('milestone', tag, n)}/complete\t{body}"
                     for n in range(1, est + 1)]
        else:
            raise ValueError(path)
        return load.write_requests(f, lines), info

    def api_point(self, server: Server, path: str, concurrency: int) -> dict[str, Any]:
        cfg = self.cfg
        roles = {pid: "app" for pid in server.all_pids()}
        best: dict[str, Any] | None = None
        attempts = 0
        factor = 1.0
        while True:
            attempts += 1
            reqfile, info = self.request_file(path, concurrency, cfg.duration, factor)
            res = self.measured(path, load.run_wrk, cfg, reqfile, concurrency, cfg.duration,
                                self.st.key, roles)
            res["pool"] = info
            res["attempts"] = attempts
            exhausted = path in CONSUMING and res["pool_wrapped"] > 0
            if exhausted and attempts < 4:
                log(f"  {path} c={concurrency}: request pool exhausted, again with a larger one")
                factor *= 3
                self.rate[path] = max(self.rate[path], res["throughput"])
                continue
            foreign = load.foreign_cores(res)
            res["foreign_cores"] = round(foreign, 2)
            if best is None or foreign < best["foreign_cores"]:
                best = res
            if self.should_retry(foreign, attempts):
                log(f"  {path} c={concurrency}: {foreign:.2f} cores used by other processes; again")
                continue
            break
        self.note_foreign(best["foreign_cores"])
        self.rate[path] = max(self.rate[path], best["throughput"])
        return best

    def warmup(self, server: Server) -> None:
        cfg = self.cfg
        roles = {pid: "app" for pid in server.all_pids()}
        c = max(cfg.concurrency)
        for path in PATHS:
            # The rates are not known yet (150/s assumed; the app now does several times
            # that): a file that runs out is replayed from its start, and a create
            # milestone replayed is "index already exists". Room for four times more.
            reqfile, _ = self.request_file(path, c, cfg.warmup, extra_factor=4.0)
            res = load.run_wrk(cfg, reqfile, c, cfg.warmup, self.st.key, roles)
            self.rate[path] = max(self.rate[path], res["throughput"] * 0.7)
            if res["non_2xx"] or res["socket_errors"]:
                self.results["issues"].append(
                    {"where": f"warmup {path} c={c}", "non_2xx": res["non_2xx"],
                     "statuses": res["statuses"], "sample": res["error_sample"]})
        log("warm-up done: " + ", ".join(f"{p} ~{self.rate[p]:.0f}/s" for p in PATHS))

    # ---- pgbench points ------------------------------------------------------------
    def pgbench_point(self, path: str, concurrency: int, kind: str = "pgbench",
                      rate: float | None = None) -> dict[str, Any]:
        """kind: "pgbench" runs the captured statements, "minimal" the hand-written
        least SQL (bench/minimal_sql). rate: run at that many transactions a second
        (pgbench -R) instead of as fast as it can."""
        cfg = self.cfg
        script, defines = ((self.script_files[path], self.pgbench_defines(path, concurrency))
                           if kind == "pgbench" else
                           (minimal.script(path), self.minimal_defines(path, concurrency)))
        best: dict[str, Any] | None = None
        attempts = 0
        while True:
            attempts += 1
            if path == "create_milestone":
                seed.reset_ms_pool(cfg, self.st)
            res = self.measured(path, load.run_pgbench, cfg, script, concurrency, cfg.duration,
                                defines, rate=rate)
            res["attempts"] = attempts
            foreign = load.foreign_cores(res)
            res["foreign_cores"] = round(foreign, 2)
            if best is None or foreign < best["foreign_cores"]:
                best = res
            if self.should_retry(foreign, attempts):
                log(f"  {kind} {path} c={concurrency}: {foreign:.2f} foreign cores; again")
                continue
            break
        self.note_foreign(best["foreign_cores"])
        if best["exit_code"] != 0:
            self.results["issues"].append({"where": f"{kind} {path} c={concurrency}",
                                           "errors": best["errors_text"]})
        return best

    def measured(self, path: str, run: Callable[..., dict[str, Any]], *args: Any,
                 **kwargs: Any) -> dict[str, Any]:
        """One point, the API's or pgbench's (`run(*args, **kwargs)`), with what every
        point records around it: the checkpoints completed during it and the host's
        speed."""
        before = self.settle(path)
        with HostProbe() as probe:
            res = run(*args, **kwargs)
        res["checkpoints_during"] = self.checkpoints() - before
        res["host_probe_ms"] = probe.median_ms
        return res

    def settle(self, path: str) -> int:
        """Before each point of a read-only path: a CHECKPOINT, so that the pages the
        write points before it dirtied are not flushed during it (this PostgreSQL
        checkpoints every 30-40 s under the write paths, max_wal_size 1 GB), for the
        API's points and pgbench's alike. Not before a write point: right after a
        checkpoint every page a write first touches goes whole into the WAL
        (full_page_writes), a cost that steady state spreads over minutes, so a 10 s
        write point would measure mostly that. Returns the server's checkpoint count, to
        record the checkpoints completed during the point (`checkpoints_during`)."""
        if path in READ_ONLY:
            psql(self.cfg, "CHECKPOINT")
        return self.checkpoints()

    def checkpoints(self) -> int:
        rows = psql(self.cfg, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
        return int(rows[0][0])

    def check_connections(self, need_conns: int) -> None:
        rows = psql(self.cfg, "SELECT count(*), current_setting('max_connections')::int "
                              "FROM pg_stat_activity", db="postgres")
        used, limit = int(rows[0][0]), int(rows[0][1])
        if used + need_conns > limit - 3:
            log(f"  WARNING: {used} connections in use of {limit}; pgbench needs {need_conns}")
            self.results["issues"].append({"where": "connections", "used": used, "limit": limit,
                                           "needed": need_conns})

    # ---- EXPLAIN -------------------------------------------------------------------
    def explain(self) -> list[dict[str, Any]]:
        cfg, st = self.cfg, self.st
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        n_for = {"create_milestone": "1", "complete_release": str(max(1, self.pgb_pool // 2)),
                 "get_intent": str(max(1, st.filler[TAG_FILLER_BENCH] // 2))}
        seed.reset_ms_pool(cfg, st)
        for path in PATHS:
            script = self.scripts[path]
            for s in script.statements:
                if s.verb not in ("SELECT", "UPDATE") or s.sql in seen:
                    continue
                seen.add(s.sql)
                args = []
                for v in s.params:
                    if v is None:
                        args.append("NULL")
                    elif v in script.pool_vars:
                        expr = script.pool_vars[v]
                        expr = expr.replace(":n", n_for.get(path, "1")).replace(":idx", "0")
                        args.append(expr if expr != "0" else "0")
                    else:
                        args.append(lit(v))
                sql_txt = (f"BEGIN;\nSET LOCAL plan_cache_mode = force_generic_plan;\n"
                           f"PREPARE q AS {s.sql.rstrip(';')};\n"
                           f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) "
                           f"EXECUTE q({', '.join(args)});\nROLLBACK;\n")
                try:
                    plan = [r[0] for r in psql(cfg, sql_txt)]
                except RuntimeError as exc:
                    plan = [f"(EXPLAIN failed: {exc})"]
                out.append({"path": path, "sql": s.sql, "plan": plan})
        return out

    # ---- levels --------------------------------------------------------------------
    def run_level(self, index: int, scale: int) -> None:
        cfg, st = self.cfg, self.st
        level: dict[str, Any] = {"scale": scale, "api": {}, "pgbench": {}, "minimal": {}}
        self.results["levels"].append(level)
        log(f"== level {index + 1}: {scale:,} payment intents ==")
        level["filler"] = seed.add_filler(cfg, st, scale)
        level["counts_start"] = seed.counts(cfg)
        level["sizes_start"] = seed.table_sizes(cfg)
        log(f"  rows: {level['counts_start']}  sizes: {level['sizes_start']}")
        concurrencies = cfg.concurrency if index == 0 else cfg.large_concurrency
        level["concurrency"] = concurrencies
        server = Server(cfg, cfg.workers)
        server.start()
        try:
            self.warmup(server)
            for path in PATHS:
                for c in concurrencies:
                    res = self.api_point(server, path, c)
                    level["api"].setdefault(path, {})[str(c)] = res
                    log(f"  api     {path:17s} c={c:<3d} {res['throughput']:8.1f}/s  "
                        f"p50 {res['latency_ms']['p50']:7.1f}  "
                        f"p99 {res['latency_ms']['p99']:7.1f} ms"
                        f"  non-2xx {res['non_2xx']}  gen {res['generator_cpu_pct_of_core']}%"
                        f"  foreign {res['foreign_cores']}")
                    if res["non_2xx"] or res["socket_errors"]:
                        self.results["issues"].append({
                            "where": f"level {scale} api {path} c={c}", "non_2xx": res["non_2xx"],
                            "socket_errors": res["socket_errors"], "statuses": res["statuses"],
                            "sample": res["error_sample"]})
            if index == 0 and prof.available():
                level["profile"] = self.profile(server)
        finally:
            server.stop()
        if index == 0 and cfg.workers > 1:
            level["one_process"] = self.one_process(concurrencies)
        self.check_connections(max(concurrencies) + 2)
        seed.vacuum(cfg)
        for path in PATHS:
            for c in concurrencies:
                res = self.pgbench_point(path, c)
                level["pgbench"].setdefault(path, {})[str(c)] = res
                log(f"  pgbench {path:17s} c={c:<3d} {res['throughput']:8.1f}/s  "
                    f"p50 {res['latency_ms']['p50']:7.2f}  p99 {res['latency_ms']['p99']:7.2f} ms"
                    f"  exit {res['exit_code']}  gen {res['generator_cpu_pct_of_core']}%"
                    f"  foreign {res['foreign_cores']}")
        for path in PATHS:
            for c in concurrencies:
                res = self.pgbench_point(path, c, "minimal")
                level["minimal"].setdefault(path, {})[str(c)] = res
                log(f"  minimal {path:17s} c={c:<3d} {res['throughput']:8.1f}/s  "
                    f"p50 {res['latency_ms']['p50']:7.2f}  p99 {res['latency_ms']['p99']:7.2f} ms"
                    f"  exit {res['exit_code']}  foreign {res['foreign_cores']}")
        if index == 0:
            level["minimal_at_api_rate"] = self.minimal_at_api_rate(level)
        level["explain"] = self.explain()
        level["counts_end"] = seed.counts(cfg)
        level["sizes_end"] = seed.table_sizes(cfg)

    def minimal_at_api_rate(self, level: dict[str, Any]) -> dict[str, Any]:
        """The minimal SQL again at the headline's concurrency, held to the API's measured
        rate (pgbench -R): PostgreSQL's CPU per transaction grows as the rate falls (fewer
        commits share a WAL flush, each backend sleeps and is woken more often), so this
        is the database's price of the same work at the pace the API sets."""
        c = 16 if 16 in level["concurrency"] else max(level["concurrency"])
        out: dict[str, Any] = {}
        for path in PATHS:
            api = level["api"].get(path, {}).get(str(c))
            if not api or not api["throughput"]:
                continue
            res = self.pgbench_point(path, c, "minimal", rate=api["throughput"])
            out[path] = res
            log(f"  minimal {path:17s} c={c:<3d} at the API's {api['throughput']:.0f}/s: "
                f"{res['throughput']:8.1f}/s  exit {res['exit_code']}")
        return out

    def one_process(self, concurrencies: list[int]) -> dict[str, Any]:
        """Scale out, measured: the same paths with one API process (uvicorn, one
        worker), at the concurrency of the headline, to set beside the N-process points."""
        c = 16 if 16 in concurrencies else max(concurrencies)
        out: dict[str, Any] = {"workers": 1, "concurrency": c, "api": {}}
        log(f"  scale out: one API process, c={c}")
        server = Server(self.cfg, 1, "server-1proc")
        server.start()
        try:
            self.warmup(server)
            for path in PATHS:
                res = self.api_point(server, path, c)
                out["api"][path] = res
                log(f"  api 1p  {path:17s} c={c:<3d} {res['throughput']:8.1f}/s  "
                    f"p99 {res['latency_ms']['p99']:7.1f} ms  non-2xx {res['non_2xx']}"
                    f"  foreign {res['foreign_cores']}")
        finally:
            server.stop()
        return out

    def profile(self, server: Server) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {}
        c = 16 if 16 in cfg.concurrency else max(cfg.concurrency)
        roles = {pid: "app" for pid in server.all_pids()}
        for path in PATHS:
            reqfile, _ = self.request_file(path, c, cfg.profile_seconds + 1)
            files, procs = prof.record(server.worker_pids(), cfg.profile_seconds + 1, path)
            res = load.run_wrk(cfg, reqfile, c, cfg.profile_seconds, self.st.key, roles)
            errors = prof.finish(procs)
            analysis = prof.analyse(files)
            analysis["concurrency"] = c
            analysis["throughput_while_profiling"] = res["throughput"]
            analysis["errors"] = errors
            analysis["app_cpu_ms_per_request"] = round(
                1000 * res["cpu"]["app"] / max(1, res["ok"]), 2)
            out[path] = analysis
            log(f"  profile {path}: {analysis['samples']} samples, "
                f"{res['throughput']:.0f}/s under py-spy")
        return out

    def audit(self) -> dict[str, Any]:
        t0 = time.monotonic()
        res = subprocess.run([str(VENV_BIN / "escrowgate"), "audit"], capture_output=True,
                             text=True, env={**os.environ, "DATABASE_URL": self.cfg.dsn})
        lines = (res.stdout + res.stderr).strip().splitlines()
        # pgbench replays the complete+release statements on the same pool orders again and
        # again (it does not check state), so those orders' ledgers cannot balance: expected.
        # Everything the API wrote must pass.
        marker = f"conditional_payment_{self.st.stamp}{TAG_PGB_COMPLETE}"
        pgbench_only = [x for x in lines if marker in x]
        problems = [x for x in lines
                    if x.startswith(("order ", "transaction ")) and marker not in x]
        return {"exit_code": res.returncode, "seconds": round(time.monotonic() - t0, 1),
                "problems_outside_pgbench_pool": len(problems), "problem_samples": problems[:5],
                "pgbench_pool_orders_flagged": len(pgbench_only),
                "last_line": lines[-1] if lines else ""}


def app_version() -> str:
    """Which escrowgate was measured: the checkout's commit (and whether src/ had
    uncommitted changes), or the BENCH_APP_PYTHONPATH override."""
    override = os.environ.get("BENCH_APP_PYTHONPATH")
    own_src = Path(__file__).resolve().parent.parent / "src"
    if override and Path(override).resolve() != own_src:
        return "src from BENCH_APP_PYTHONPATH (another checkout)"
    try:
        root = str(Path(__file__).resolve().parent.parent)
        rev = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %s"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        return f"commit {rev}" + (" (with uncommitted changes in src/)" if dirty else "")
    except OSError:
        return "unknown"


def main() -> int:
    cfg = load_config()
    need("wrk", "apt-get install wrk (Debian package)")
    need("pgbench", "apt-get install postgresql-client (or postgresql-contrib)")
    need("psql", "apt-get install postgresql-client")
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    bench = Bench(cfg)
    bench.results["machine"] = machine_info(cfg)
    peer_dir = os.environ.get("BENCH_PEER_DIR")
    bench.results["command"] = (
        (f"BENCH_PEER_DIR=<checkout of {Path(peer_dir).name}> " if peer_dir else "")
        + ("BENCH_QUICK=1 " if cfg.quick else "") + "bench/run")
    bench.results["env_overrides"] = {k: ("<path>" if v.startswith("/") else v)
                                      for k, v in os.environ.items() if k.startswith("BENCH_")}
    bench.results["app_under_test"] = app_version()
    bench.results["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started))
    if not prof.available():
        log("py-spy not in .venv: the Profile section will be skipped "
            "(.venv/bin/pip install py-spy)")
    try:
        bench.setup()
        for i, scale in enumerate(cfg.scales):
            bench.run_level(i, scale)
        bench.results["peer"] = peer.measure(cfg, bench)
        log("webhook delivery throughput ...")
        bench.results["webhooks"] = webhooks_step.measure(cfg)
        log("EXPLAIN of the growing tables at 10x today's sizes (bench/explain.py) ...")
        bench.results["growth_explain"] = explain.measure(cfg)
        log("audit (ledger balances, held amounts) ...")
        bench.results["audit"] = bench.audit()
        log(f"audit: {bench.results['audit']}")
    finally:
        bench.results["elapsed_s"] = round(time.time() - started, 1)
        write_json(OUT / "results.json", bench.results)
    report.write(bench.results, REPORT)
    log(f"done in {bench.results['elapsed_s']:.0f} s: {REPORT}, raw data in {OUT}")
    issues = bench.results["issues"]
    if issues:
        log(f"{len(issues)} issue(s): see the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
