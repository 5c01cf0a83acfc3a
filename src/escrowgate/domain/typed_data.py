"""The EIP-712 typed data a payer signs for an intent (the docs' current form)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_utils.crypto import keccak

from ..domain.money import to_micro_units_string


@lru_cache(maxsize=4096)
def id_hash(text: str) -> str:
    """keccak256 of an id, 0x-hex. Kept for the ids hashed most recently: a request
    often shows one intent's typed data twice (an event and the answer), and a hash
    through eth-utils and pycryptodome costs about as much as rendering a milestone."""
    return "0x" + keccak(text=text).hex()


def intent_typed_data(
    intent_id: str, amount_micro: int, *, chain_id: int, contract_address: str
) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "PaymentIntent": [
                {"name": "intentId", "type": "bytes32"},
                {"name": "amount", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "PaymentIntent",
        "domain": {
            "name": "Finternet Payment Gateway",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": contract_address,
        },
        "message": {
            "intentId": id_hash(intent_id),
            "amount": to_micro_units_string(amount_micro),
            "nonce": "0",
        },
    }


def _domain(chain_id: int, contract_address: str) -> dict[str, Any]:
    return {
        "name": "Finternet Payment Gateway",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": contract_address,
    }


_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def release_approval_typed_data(
    intent_id: str, subject_id: str, amount_micro: int, *, chain_id: int, contract_address: str
) -> dict[str, Any]:
    """What the payer signs to approve a release: of one milestone (subject = the
    milestone id) or of a delivered order (subject = the conditional payment id)."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_TYPE,
            "ReleaseApproval": [
                {"name": "intentId", "type": "bytes32"},
                {"name": "subjectId", "type": "bytes32"},
                {"name": "amount", "type": "uint256"},
            ],
        },
        "primaryType": "ReleaseApproval",
        "domain": _domain(chain_id, contract_address),
        "message": {
            "intentId": id_hash(intent_id),
            "subjectId": id_hash(subject_id),
            "amount": to_micro_units_string(amount_micro),
        },
    }
