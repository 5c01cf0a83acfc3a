"""Prefixed random ids that sort by creation time (newest-first cursors use them)."""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last (milliseconds, counter) handed out by this process


def new_id(prefix: str) -> str:
    """12 hex digits of milliseconds, then 16 hex digits: random at the start of
    each millisecond and counting up within it, so ids are unique, time-ordered, and
    strictly increasing within a process (rows made one after the other in the same
    millisecond, like the events of one transaction, list in the order made)."""
    ms = int(time.time() * 1000)
    with _lock:
        if ms <= _last[0]:
            ms, counter = _last[0], _last[1] + 1
        else:
            counter = secrets.randbits(62)  # room to count up within one millisecond
        _last[0], _last[1] = ms, counter
    return f"{prefix}{ms:012x}{counter:016x}"


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
