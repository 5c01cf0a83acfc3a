from __future__ import annotations

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Micro


class LedgerEntry(Base):
    """One leg of a double-entry transaction. Signed amount: the legs of one
    transaction_id sum to zero (debit positive, credit negative)."""

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(8))
    account: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Micro)
    kind: Mapped[str] = mapped_column(String(16))
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conditional_payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_ledger_entries_tenant", "merchant_id", "mode", "id"),
        Index("ix_ledger_entries_transaction", "transaction_id"),
        Index("ix_ledger_entries_order", "conditional_payment_id"),
        # GET /account/ledger-entries?paymentIntentId= (migration 0009).
        Index("ix_ledger_entries_intent", "payment_intent_id", "id"),
    )
