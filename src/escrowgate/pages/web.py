"""What every page shares: the Jinja2 templates, the static assets, the security
headers, and one database transaction per page action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import Settings
from ..domain.money import format_amount

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Everything is served from this origin: no inline script, no CDN, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # page URLs may carry the payer's client secret
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _when(ts: int | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: int | None) -> str:
    if not seconds:
        return "—"
    days, rest = divmod(int(seconds), 86_400)
    hours = rest // 3600
    if days and hours:
        return f"{days} days {hours} h"
    if days:
        return f"{days} day" + ("s" if days != 1 else "")
    if hours:
        return f"{hours} h"
    return f"{seconds} s"


templates.env.filters["money"] = format_amount
templates.env.filters["when"] = _when
templates.env.filters["duration"] = _duration


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per page action; the caller commits. Closing without a commit
    rolls back; the rows read stay readable for rendering (close does not expire)."""
    session: AsyncSession = request.app.state.session_factory()
    try:
        yield session
    finally:
        await session.close()
