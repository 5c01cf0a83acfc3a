"""The EIP-712 typed data a payer signs for an intent (the docs' current form)."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak

from ..domain.money import to_micro_units_string


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
            "intentId": "0x" + keccak(text=intent_id).hex(),
            "amount": to_micro_units_string(amount_micro),
            "nonce": "0",
        },
    }
