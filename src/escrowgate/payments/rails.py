"""Funding rails behind one small interface, so a real card processor or chain can
be added without touching the escrow logic. Sandbox rails serve test mode only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CardCharge:
    ok: bool
    processor: str
    processor_tx_id: str | None = None
    code: str | None = None
    message: str | None = None


class CardRail(Protocol):
    name: str

    async def charge(self, card_number: str, amount_micro: int, currency: str) -> CardCharge: ...


class ChainRail(Protocol):
    name: str

    async def is_confirmed(self, transaction_hash: str) -> bool: ...


class SandboxCardRail:
    """The docs' test cards."""

    name = "mocked_stripe"
    SUCCEED = {"4242424242424242", "5555555555554444"}
    DECLINE = {"4000000000000002": ("payment_failed", "Your card was declined.")}
    INSUFFICIENT = {"4000000000009995": ("insufficient_funds", "Your card has insufficient funds.")}

    async def charge(self, card_number: str, amount_micro: int, currency: str) -> CardCharge:
        if card_number in self.DECLINE:
            code, message = self.DECLINE[card_number]
            return CardCharge(False, self.name, code=code, message=message)
        if card_number in self.INSUFFICIENT:
            code, message = self.INSUFFICIENT[card_number]
            return CardCharge(False, self.name, code=code, message=message)
        if card_number in self.SUCCEED:
            return CardCharge(True, self.name, processor_tx_id="ch_" + secrets.token_hex(12))
        return CardCharge(
            False, self.name, code="payment_failed", message="Your card was declined."
        )


class SandboxChainRail:
    """Confirms every well-formed transaction hash (after the configured delay)."""

    name = "sandbox_chain"

    async def is_confirmed(self, transaction_hash: str) -> bool:
        return True


def card_rail(mode: str) -> CardRail | None:
    return SandboxCardRail() if mode == "test" else None


def chain_rail(mode: str) -> ChainRail | None:
    return SandboxChainRail() if mode == "test" else None
