"""The one error envelope: every non-2xx answer is built from an ApiError."""

from __future__ import annotations

from typing import Any

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


class InvalidRequest(ApiError):
    """400 invalid_request."""


class InvalidStatus(ApiError):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, code="invalid_status", param=param)


class InvalidStateTransition(ApiError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(
            f"Cannot transition from {current} to {target}", code="invalid_state_transition"
        )


class NotFound(ApiError):
    status_code = 404

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, code="resource_missing", param=param)


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


class Forbidden(ApiError):
    status_code = 403
    error_type = AUTH

    def __init__(self, what: str = "payment intent") -> None:
        super().__init__(f"You do not have access to this {what}", code="forbidden")


class SignatureVerificationFailed(ApiError):
    def __init__(self, message: str = "Signature verification failed", param: str = "signature"):
        super().__init__(message, code="signature_verification_failed", param=param)


def internal_error_body() -> dict[str, Any]:
    return {
        "error": {
            "code": "internal_error",
            "message": "An internal error occurred. It has been logged with the Request-Id.",
            "type": API,
        }
    }
