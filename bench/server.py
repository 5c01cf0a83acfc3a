"""Start and stop escrowgate (uvicorn, several workers) in a production configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from common import OUT, VENV_BIN, Config, log


def app_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=cfg.dsn,
        RATE_LIMIT_ENABLED="false",
        LOG_LEVEL="WARNING",
        OFF_RAMP_MOCK_DELAY_SECONDS="0",
        SANDBOX_CHAIN_DELAY_SECONDS="0",
        DB_POOL_SIZE=str(cfg.pool_size),
        DB_MAX_OVERFLOW=str(cfg.max_overflow),
        RUN_WORKER_IN_PROCESS="false",
    )
    if os.environ.get("BENCH_APP_PYTHONPATH"):
        # A/B runs: serve (and migrate) another checkout's src without reinstalling.
        env["PYTHONPATH"] = os.environ["BENCH_APP_PYTHONPATH"]
    return env


def cli(cfg: Config, *args: str) -> str:
    res = subprocess.run([str(VENV_BIN / "escrowgate"), *args], env=app_env(cfg),
                         capture_output=True, text=True, cwd=OUT)
    if res.returncode != 0:
        raise RuntimeError(f"escrowgate {' '.join(args)} failed: {res.stderr[-2000:]}")
    return res.stdout.strip()


class Server:
    def __init__(self, cfg: Config, workers: int, name: str = "server") -> None:
        self.cfg = cfg
        self.workers = workers
        self.log_path = OUT / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        OUT.mkdir(parents=True, exist_ok=True)
        cmd = [str(VENV_BIN / "escrowgate"), "serve", "--workers", str(self.workers),
               "--host", "127.0.0.1", "--port", str(self.cfg.port)]
        self.cmd = cmd
        with open(self.log_path, "ab") as fh:
            self.proc = subprocess.Popen(cmd, env=app_env(self.cfg), stdout=fh, stderr=fh,
                                         cwd=OUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.cfg.base_url}/health", timeout=1).status_code == 200 \
                        and len(self.worker_pids()) >= self.workers:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            self.stop()
            raise RuntimeError("server did not become ready in 90 s")
        # Each worker must answer: hit /health a few times so both have imported everything.
        for _ in range(4 * self.workers):
            httpx.get(f"{self.cfg.base_url}/health", timeout=5)
        log(f"server up on :{self.cfg.port}, workers {self.worker_pids()}")
        return self

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        if self.workers <= 1:
            return [self.proc.pid]
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat[stat.rfind(")") + 2:].split()[1])
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if ppid == self.proc.pid and b"spawn_main" in cmd:
                pids.append(int(entry.name))
        return sorted(pids)

    def all_pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid, *self.worker_pids()]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # children of the group (workers) are gone with it
        time.sleep(0.5)
        self.proc = None
