"""SQLAlchemy tables, one module per aggregate. Importing this registers them all."""

from .base import Base
from .escrow import (
    MILESTONE_INDEX_UNIQUE,
    ConditionalPayment,
    DeliveryProof,
    Dispute,
    Milestone,
    Refund,
    Settlement,
)
from .events import Event
from .idempotency import IdempotencyRecord
from .jobs import Job
from .ledger import LedgerEntry
from .merchants import ApiKey, Merchant
from .payment_intents import PaymentIntent
from .webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "MILESTONE_INDEX_UNIQUE",
    "ApiKey",
    "Base",
    "ConditionalPayment",
    "DeliveryProof",
    "Dispute",
    "Event",
    "IdempotencyRecord",
    "Job",
    "LedgerEntry",
    "Merchant",
    "Milestone",
    "PaymentIntent",
    "Refund",
    "Settlement",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
