"""Conditional payment (escrow order) and what hangs off it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from .base import Base, Micro


class ConditionalPayment(Base):
    __tablename__ = "conditional_payments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(ForeignKey("payment_intents.id"), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    mode: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(Micro)
    funded_amount: Mapped[int] = mapped_column(Micro, default=0)
    released_amount: Mapped[int] = mapped_column(Micro, default=0)
    refunded_amount: Mapped[int] = mapped_column(Micro, default=0)
    settled_amount: Mapped[int] = mapped_column(Micro, default=0)
    # Sum of the order's non-cancelled milestones and count of all of them (cancelled
    # included: the 100 limit counts every index taken), kept on the locked row so
    # the creation checks are one read of a row we hold.
    milestone_total: Mapped[int] = mapped_column(Micro, default=0)
    milestone_count: Mapped[int] = mapped_column(Integer, default=0)
    release_type: Mapped[str] = mapped_column(String(24))
    auto_release: Mapped[bool] = mapped_column(Boolean, default=False)
    time_lock_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dispute_window: Mapped[int] = mapped_column(BigInteger)
    delivery_period: Mapped[int] = mapped_column(BigInteger)
    delivery_deadline: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expected_delivery_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    actual_delivery_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    delivery_oracle: Mapped[str | None] = mapped_column(String(42), nullable=True)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    buyer_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    order_status: Mapped[str] = mapped_column(String(16), default="PENDING")
    settlement_status: Mapped[str] = mapped_column(String(16), default="NONE")
    funded_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    released_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status_before_dispute: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Test clock: seconds this order's time has been moved forward (test mode only).
    clock_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "released_amount >= 0 AND refunded_amount >= 0 AND settled_amount >= 0"
            " AND released_amount + refunded_amount <= funded_amount",
            name="money_out_within_funded",
        ),
        CheckConstraint("settled_amount <= released_amount", name="settled_within_released"),
        Index("ix_conditional_payments_tenant", "merchant_id", "mode"),
    )


# "Milestone with index N already exists" is this constraint's answer (payments.milestones).
MILESTONE_INDEX_UNIQUE = UniqueConstraint(
    "conditional_payment_id", "milestone_index", name="uq_milestone_index"
)


class Milestone(Base):
    __tablename__ = "milestones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conditional_payment_id: Mapped[str] = mapped_column(ForeignKey("conditional_payments.id"))
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    # The order's currency, copied at creation (it never changes): every rendering of
    # the milestone, events included, shows its amount in that currency's minor units.
    currency: Mapped[str] = mapped_column(String(8), default="USDC")
    milestone_index: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    amount: Mapped[int] = mapped_column(Micro)
    percentage_bp: Mapped[int] = mapped_column(Integer)  # hundredths of a percent
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    completion_proof: Mapped[str | None] = mapped_column(Text, nullable=True)
    completion_proof_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    released_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Payer approval recorded; the release itself still waits for index order.
    approved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Created while the order was funded: released only by an approval (payments.model).
    added_after_funding: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    release_tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        MILESTONE_INDEX_UNIQUE,
        CheckConstraint("amount > 0", name="amount_positive"),
        # The database backs up payments.model.MAX_MILESTONE_INDEX (a migration, not an import).
        CheckConstraint("milestone_index >= 0 AND milestone_index <= 999", name="index_range"),
    )


class DeliveryProof(Base):
    __tablename__ = "delivery_proofs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conditional_payment_id: Mapped[str] = mapped_column(
        ForeignKey("conditional_payments.id"), unique=True
    )
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    proof_hash: Mapped[str] = mapped_column(String(66))
    proof_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_by: Mapped[str] = mapped_column(String(255))
    submit_tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    submitted_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conditional_payment_id: Mapped[str] = mapped_column(
        ForeignKey("conditional_payments.id"), unique=True
    )
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[str] = mapped_column(String(255))
    window_seconds: Mapped[int] = mapped_column(BigInteger)
    raised_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    refund_amount: Mapped[int | None] = mapped_column(Micro, nullable=True)
    resolved_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conditional_payment_id: Mapped[str] = mapped_column(ForeignKey("conditional_payments.id"))
    payment_intent_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Micro)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)


class Settlement(Base):
    """One payout of released money to the intent's settlementDestination."""

    __tablename__ = "settlements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(ForeignKey("payment_intents.id"))
    conditional_payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    milestone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(Micro)
    currency: Mapped[str] = mapped_column(String(8))
    method: Mapped[str] = mapped_column(String(32))
    destination: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    external_tx_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)
