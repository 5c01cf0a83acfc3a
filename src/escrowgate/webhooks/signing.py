"""Webhook secrets and signatures.

A secret is never stored: it is HMAC-SHA256(WEBHOOK_SECRET_KEY, endpoint id and
generation), shown as `whsec_` + base64 (the Standard Webhooks form). A database dump
alone therefore cannot sign; the key lives in the environment of the API and worker.

Each request carries two signatures of the exact body bytes:
- `finternet-signature`: lower-case hex HMAC-SHA256 keyed with the secret string
  itself (UTF-8, the whole `whsec_...`), as the Finternet docs describe. During a
  rotation it lists the new and the old signature, comma separated.
- `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks, signed by
  the `standardwebhooks` library; space-separated `v1,...` per valid secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
# Test mode only, when WEBHOOK_SECRET_KEY is unset (live endpoints are then refused).
DEVELOPMENT_KEY = "escrowgate-development-webhook-key"


def master_key(configured: str) -> str:
    return configured or DEVELOPMENT_KEY


def derive_secret(key: str, endpoint_id: str, generation: int) -> str:
    digest = hmac.new(
        key.encode(), f"webhook-endpoint:{endpoint_id}:{generation}".encode(), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


def random_secret() -> str:
    """A one-off secret (`escrowgate webhooks listen`)."""
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def finternet_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_headers(
    secrets_: list[str], body: bytes, webhook_id: str, timestamp: int
) -> dict[str, str]:
    """Headers signing `body` with every secret in `secrets_` (newest first)."""
    at = datetime.fromtimestamp(timestamp, tz=UTC)
    text = body.decode("utf-8")
    return {
        "content-type": "application/json",
        "finternet-signature": ",".join(finternet_signature(s, body) for s in secrets_),
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            Webhook(s).sign(msg_id=webhook_id, timestamp=at, data=text) for s in secrets_
        ),
    }
