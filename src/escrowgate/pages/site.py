"""Installs the pages on the app: static assets, the payment page, the dashboard and
the offline API docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from . import dashboard, docs, pay
from .web import STATIC_DIR


def install(app: FastAPI) -> None:
    docs.install(app)  # /static/swagger before /static
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(pay.router)
    app.include_router(dashboard.router)
