"""Browser tests: a live escrowgate server (SQLite) driven by Playwright with Debian's
Chromium (/usr/bin/chromium; `playwright install` cannot download browsers here).
Without Chromium these tests skip locally and FAIL in CI (CI=true).

Screenshots of every page go to $ESCROWGATE_ARTIFACTS (default tests/artifacts/,
git-ignored), desktop and phone-sized."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.live_server import LiveServer
from tests.support.driver import Settings, create_app, migrate_database, new_merchant

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(
    os.environ.get("ESCROWGATE_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")
)
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} (.ci/run installs Debian's chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    # The async API: the suite runs in pytest-asyncio's (running) session loop.
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture(scope="session")
def live() -> Iterator[LiveServer]:
    path = os.path.join(tempfile.mkdtemp(prefix="escrowgate-browser-"), "b.db")
    url = f"sqlite+aiosqlite:///{path}"
    migrate_database(url)
    server = LiveServer(url, run_worker_in_process="false")
    server.env["PUBLIC_URL"] = server.url
    with server:
        yield server


@pytest.fixture(scope="session")
async def merchant(live: LiveServer) -> Any:
    app = create_app(Settings(database_url=live.database_url, log_level="WARNING"))
    try:
        return await new_merchant(app, "Acme Freelance")
    finally:
        await app.state.engine.dispose()


@pytest.fixture(scope="session")
async def api(live: LiveServer, merchant: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, headers=merchant.headers, timeout=10) as c:
        yield c


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=DESKTOP)
    pg = await context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    await context.close()


async def shoot(pg: Any, name: str, *, phone: bool = True) -> None:
    """Screenshots of the current page: desktop and (by default) phone-sized."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if phone:
        size = pg.viewport_size
        await pg.set_viewport_size(PHONE)
        await pg.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
        # Usable on a phone: nothing sticks out sideways.
        width = await pg.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name}: {width}px wide on a {PHONE['width']}px phone"
        # Nor inside a card: a table that needs its own sideways scroll hides columns.
        inner = await pg.evaluate(
            "[...document.querySelectorAll('.scroll')]"
            ".filter(e => e.scrollWidth > e.clientWidth + 1)"
            ".map(e => (e.querySelector('table') || e).id || e.className)"
        )
        assert inner == [], f"{name}: scrolls sideways inside {inner} on a phone"
        await pg.set_viewport_size(size)
