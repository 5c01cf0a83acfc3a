"""Exception handlers: every failure leaves in the one error envelope."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..db.availability import RETRY_AFTER_SECONDS, is_database_unavailable
from ..domain.errors import DomainError
from ..domain.formats import clip
from ..errors import ApiError, database_unavailable, from_domain, internal_error_body
from .edge import log_database_unavailable, log_server_error
from .idempotency import Replay
from .routing import DuplicateKey

_LOC_ROOTS = {"body", "query", "path", "header"}


def _param(loc: tuple[Any, ...]) -> str | None:
    parts = list(loc)
    if parts and parts[0] in _LOC_ROOTS:
        parts = parts[1:]
    # Drop pydantic's internal markers (function-after etc.) and JSON positions.
    parts = [p for p in parts if not (isinstance(p, str) and "[" in p)]
    if not parts or all(isinstance(p, int) for p in parts):
        return None
    return clip(".".join(str(p) for p in parts))


def validation_message(err: dict[str, Any], param: str | None) -> str:
    kind = err.get("type", "")
    name = param or "body"
    if kind == "escrowgate":
        return str(err.get("msg", "Invalid request"))
    if kind == "missing":
        return f"Missing required parameter: {name}"
    if kind == "extra_forbidden":
        return f"Received unknown parameter: {name}"
    if kind == "json_invalid":
        return "Request body is not valid JSON"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        if param is None:
            return "Request body must be a JSON object"
        return f"{name} must be an object"
    if kind == "string_type":
        return f"{name} must be a string"
    if kind.startswith("int_") or kind == "int_type":
        return f"{name} must be an integer"
    if kind.startswith("bool"):
        return f"{name} must be a boolean"
    if kind == "string_too_long":
        return f"{name} must be at most {err.get('ctx', {}).get('max_length')} characters"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    ctx = err.get("ctx") or {}
    if kind == "less_than_equal":
        return f"{name} must be at most {ctx.get('le')}"
    if kind == "greater_than_equal":
        return f"{name} must be at least {ctx.get('ge')}"
    if kind == "string_pattern_mismatch":
        choices = _choices(str(ctx.get("pattern", "")))
        if choices:
            return f"{name} must be one of {', '.join(choices)}"
        return f"{name} has an invalid format"
    return f"Invalid {name}: {err.get('msg', 'invalid value')}"


def _choices(pattern: str) -> list[str]:
    """The values of an enumeration pattern such as ^(A|B|C)$."""
    match = re.fullmatch(r"\^\(([A-Za-z0-9_.|]+)\)\$", pattern)
    return match.group(1).split("|") if match else []


def validation_error(exc: RequestValidationError) -> ApiError:
    errors = list(exc.errors())
    if not errors:
        return ApiError("The request is invalid")
    first = errors[0]
    param = None if first.get("type") == "json_invalid" else _param(tuple(first.get("loc", ())))
    code = (first.get("ctx") or {}).get("code") or "invalid_request"
    return ApiError(validation_message(first, param), param=param, code=code)


def _allowed_methods(request: Request) -> list[str]:
    """Every method served at this path, from the OpenAPI paths (one route per
    method here, so Starlette's own Allow header would name only one)."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = []
        for template, operations in request.app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
            methods = sorted(m.upper() for m in operations)
            table.append((re.compile("^(?:/api)?" + pattern + "$"), methods))
        request.app.state.allow_table = table
    path = request.url.path
    return sorted({m for regex, methods in table if regex.match(path) for m in methods})


_CONFLICT_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def _is_conflict(exc: DBAPIError) -> bool:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in _CONFLICT_SQLSTATES or "database is locked" in str(orig)


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status_code, headers=err.headers)


def _unavailable(request: Request, exc: BaseException) -> JSONResponse:
    """The database went away under the request (a failover): 503, never a 500."""
    log_database_unavailable(request.scope, exc)
    return _error_response(database_unavailable(RETRY_AFTER_SECONDS))


def install(app: FastAPI) -> None:
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if _is_conflict(exc):
            # Rolled back whole; safe to retry (with the same Idempotency-Key).
            err = ApiError(
                "The request conflicted with a concurrent request and was rolled back; retry it",
                code="concurrent_request_conflict",
                status_code=409,
                error_type="api_error",
            )
            return JSONResponse(err.body(), status_code=409, headers={"Retry-After": "1"})
        if is_database_unavailable(exc):
            return _unavailable(request, exc)
        log_server_error(request.scope, exc)
        return JSONResponse(internal_error_body(), status_code=500)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        # asyncpg raises OSError itself when no host accepts a connection.
        if is_database_unavailable(exc):
            return _unavailable(request, exc)
        log_server_error(request.scope, exc)
        return JSONResponse(internal_error_body(), status_code=500)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        # Starlette's last-resort answer would be plain text; ours is the envelope.
        # (The edge middleware logs the traceback with the request id.)
        if is_database_unavailable(exc):
            return _error_response(database_unavailable(RETRY_AFTER_SECONDS))
        return JSONResponse(internal_error_body(), status_code=500)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        err = from_domain(exc)
        return JSONResponse(err.body(), status_code=err.status_code)

    @app.exception_handler(Replay)
    async def _replay(_: Request, exc: Replay) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(exc)
        return JSONResponse(err.body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, DuplicateKey):
            err = ApiError(str(exc.detail), code="duplicate_key", param=exc.key)
        elif exc.status_code == 404:
            err = ApiError(
                f"Unrecognized request URL ({request.method}: {clip(request.url.path, 200)})",
                code="resource_missing",
                status_code=404,
            )
        elif exc.status_code == 405:
            err = ApiError(
                f"Method {request.method} is not allowed for {clip(request.url.path, 200)}",
                code="method_not_allowed",
                status_code=405,
                headers={"Allow": ", ".join(_allowed_methods(request))},
            )
        else:
            err = ApiError(str(exc.detail), code="invalid_request", status_code=exc.status_code)
        headers = {} if exc.status_code == 405 else dict(exc.headers or {})
        headers.update(err.headers)
        return JSONResponse(err.body(), status_code=err.status_code, headers=headers)
