"""The API-key cache's rules, without a database (auth/cache.py)."""

from __future__ import annotations

from escrowgate.auth.cache import KeyCache
from escrowgate.auth.principal import Principal

ALICE = Principal(key_id="key_a", merchant_id="merchant_a", mode="test", is_operator=False)
BOB = Principal(key_id="key_b", merchant_id="merchant_b", mode="live", is_operator=False)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def armed_cache(clock: FakeClock | None = None) -> KeyCache:
    cache = KeyCache(ttl=60, clock=clock or FakeClock())
    cache.arm()
    return cache


def test_an_unarmed_cache_stores_and_answers_nothing():
    cache = KeyCache()
    cache.put("h1", ALICE, cache.generation)
    assert cache.get("h1") is None
    cache.arm()
    assert cache.get("h1") is None  # what was offered before arming was not kept


def test_an_armed_cache_answers_what_it_stored_and_counts():
    cache = armed_cache()
    assert cache.get("h1") is None
    cache.put("h1", ALICE, cache.generation)
    assert cache.get("h1") == ALICE
    assert (cache.hits, cache.misses) == (1, 1)


def test_evicting_a_key_id_drops_only_that_key():
    cache = armed_cache()
    cache.put("h1", ALICE, cache.generation)
    cache.put("h2", BOB, cache.generation)
    cache.evict_key("key_a")
    assert cache.get("h1") is None
    assert cache.get("h2") == BOB


def test_a_lookup_that_raced_an_eviction_is_not_stored():
    cache = armed_cache()
    before_read = cache.generation
    cache.evict_key("key_a")  # the revocation's notification arrives mid-lookup
    cache.put("h1", ALICE, before_read)
    assert cache.get("h1") is None


def test_disarming_forgets_everything_and_refuses_until_armed_again():
    cache = armed_cache()
    cache.put("h1", ALICE, cache.generation)
    generation = cache.generation
    cache.disarm()
    assert not cache.armed
    assert cache.get("h1") is None
    cache.put("h1", ALICE, generation)
    cache.arm()
    assert cache.get("h1") is None


def test_entries_expire_after_the_ttl():
    clock = FakeClock()
    cache = armed_cache(clock)
    cache.put("h1", ALICE, cache.generation)
    clock.now += 60
    assert cache.get("h1") == ALICE
    clock.now += 0.5
    assert cache.get("h1") is None
