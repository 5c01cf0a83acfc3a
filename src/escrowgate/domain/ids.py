"""Prefixed random ids that sort by creation time (newest-first cursors use them)."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last (milliseconds, counter) handed out by this process


RANDOM_BITS = 100  # the random part at the start of each millisecond
STEP_BITS = 80  # random step between two ids of one millisecond


def new_id(prefix: str) -> str:
    """12 hex digits of milliseconds, then 32 hex digits that are random: 100 random
    bits at the start of each millisecond, then each id adds a random step of 80 bits
    (plus one). So ids are unique, time-ordered and strictly increasing within a
    process (rows made one after the other, like the events of one transaction, list
    in the order made), yet no id can be guessed from another: an intent id is the
    payer's capability on the public routes. The longest prefix
    (conditional_payment_) still fits the 64-character id columns."""
    ms = int(time.time() * 1000)
    with _lock:
        if ms <= _last[0]:
            ms, counter = _last[0], _last[1] + 1 + secrets.randbits(STEP_BITS)
        else:
            counter = secrets.randbits(RANDOM_BITS)
        _last[0], _last[1] = ms, counter
    return f"{prefix}{ms:012x}{counter:032x}"


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
