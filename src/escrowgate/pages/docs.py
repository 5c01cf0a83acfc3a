"""/docs (Swagger UI) with no internet access: the Swagger UI assets come from the
fastapi-offline package and are served by this server."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_DIR = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_URL = "/static/swagger"


def install(app: FastAPI) -> None:
    app.mount(SWAGGER_URL, StaticFiles(directory=str(SWAGGER_DIR)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} · API docs",
            swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_URL}/favicon.png",
        )
