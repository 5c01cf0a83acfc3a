"""The hashes in the EIP-712 typed data: keccak256, not SHA3-256 (they differ in padding)."""

from __future__ import annotations

from escrowgate.domain.typed_data import id_hash, release_approval_typed_data

# Known keccak256 digests (the empty string; Ethereum's "Transfer(address,address,uint256)").
EMPTY = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def test_id_hash_is_keccak256():
    assert id_hash("") == EMPTY
    assert id_hash("Transfer(address,address,uint256)") == TRANSFER
    assert id_hash("") == EMPTY  # again, from the cache


def test_release_approval_hashes_both_ids():
    data = release_approval_typed_data(
        "", "Transfer(address,address,uint256)", 1_500_000, chain_id=1, contract_address="0x0"
    )
    assert data["message"] == {"intentId": EMPTY, "subjectId": TRANSFER, "amount": "1500000"}
