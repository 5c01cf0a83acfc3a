"""Ids: prefixed, time-ordered, strictly increasing in a process, never repeated, and
random enough that one cannot be guessed from another (an intent id is the payer's
capability on the public routes)."""

from __future__ import annotations

import os
import re

import pytest

from escrowgate.domain import ids

SHAPE = re.compile(r"evt_[0-9a-f]{12}[0-9a-f]{32}")


def test_shape_and_time_prefix() -> None:
    import time

    before = int(time.time() * 1000)
    made = ids.new_id(ids.EVENT)
    after = int(time.time() * 1000)
    assert SHAPE.fullmatch(made), made
    assert before <= int(made[4:16], 16) <= after + 1


def test_strictly_increasing_and_unique_across_block_refills() -> None:
    # Far more random bytes than one block holds, so the block is read again many times.
    made = [ids.new_id(ids.EVENT) for _ in range(5 * ids._BLOCK)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_random_bits_are_in_range_and_vary() -> None:
    with ids._lock:
        values = [ids._random_bits(ids.RANDOM_BITS) for _ in range(2000)]
        steps = [ids._random_bits(ids.STEP_BITS) for _ in range(2000)]
    assert all(0 <= v < 2**ids.RANDOM_BITS for v in values)
    assert all(0 <= v < 2**ids.STEP_BITS for v in steps)
    # 2,000 draws of 100 bits: the top bit is set in about half (a value shifted down
    # too far, or a constant, fails this), and no value repeats.
    top = sum(v >> (ids.RANDOM_BITS - 1) for v in values)
    assert 850 < top < 1150
    assert len(set(values)) == len(values)


def test_two_ids_of_one_millisecond_differ_by_an_unguessable_step() -> None:
    pairs = []
    while len(pairs) < 200:
        a, b = ids.new_id(ids.EVENT), ids.new_id(ids.EVENT)
        if a[4:16] == b[4:16]:
            pairs.append(int(b[16:], 16) - int(a[16:], 16))
    assert all(d >= 1 for d in pairs)
    assert len(set(pairs)) == len(pairs)  # a fixed step would repeat


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_bits() -> None:
    ids.new_id(ids.EVENT)  # the parent holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next random bits, to the parent
        try:
            with ids._lock:
                os.write(write, ids._random_bits(ids.RANDOM_BITS).to_bytes(13))
        finally:
            os._exit(0)
    os.close(write)
    child = int.from_bytes(os.read(read, 13))
    os.close(read)
    os.waitpid(pid, 0)
    with ids._lock:
        parent = ids._random_bits(ids.RANDOM_BITS)
    assert child != parent
