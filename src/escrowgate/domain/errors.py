"""Domain exceptions: a rule refused the request. They know nothing of HTTP; the
edge (api/handlers.py) maps each class to its status and the one error envelope."""

from __future__ import annotations


class DomainError(Exception):
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(DomainError):
    """The request is well-formed but a rule refuses it (400)."""


class InvalidStatus(InvalidRequest):
    code = "invalid_status"


class InvalidStateTransition(InvalidRequest):
    code = "invalid_state_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"Cannot transition from {current} to {target}")


class SignatureVerificationFailed(InvalidRequest):
    code = "signature_verification_failed"

    def __init__(
        self, message: str = "Signature verification failed", param: str = "signature"
    ) -> None:
        super().__init__(message, param=param)


class CardDeclined(InvalidRequest):
    """The card rail said no (recorded on the intent; answered as a 400)."""


class Unauthenticated(DomainError):
    """A credential the route needs is missing or wrong (401), e.g. the payer's
    client secret."""

    code = "authentication_required"


class NotFound(DomainError):
    code = "resource_missing"


class Forbidden(DomainError):
    """The object exists but belongs to someone else, or the caller may not do this."""

    code = "forbidden"

    @classmethod
    def not_yours(cls, what: str = "payment intent") -> Forbidden:
        return cls(f"You do not have access to this {what}")
