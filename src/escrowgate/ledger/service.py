"""Double-entry postings. Every money movement is one balanced transaction (its
legs sum to zero), written in the same database transaction as the state change.

Accounts (per merchant, mode and currency):
  payer             outside money: funding credits it, refunds debit it
  escrow            money held for an order
  merchant_pending  released to the merchant, settlement not yet confirmed
  merchant_settled  paid out to the merchant's settlementDestination
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.rows import add_row
from ..domain import ids
from ..domain.clock import now
from ..models import LedgerEntry

PAYER = "payer"
ESCROW = "escrow"
MERCHANT_PENDING = "merchant_pending"
MERCHANT_SETTLED = "merchant_settled"

FUND = "FUND"
RELEASE = "RELEASE"
SETTLE = "SETTLE"
REFUND = "REFUND"

_MOVES = {
    # kind -> (account debited, account credited)
    (FUND, True): (ESCROW, PAYER),
    (FUND, False): (MERCHANT_PENDING, PAYER),  # CONDITIONAL: paid straight to the merchant
    (RELEASE, True): (MERCHANT_PENDING, ESCROW),
    (SETTLE, True): (MERCHANT_SETTLED, MERCHANT_PENDING),
    (REFUND, True): (PAYER, ESCROW),
}


_ENTRIES = cast(Table, LedgerEntry.__table__)


@dataclass(frozen=True)
class Posting:
    merchant_id: str
    mode: str
    currency: str
    payment_intent_id: str | None
    conditional_payment_id: str | None


def post(
    session: AsyncSession,
    where: Posting,
    kind: str,
    amount: int,
    *,
    reference_id: str | None = None,
    escrowed: bool = True,
) -> str:
    """Write one balanced two-leg transaction moving `amount` micro-units."""
    if amount <= 0:
        raise ValueError("a posting moves a positive amount")
    debit, credit = _MOVES[(kind, escrowed)]
    txn = ids.new_id(ids.LEDGER_TRANSACTION)
    at = now()
    for account, signed in ((debit, amount), (credit, -amount)):
        # A plain row: the legs of the transaction's postings go in one INSERT (db/rows.py).
        add_row(
            session,
            _ENTRIES,
            {
                "id": ids.new_id(ids.LEDGER_ENTRY),
                "transaction_id": txn,
                "merchant_id": where.merchant_id,
                "mode": where.mode,
                "currency": where.currency,
                "account": account,
                "amount": signed,
                "kind": kind,
                "payment_intent_id": where.payment_intent_id,
                "conditional_payment_id": where.conditional_payment_id,
                "reference_id": reference_id,
                "created_at": at,
            },
        )
    return txn


async def balances(session: AsyncSession, merchant_id: str, mode: str) -> dict[str, dict[str, int]]:
    """currency -> account -> balance (micro-units)."""
    stmt = (
        select(LedgerEntry.currency, LedgerEntry.account, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.mode == mode)
        .group_by(LedgerEntry.currency, LedgerEntry.account)
    )
    out: dict[str, dict[str, int]] = {}
    for currency, account, total in (await session.execute(stmt)).all():
        out.setdefault(currency, {})[account] = int(total or 0)
    return out
