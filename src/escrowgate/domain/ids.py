"""Prefixed random ids that sort by creation time (newest-first cursors use them)."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = [0, 0]  # last (milliseconds, counter) handed out by this process


RANDOM_BITS = 100  # the random part at the start of each millisecond
STEP_BITS = 80  # random step between two ids of one millisecond

# The random bits come from the OS's CSPRNG (os.urandom, as `secrets` uses) read a block
# at a time: a request makes a dozen ids, and one getrandom call per id was about a
# twentieth of a complete + release's CPU. A forked child (uvicorn's workers) drops the
# block it inherited, so no two processes hand out the same bits.
_BLOCK = 4096


class _Pool:
    block = b""
    used = 0  # bytes of the block handed out


_pool = _Pool()


def _forget_block() -> None:
    _pool.block, _pool.used = b"", 0


os.register_at_fork(after_in_child=_forget_block)


def _take(size: int) -> bytes:
    """`size` fresh random bytes, never handed out before (the caller holds `_lock`)."""
    start = _pool.used
    if start + size > len(_pool.block):
        _pool.block, start = os.urandom(_BLOCK), 0
    _pool.used = start + size
    return _pool.block[start : start + size]


def _random_bits(bits: int) -> int:
    """`bits` fresh random bits (the caller holds `_lock`)."""
    size = (bits + 7) // 8
    return int.from_bytes(_take(size)) >> (size * 8 - bits)


def random_hex(size: int) -> str:
    """`size` random bytes in hex, from the same block as the ids (a request id, a
    reference): not a system call each. Not for secrets (keys, tokens: `secrets`)."""
    with _lock:
        return _take(size).hex()


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
            ms, counter = _last[0], _last[1] + 1 + _random_bits(STEP_BITS)
        else:
            counter = _random_bits(RANDOM_BITS)
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
