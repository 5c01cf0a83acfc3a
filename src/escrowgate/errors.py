"""The one error envelope: every non-2xx answer is an ApiError's body. Domain
exceptions (domain/errors.py) become ApiErrors here, at the edge."""

from __future__ import annotations

from typing import Any

from .domain import errors as domain

AUTH = "authentication_error"
INVALID = "invalid_request_error"
IDEMPOTENCY = "idempotency_error"
RATE_LIMIT = "rate_limit_error"
API = "api_error"


class ApiError(Exception):
    status_code = 400
    error_type = INVALID

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid_request",
        param: str | None = None,
        status_code: int | None = None,
        error_type: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "type": self.error_type}
        if self.param is not None:
            err["param"] = self.param
        err.update(self.extra)
        return {"error": err}


# Status and error type of each domain exception (the most specific class wins).
_DOMAIN_STATUS: tuple[tuple[type[domain.DomainError], int, str], ...] = (
    (domain.Unauthenticated, 401, AUTH),
    (domain.NotFound, 404, INVALID),
    (domain.Forbidden, 403, AUTH),
    (domain.DomainError, 400, INVALID),
)


def from_domain(exc: domain.DomainError) -> ApiError:
    for cls, status, error_type in _DOMAIN_STATUS:
        if isinstance(exc, cls):
            return ApiError(
                exc.message,
                code=exc.code,
                param=exc.param,
                status_code=status,
                error_type=error_type,
            )
    raise AssertionError("unreachable: DomainError is the last row")  # pragma: no cover


class AuthenticationRequired(ApiError):
    status_code = 401
    error_type = AUTH

    def __init__(self) -> None:
        super().__init__("API key is required", code="authentication_required")


class InvalidApiKey(ApiError):
    status_code = 401
    error_type = AUTH

    def __init__(self) -> None:
        super().__init__("Invalid API key", code="invalid_api_key")


def internal_error_body() -> dict[str, Any]:
    return {
        "error": {
            "code": "internal_error",
            "message": "An internal error occurred. It has been logged with the Request-Id.",
            "type": API,
        }
    }


def database_unavailable(retry_after: int = 1) -> ApiError:
    """503 while no writable database answers (down, failing over): nothing was applied,
    or its commit was never acknowledged; retry with the same Idempotency-Key."""
    return ApiError(
        "database unavailable",
        code="database_unavailable",
        status_code=503,
        error_type="api_error",
        headers={"Retry-After": str(retry_after)},
    )
