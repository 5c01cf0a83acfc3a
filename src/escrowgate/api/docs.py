"""OpenAPI descriptions of the error answers every route can give."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    type: str
    param: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Invalid request (field named in `param`)",
        401: "Missing or invalid API key",
        403: "The object belongs to another merchant",
        404: "Not found",
        409: "Idempotency key in use",
        413: "Body too large",
        415: "Body is not JSON",
        429: "Rate limit exceeded",
    }
    wanted = {400, 401, 413, 415, 429, *statuses}
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in sorted(wanted)}
