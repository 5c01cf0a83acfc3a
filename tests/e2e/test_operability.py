"""What an operator sees: `escrowgate serve` on an unmigrated database answers 503
and says why (its worker says so once), /ready tells the truth, every log line is
JSON (uvicorn's too), the worker logs each job, and bad settings are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.live_server import free_port
from tests.support.driver import CLI_MODULE, assert_error, intents_url

pytestmark = pytest.mark.e2e
NOT_MIGRATED = "database not migrated: run escrowgate migrate"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", CLI_MODULE, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_until_up(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            httpx.get(url + "/health", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_an_unmigrated_database_is_a_503_until_migrated(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "WORKER_POLL_SECONDS": "0.1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", CLI_MODULE, "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        r = httpx.post(url + intents_url(), json={}, headers={"X-API-Key": "sk_test_x"})
        assert_error(r, 503, "database_not_migrated", NOT_MIGRATED, type_="api_error")
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["checks"]["migrations"]["status"] == "pending"
        assert ready.json()["checks"]["migrations"]["current"] is None
        time.sleep(1.0)  # ten worker polls on the unmigrated database

        done = run_cli("migrate", DATABASE_URL=db)
        assert done.returncode == 0, done.stderr
        time.sleep(2.5)  # the gate re-checks every 2 s
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["migrations"]["status"] == "ok" and checks["worker"] == "ok"
        r = httpx.get(url + intents_url(), headers={"X-API-Key": "sk_test_" + "a" * 32})
        assert_error(r, 401, "invalid_api_key", "Invalid API key", type_="authentication_error")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    lines = [line for line in out.splitlines() if line.strip()]
    records = []
    for line in lines:  # every line is JSON, uvicorn's too
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line[:300]!r}") from None
    assert any(r.get("logger") == "uvicorn.error" for r in records), lines[:5]
    waiting = [r for r in records if r.get("event") == "worker_waiting"]
    assert len(waiting) == 1 and waiting[0]["reason"] == NOT_MIGRATED
    assert not any("Traceback" in line for line in lines + err.splitlines())
    assert any(r.get("event") == "request" and r.get("status") == 503 for r in records)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "abc", "PORT: Input should be a valid integer"),
        ("LOG_LEVEL", "bogus", "LOG_LEVEL: must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG"),
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL: must be a sqlite:/// or postgresql:// URL"),
        (
            "DB_POOL_SIZE",
            "0",
            "DB_POOL_SIZE: must be at least 1 (the connections each process keeps)",
        ),
        (
            "DB_MAX_OVERFLOW",
            "-1",
            "DB_MAX_OVERFLOW: must be 0 or more (extra connections beyond DB_POOL_SIZE)",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(variable, value, message) -> None:
    done = run_cli("serve", **{variable: value})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("escrowgate: invalid setting: ") and message in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
