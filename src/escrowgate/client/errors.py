"""One exception class per error `type` of the API's envelope
(`{"error": {"code", "message", "type", "param"?}}`), each carrying the code, the
message, the param, the HTTP status and the answer's request id."""

from __future__ import annotations

from typing import Any


class EscrowgateError(Exception):
    """Base of every error the client raises."""

    error_type: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.status = status
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        where = f" (param {self.param})" if self.param else ""
        rid = f" [request {self.request_id}]" if self.request_id else ""
        return f"{self.status} {self.code}: {self.message}{where}{rid}"


class APIConnectionError(EscrowgateError):
    """No answer: the connection failed or timed out (after every retry)."""


class InvalidRequestError(EscrowgateError):
    """`invalid_request_error`: 400 (a field, named by `param`, or a refused rule) or 404."""

    error_type = "invalid_request_error"


class AuthenticationError(EscrowgateError):
    """`authentication_error`: 401 (missing or invalid key or client secret) or 403."""

    error_type = "authentication_error"


class IdempotencyError(EscrowgateError):
    """`idempotency_error`: the Idempotency-Key is in use by a running request (409)."""

    error_type = "idempotency_error"


class RateLimitError(EscrowgateError):
    """`rate_limit_error` (429); `retry_after` is the seconds until the limit resets."""

    error_type = "rate_limit_error"

    @property
    def retry_after(self) -> int | None:
        value = ((self.body or {}).get("error") or {}).get("retryAfter")
        return value if isinstance(value, int) else None


class APIError(EscrowgateError):
    """`api_error`: the server failed (500), a concurrent conflict (409) or the database
    is unavailable (503); also any answer that is not the error envelope."""

    error_type = "api_error"


_TYPED = (InvalidRequestError, AuthenticationError, IdempotencyError, RateLimitError, APIError)
ERROR_TYPES: dict[str, type[EscrowgateError]] = {
    cls.error_type: cls for cls in _TYPED if cls.error_type is not None
}


def error_from_answer(
    status: int, body: Any, request_id: str | None
) -> EscrowgateError:
    """The exception for a non-2xx answer: by the envelope's `type`, else APIError."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        return APIError(
            f"Unexpected answer with HTTP status {status}",
            code="unexpected_response",
            status=status,
            request_id=request_id,
            body=body if isinstance(body, dict) else None,
        )
    cls = ERROR_TYPES.get(str(err.get("type")), APIError)
    param = err.get("param")
    return cls(
        err["message"],
        code=str(err.get("code")) if err.get("code") is not None else None,
        param=param if isinstance(param, str) else None,
        status=status,
        request_id=request_id,
        body=body,
    )
