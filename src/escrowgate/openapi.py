"""The OpenAPI document's finishing, in one place: the security schemes, and the
request and response examples of openapi_examples.json (operation ids are given
where the routes are made: api/routing.py). Nothing here changes how a request is
handled."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from .api.docs import KEYED_SECURITY, SECURITY_SCHEMES, needs_key
from .api.routing import VERSION_PREFIX


@cache
def examples() -> dict[str, Any]:
    text = resources.files("escrowgate").joinpath("openapi_examples.json").read_text("utf-8")
    return dict(json.loads(text))


def _finish(doc: dict[str, Any], keyed: set[tuple[str, str]]) -> None:
    """Servers (this one: every path carries its /v1), the security schemes on the
    keyed routes (`keyed`: (path, method) pairs) and `security: []` on the keyless
    ones (they need no key, said explicitly), and the examples."""
    doc.setdefault("servers", [{"url": "/", "description": "This escrowgate server"}])
    if keyed:
        schemes = doc.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.update(SECURITY_SCHEMES)
    known = examples()
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            key_needed = (VERSION_PREFIX.sub("", path), method.upper()) in keyed
            op["security"] = list(KEYED_SECURITY) if key_needed else []
            mine = known.get(op["operationId"], {})
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "request" in mine:
                body["example"] = mine["request"]
            for status, response in op.get("responses", {}).items():
                content = response.get("content", {}).get("application/json")
                if content is None:
                    continue
                if status in mine.get("responses", {}):
                    content["example"] = mine["responses"][status]
                elif not status.startswith("2") and status in known.get("errors", {}):
                    content["example"] = known["errors"][status]


def install(app: FastAPI, api_routes: Iterable[BaseRoute]) -> None:
    """Finish the document FastAPI builds (once: it is cached on the app);
    `api_routes`: the API's routes (their paths carry /v1)."""
    build = app.openapi
    keyed = {
        (VERSION_PREFIX.sub("", route.path_format), method)
        for route in api_routes
        if isinstance(route, APIRoute) and needs_key(route)
        for method in route.methods or ()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _finish(build(), keyed)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
