"""Prefixed random ids that sort by creation time (newest-first cursors use them)."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    # 12 hex digits of milliseconds, then 64 random bits: unique and time-ordered.
    return f"{prefix}{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


INTENT = "intent_"
CONDITIONAL_PAYMENT = "conditional_payment_"
MILESTONE = "milestone_"
DELIVERY_PROOF = "delivery_proof_"
DISPUTE = "dispute_"
REFUND = "refund_"
EVENT = "evt_"
LEDGER_ENTRY = "le_"
LEDGER_TRANSACTION = "ltx_"
MERCHANT = "merchant_"
API_KEY = "key_"
SETTLEMENT = "settlement_"
JOB = "job_"
