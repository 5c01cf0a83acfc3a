"""Webhook endpoints, one delivery row per (event, endpoint), one attempt row per try."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    enabled_events: Mapped[list[str]] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The signing secret is never stored: it is derived from WEBHOOK_SECRET_KEY, the
    # endpoint id and this generation (webhooks/signing.py). Rotation bumps it; the
    # previous generation keeps signing until previous_secret_expires_at (ms).
    secret_generation: Mapped[int] = mapped_column(Integer, default=1)
    previous_secret_expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # First failure of the current run of failures (ms); cleared by any success.
    failing_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_webhook_endpoints_tenant", "merchant_id", "mode", "id"),)


class WebhookDelivery(Base):
    """One event to one endpoint. Its id is the `webhook-id` header: the same on every
    retry, so a receiver de-duplicates on it (or on the event id)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), ForeignKey("events.id"))
    endpoint_id: Mapped[str] = mapped_column(String(64), ForeignKey("webhook_endpoints.id"))
    merchant_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Due time (ms). While a worker holds the delivery it is pushed out by the lease,
    # so a worker killed mid-send leaves it due again once the lease has passed.
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(64), ForeignKey("webhook_deliveries.id"))
    endpoint_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[int] = mapped_column(BigInteger)  # ms
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    delivery_status: Mapped[str] = mapped_column(String(16))
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # ms
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),
        # The events retention deletes attempts by delivery (db/housekeeping.py).
        Index("ix_webhook_attempts_delivery", "delivery_id"),
    )
