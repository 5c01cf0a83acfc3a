"""EIP-712 signature recovery (eth-account), refusing malleable signatures."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from .errors import SignatureVerificationFailed

# secp256k1's group order. EIP-2: a signature with s above half of it has a twin
# (s' = N - s, flipped v) that recovers the same signer; accept only the low-s form,
# so one approval has exactly one valid encoding.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HIGH_S_MESSAGE = "Signature verification failed: s value is too high (EIP-2)"


def _check_low_s(signature: str) -> None:
    raw = bytes.fromhex(signature.removeprefix("0x"))
    if len(raw) == 65 and int.from_bytes(raw[32:64], "big") > SECP256K1_N // 2:
        raise SignatureVerificationFailed(HIGH_S_MESSAGE)


def recover_signer(typed_data: dict[str, Any], signature: str) -> str:
    try:
        _check_low_s(signature)
    except ValueError as exc:  # not hex
        raise SignatureVerificationFailed() from exc
    try:
        message = encode_typed_data(full_message=typed_data)
        return str(Account.recover_message(message, signature=signature))
    except Exception as exc:  # malformed signature bytes, wrong length, bad v...
        raise SignatureVerificationFailed() from exc


def verify(typed_data: dict[str, Any], signature: str, expected_address: str) -> None:
    if recover_signer(typed_data, signature).lower() != expected_address.lower():
        raise SignatureVerificationFailed()
