"""`escrowgate webhooks trigger` against a real server, and `listen` forwarding the
events it made, signed with the secret it prints, to a real loopback receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from escrowgate.webhooks import devtools
from tests.api.webhooks.receiver import Receiver
from tests.e2e.live_server import LiveServer

pytestmark = pytest.mark.e2e


async def test_trigger_and_listen(db_url: str, make_merchant: Any) -> None:
    m = await make_merchant("Devtools Ltd")
    server = LiveServer(db_url).start()
    receiver = await Receiver().start()
    stop = asyncio.Event()
    lines: list[str] = []
    try:
        listening = asyncio.create_task(
            devtools.listen(
                server.url,
                m.key,
                receiver.url,
                "whsec_" + "MDEy" * 8,
                poll_seconds=0.1,
                out=lines.append,
                stop=stop,
            )
        )
        while not lines:  # ready
            await asyncio.sleep(0.05)
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "escrowgate.cli",
                "webhooks",
                "trigger",
                "milestone.released",
                "--api-key",
                m.key,
                "--api-base",
                server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        made = done.stdout.split()
        assert "milestone.released" in made and "payment_intent.settlement_completed" in made
        async with asyncio.timeout(30):
            while len(receiver.requests) < len(made):
                await receiver.arrived.wait()
                receiver.arrived.clear()
        got = [json.loads(r.body)["type"] for r in receiver.requests]
        assert sorted(got) == sorted(made)
        secret = "whsec_" + "MDEy" * 8
        for r in receiver.requests:
            Webhook(secret).verify(r.body, r.headers)
            assert (
                r.headers["finternet-signature"]
                == hmac.new(secret.encode(), r.body, hashlib.sha256).hexdigest()
            )
        bad = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "escrowgate.cli",
                "webhooks",
                "trigger",
                "nope.nope",
                "--api-key",
                m.key,
                "--api-base",
                server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 2 and "trigger cannot make nope.nope" in bad.stderr
        stop.set()
        await listening
        assert lines[0].startswith("Ready. Forwarding events to ")
    finally:
        stop.set()
        server.stop()
        await receiver.stop()


async def test_trigger_makes_every_type_it_names(db_url: str, make_merchant: Any) -> None:
    """Each recipe goes through the real API and makes the event it is named after."""
    m = await make_merchant("Trigger Everything Ltd")
    server = LiveServer(db_url).start()
    try:
        for event_type in sorted(devtools.TRIGGERS):
            made = await asyncio.to_thread(devtools.trigger, server.url, m.key, event_type)
            assert event_type in made, (event_type, made)
        with pytest.raises(ValueError, match="trigger cannot make webhook_endpoint.disabled"):
            devtools.trigger(server.url, m.key, "webhook_endpoint.disabled")
    finally:
        server.stop()
