"""EIP-712 signature recovery (eth-account)."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from .errors import SignatureVerificationFailed


def recover_signer(typed_data: dict[str, Any], signature: str) -> str:
    try:
        message = encode_typed_data(full_message=typed_data)
        return str(Account.recover_message(message, signature=signature))
    except Exception as exc:  # malformed signature bytes, wrong length, bad v...
        raise SignatureVerificationFailed() from exc


def verify(typed_data: dict[str, Any], signature: str, expected_address: str) -> None:
    if recover_signer(typed_data, signature).lower() != expected_address.lower():
        raise SignatureVerificationFailed()
