"""CPU accounting during a measured point, from /proc: who used the two cores.

Every process is sampled a few times a second (utime + stime) and put in a role:
generator (wrk / pgbench), app (uvicorn workers), pg_db (PostgreSQL backends of the
bench database), pg_shared (postmaster, WAL writer, checkpointer, autovacuum ...),
harness (this script), profiler (py-spy) and foreign (anything else on the machine:
other people's tests and databases). /proc/stat gives the machine total; what the
per-process samples miss (processes that lived less than one interval) is reported
as unattributed.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")
ROLES = ("generator", "app", "pg_db", "pg_shared", "harness", "profiler", "foreign")
_PG_SHARED = ("checkpointer", "background writer", "walwriter", "autovacuum",
              "logical replication", "stats collector", "archiver", "walsender")


def _probe_once(iterations: int = 50_000) -> float:
    """CPU milliseconds of this thread for a fixed pure-Python loop."""
    c0 = time.thread_time()
    x = 0
    for i in range(iterations):
        x += i * i % 7
    return (time.thread_time() - c0) * 1000


class HostProbe:
    """The host's own speed during a point: the same pure-Python loop (50,000 steps,
    3-4 ms) run five times a second in a thread of this process, its CPU time each
    time. On this kind of host it is not a constant: on an idle machine a loop six
    times longer took from 15 to 25.5 ms of CPU (40 runs over 20 s), the hardware under
    the virtual machine running faster or slower from one second to the next, and every
    CPU figure of a point moves with it. `median_ms` is the point's reading (about 2% of
    a core, counted as the harness's, not the app's)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(_probe_once())

    def __enter__(self) -> HostProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def median_ms(self) -> float | None:
        if not self.samples:
            return None
        return round(sorted(self.samples)[len(self.samples) // 2], 2)


def _cpu_ticks(pid: str) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace")
    except OSError:
        return ""


def machine_ticks() -> tuple[int, int, int]:
    """(busy, total, steal) ticks over all CPUs since boot."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    steal = vals[7] if len(vals) > 7 else 0
    total = sum(vals[:8])
    return total - idle, total, steal


class CpuSampler:
    def __init__(self, db: str, roles: dict[int, str], interval: float = 0.25) -> None:
        self.db_marker = f" {db} "
        self.fixed = dict(roles)
        self.fixed[os.getpid()] = "harness"
        self.interval = interval
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.role: dict[str, str] = {}
        self._initial = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def set_role(self, pid: int, role: str) -> None:
        self.fixed[pid] = role

    def _classify(self, pid: str) -> str:
        if int(pid) in self.fixed:
            return self.fixed[int(pid)]
        cmd = _cmdline(pid)
        if cmd.startswith("postgres:"):
            if self.db_marker in cmd:
                return "pg_db"
            if any(k in cmd for k in _PG_SHARED):
                return "pg_shared"
            return "foreign"
        if "/bin/postgres " in cmd or cmd.endswith("/bin/postgres"):
            return "pg_shared"
        if "py-spy" in cmd:
            return "profiler"
        return "foreign"

    def _scan(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            ticks = _cpu_ticks(pid)
            if ticks is None:
                continue
            if pid not in self.first:
                # a process born during the point: all of its CPU belongs to the point
                self.first[pid] = ticks if self._initial else 0
                self.role[pid] = self._classify(pid)
            elif self.role[pid] == "foreign" and int(pid) in self.fixed:
                self.role[pid] = self.fixed[int(pid)]
            self.last[pid] = ticks

    def _run(self) -> None:
        while not self._stop.is_set():
            self._scan()
            self._stop.wait(self.interval)

    def start(self) -> CpuSampler:
        self.t0 = time.monotonic()
        self.m0 = machine_ticks()
        self._scan()
        self._initial = False
        self._thread.start()
        return self

    def stop(self, extra_seconds: dict[str, float] | None = None) -> dict[str, float]:
        """CPU seconds per role, plus 'total', 'unattributed', 'steal' and 'wall'."""
        self._stop.set()
        self._thread.join()
        self._scan()
        wall = time.monotonic() - self.t0
        m1 = machine_ticks()
        out = {r: 0.0 for r in ROLES}
        for pid, first in self.first.items():
            out[self.role[pid]] += (self.last.get(pid, first) - first) / HZ
        for role, secs in (extra_seconds or {}).items():
            # e.g. the generator measured exactly by wait4(): replaces the sampled value
            out[role] = secs
        busy = (m1[0] - self.m0[0]) / HZ
        out["total"] = busy
        out["steal"] = (m1[2] - self.m0[2]) / HZ
        out["unattributed"] = max(0.0, busy - sum(out[r] for r in ROLES))
        out["wall"] = wall
        # per uvicorn process: shows how evenly the kernel spread the connections
        self.app_split = sorted(
            ((self.last.get(pid, f) - f) / HZ for pid, f in self.first.items()
             if self.role[pid] == "app" and self.last.get(pid, f) - f > 0), reverse=True)
        return out
