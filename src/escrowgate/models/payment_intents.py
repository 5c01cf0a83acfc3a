from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Micro


class PaymentIntent(Base):
    __tablename__ = "payment_intents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24))
    type: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Micro)
    currency: Mapped[str] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    settlement_method: Mapped[str] = mapped_column(String(32))
    settlement_destination: Mapped[str] = mapped_column(String(255))
    settlement_status: Mapped[str] = mapped_column(String(16), default="PENDING")
    metadata_json: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    transaction_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    signature: Mapped[str | None] = mapped_column(String(200), nullable=True)
    signer_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    # Card (Web2) funding details; null for wallet funding.
    funding: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The last declined card payment ({code, message, cardLast4}); null after a success.
    last_payment_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # SHA-256 of the payer's client secret (issued to whoever paid; never stored raw).
    client_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # On PostgreSQL, one more for every transaction that locked the intent (its
    # aggregate: the order and milestones too); a write made without the lock is guarded
    # by the version it read (db/optimistic.py). Never shown in an answer.
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # Newest-first listing per tenant; the id is time-ordered.
        Index("ix_payment_intents_tenant", "merchant_id", "mode", "id"),
        Index("ix_payment_intents_tenant_status", "merchant_id", "mode", "status", "id"),
        # A chain transaction funds one intent, of any merchant (NULLs do not collide).
        Index("uq_payment_intents_transaction_hash", "transaction_hash", unique=True),
    )
