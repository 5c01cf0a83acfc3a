"""The escrowgate API client: `Client` (sync) and `AsyncClient` on httpx, answering
the API's own response models (escrowgate.payments.wire and its siblings). It imports
no server code: no FastAPI, no SQLAlchemy (import-linter checks it)."""

from __future__ import annotations

from ._core import RetryPolicy
from .client import AsyncClient, Client
from .errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    EscrowgateError,
    IdempotencyError,
    InvalidRequestError,
    RateLimitError,
)
from .webhooks import (
    SignatureVerificationError,
    construct_event,
    verify,
    verify_finternet_signature,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "EscrowgateError",
    "IdempotencyError",
    "InvalidRequestError",
    "RateLimitError",
    "RetryPolicy",
    "SignatureVerificationError",
    "construct_event",
    "verify",
    "verify_finternet_signature",
]
