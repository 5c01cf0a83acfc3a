"""Every line the service prints is JSON: a library's stdlib log line too (SQLAlchemy's
pool reporting a failed reset at shutdown printed plain text before)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import logging
from escrowgate.logging_setup import configure_logging
configure_logging("INFO")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool").error(
        "Exception during reset or similar", exc_info=True
    )
logging.getLogger("asyncio").warning("a %s line", "library")
logging.getLogger("asyncio").debug("below the level")
"""


def test_library_lines_are_json_lines_with_their_trace() -> None:
    # A fresh interpreter: the root logger has no handler yet, as in `escrowgate serve`.
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["logger"], r["level"], r["event"]) for r in records] == [
        (
            "sqlalchemy.pool.impl.AsyncAdaptedQueuePool",
            "error",
            "Exception during reset or similar",
        ),
        ("asyncio", "warning", "a library line"),
    ]
    assert "ZeroDivisionError: division by zero" in records[0]["exception"]
