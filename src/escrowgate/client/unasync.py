"""resources_async.py is resources.py made async, by these rewrites (a test checks the
file is up to date; `python -m escrowgate.client.unasync` rewrites it)."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
RULES: tuple[tuple[str, str], ...] = (
    (r"The resources of the synchronous client", "The resources of the asynchronous client"),
    (
        r"\nresources_async\.py is this file made async \(tests/unit/test_sdk\.py checks it is\)\.",
        "\nGenerated from resources.py by unasync.py: do not edit.",
    ),
    (r"from collections\.abc import Iterator", "from collections.abc import AsyncIterator"),
    (r"SyncTransport", "AsyncTransport"),
    (r"Iterator\[", "AsyncIterator["),
    (r"    def (?!__init__)", "    async def "),
    (r"self\._t\.send\(", "await self._t.send("),
    (r"return self\._iterate\(", "return self._iterate("),
)


def make_async(source: str) -> str:
    for pattern, replacement in RULES:
        source = re.sub(pattern, replacement, source)
    # A list method returns an async iterator: it is a plain def returning one.
    source = re.sub(
        r"    async def (\w+)\(([^)]*)\)( -> AsyncIterator\[)",
        r"    def \1(\2)\3",
        source,
    )
    source = source.replace("    def _iterate(", "    async def _iterate(")
    return source


def render() -> str:
    return make_async((HERE / "resources.py").read_text("utf-8"))


if __name__ == "__main__":
    (HERE / "resources_async.py").write_text(render(), "utf-8")
