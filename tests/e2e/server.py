"""A real escrowgate deployment for the seed-example tests, set up only through the
operator's tools: `escrowgate migrate`, `escrowgate merchants create`, `escrowgate keys
create`, then `python -m uvicorn escrowgate.asgi:app`. Every wait is bounded; the server
process is always stopped."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

BIN = Path(sys.executable).parent
E2E_SUFFIX = "_e2e_seed"  # its own database, named after the suite's: never the suite's own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _recreate_postgres_database(base_url: str, name: str) -> str:
    """Drop and create `name` on the server of `base_url`; return a URL to it."""
    import asyncpg

    parts = urlsplit(base_url.replace("postgresql+asyncpg://", "postgresql://"))
    admin = urlunsplit(parts._replace(path="/postgres"))

    async def run() -> None:
        conn = await asyncio.wait_for(asyncpg.connect(admin), timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return urlunsplit(parts._replace(path=f"/{name}"))


def fresh_database_url() -> str:
    pg = os.environ.get("TEST_DATABASE_URL", "")
    if pg:
        # Named after TEST_DATABASE_URL's database: two checkouts testing against one
        # server with databases of their own never drop each other's.
        suite_db = urlsplit(pg).path.strip("/") or "escrowgate"
        return _recreate_postgres_database(pg, suite_db + E2E_SUFFIX)
    path = Path(tempfile.mkdtemp(prefix="escrowgate-e2e-")) / "seed.db"
    return f"sqlite:///{path}"


class Deployment:
    def __init__(self) -> None:
        self.database_url = fresh_database_url()
        self.port = free_port()
        self.env = {**os.environ, "DATABASE_URL": self.database_url, "LOG_LEVEL": "WARNING"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkdtemp(prefix="escrowgate-e2e-log-")) / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(BIN / "escrowgate"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"escrowgate {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    def migrate(self) -> None:
        assert self.cli("migrate").strip() == "migrations applied"

    def spawn(self) -> None:
        out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                str(BIN / "python"),
                "-m",
                "uvicorn",
                "escrowgate.asgi:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    def wait_ready(self, timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.tail()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout}s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def create_merchant_key(self, name: str) -> tuple[str, str]:
        merchant_id = self.cli("merchants", "create", "--name", name).strip()
        assert merchant_id.startswith("merchant_"), merchant_id
        key = self.cli("keys", "create", "--merchant", merchant_id, "--mode", "test").strip()
        assert key.startswith("sk_test_"), "the key is printed alone on stdout"
        return merchant_id, key
