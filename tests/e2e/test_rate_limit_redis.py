"""Two API processes sharing one limit through Redis (REDIS_URL)."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.e2e.live_server import LiveServer
from tests.support.driver import intents_url

pytestmark = pytest.mark.e2e
REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379 on this machine")
async def test_two_processes_enforce_one_limit(db_url, make_merchant):
    m = await make_merchant()
    env = {"rate_limit_enabled": "true", "rate_limit_test_per_minute": "6", "redis_url": REDIS_URL}
    with LiveServer(db_url, **env) as a, LiveServer(db_url, **env) as b:
        import time

        if 60 - time.time() % 60 < 5:
            time.sleep(60 - time.time() % 60 + 0.1)
        codes = []
        for i in range(10):
            server = a if i % 2 == 0 else b
            r = httpx.get(server.url + intents_url(), headers=m.headers, timeout=10)
            codes.append(r.status_code)
        assert codes == [200] * 6 + [429] * 4, codes


def test_redis_url_without_the_redis_extra_is_one_line(tmp_path):
    """redis is the optional extra `escrowgate[redis]`: REDIS_URL set without it installed
    stops the server at start with one line, not a traceback on the first request."""
    import os
    import subprocess
    import sys

    from escrowgate.api.rate_limit import REDIS_MISSING

    hide_redis = (
        "import sys; sys.modules['redis'] = None; sys.argv = ['escrowgate', 'serve']; "
        "from escrowgate.cli import main; main()"
    )
    # serve imports the app in this process only with one worker: through uvicorn's
    # "escrowgate.asgi:app", whose SettingsError is one line too.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", hide_redis], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert f"escrowgate: {REDIS_MISSING}" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr
