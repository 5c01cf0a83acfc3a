"""Verifying a webhook request: the server's own signature scheme (webhooks/signing.py,
the `standardwebhooks` library), not a second implementation of it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ..events.wire import EventWire
from ..webhooks.signing import finternet_signature

__all__ = ["SignatureVerificationError", "construct_event", "verify", "verify_finternet_signature"]


class SignatureVerificationError(Exception):
    """The request is not signed by this secret (or is too old or too new)."""


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str) -> None:
    """Check the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`: any signature of the list, five minutes of tolerance) over
    the exact body bytes. Raises SignatureVerificationError."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        Webhook(secret).verify(text, lowered)
    except WebhookVerificationError as exc:
        raise SignatureVerificationError(str(exc)) from exc


def verify_finternet_signature(payload: bytes, header: str, secret: str) -> None:
    """Check the `finternet-signature` header (hex HMAC-SHA256 of the body keyed with
    the secret string; comma-separated during a rotation). No timestamp in it: prefer
    `verify`, which also refuses replays of old requests."""
    expected = finternet_signature(secret, payload)
    if not any(hmac.compare_digest(expected, given.strip()) for given in header.split(",")):
        raise SignatureVerificationError("No matching finternet-signature")


def construct_event(payload: bytes | str, headers: Mapping[str, str], secret: str) -> EventWire:
    """`verify`, then the body as the API's event model."""
    verify(payload, headers, secret)
    return EventWire.model_validate_json(payload)
