"""An in-process cache of API-key lookups, kept honest by PostgreSQL LISTEN/NOTIFY.

Every authenticated request used to look its key up by hash: one round trip, the
ORM's row loading and a session, about a fifth of a GET's CPU. Keys change rarely, so
each API process keeps the principals it has resolved. What makes that safe is the
database, not the process: a trigger on `api_keys` (migration 0008) sends
`NOTIFY escrowgate_api_keys, '<key id>'` in the transaction that revokes, re-hashes or
deletes a key, whatever wrote it (the CLI, another process, an operator's SQL), and
each process's listener drops that key the moment the notification arrives
(milliseconds after the commit).

The cache answers only while the listener is connected ("armed"). Whenever the
listener is not known to be live (not started yet, its connection lost, the database
failing over) the cache is emptied and every request goes to the database, as it did
before: a missed notification can never leave a revoked key working. A lookup that
races a notification cannot cache a stale answer either: it remembers the eviction
generation before it reads and stores its row only if no eviction happened since.

Not used on SQLite (no NOTIFY; a second process, such as `escrowgate keys revoke`,
could not tell this one) nor behind PgBouncer in transaction mode (LISTEN needs a
session of its own): there every request reads the key, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from .principal import Principal

log = structlog.get_logger("escrowgate.auth")

CHANNEL = "escrowgate_api_keys"
LISTENER_NAME = "escrowgate-key-listener"  # its application_name in pg_stat_activity
# A safety net only (notifications do the real work): an entry is re-read after this.
TTL_SECONDS = 300.0
MAX_ENTRIES = 10_000
# How often the listener proves its connection alive; a dead one disarms the cache.
PROBE_SECONDS = 5.0
_TRIGGERS_PRESENT = (
    "SELECT count(*) = 2 FROM pg_trigger WHERE tgrelid = 'api_keys'::regclass"
    " AND tgname IN ('api_keys_notify_update', 'api_keys_notify_delete')"
)


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    stored_at: float


class KeyCache:
    """Principals by key hash. Armed only while revocations are known to reach it."""

    def __init__(self, *, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._entries: dict[str, _Entry] = {}
        self._armed = False
        self._generation = 0
        self._ttl = ttl
        self._clock = clock
        self.hits = 0
        self.misses = 0

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key_hash: str) -> Principal | None:
        if not self._armed:
            return None
        entry = self._entries.get(key_hash)
        if entry is None or self._clock() - entry.stored_at > self._ttl:
            self.misses += 1
            return None
        self.hits += 1
        return entry.principal

    def put(self, key_hash: str, principal: Principal, generation: int) -> None:
        """Store a lookup made when the generation was `generation`; dropped if any
        eviction happened since (the row read may already be stale)."""
        if not self._armed or generation != self._generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_hash] = _Entry(principal, self._clock())

    def evict_key(self, key_id: str) -> None:
        self._generation += 1
        for key_hash, entry in list(self._entries.items()):
            if entry.principal.key_id == key_id:
                del self._entries[key_hash]

    def arm(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._armed = True

    def disarm(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._armed = False


class RevocationListener:
    """LISTENs on its own connection (taken from the engine's pool, so it reaches the
    same primary with the same settings, and held for as long as it listens: one of the
    kept connections, which api/admission.py leaves out of the requests' share) and
    evicts keys as notifications arrive. Reconnects with backoff; the cache is disarmed
    meanwhile."""

    def __init__(self, engine: AsyncEngine, cache: KeyCache):
        self._engine = engine
        self._cache = cache

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_until_lost()
                delay = 0.5
            except asyncio.CancelledError:
                self._cache.disarm()
                raise
            except Exception as exc:  # the database is down or failing over: retry
                log.warning("key_cache_listener_down", error=type(exc).__name__)
            self._cache.disarm()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen_until_lost(self) -> None:
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            lost = asyncio.Event()

            def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                self._cache.evict_key(payload)

            def on_terminate(_conn: Any) -> None:
                self._cache.disarm()
                lost.set()

            driver.add_termination_listener(on_terminate)
            await driver.execute(f"SET application_name = '{LISTENER_NAME}'")
            await driver.add_listener(CHANNEL, on_notify)
            # Before the schema has its triggers (migration 0008) nothing would notify.
            if not await driver.fetchval(_TRIGGERS_PRESENT):
                raise RuntimeError("api_keys notify triggers missing: run escrowgate migrate")
            # Armed only once LISTEN is in place: from here every revocation reaches us.
            self._cache.arm()
            try:
                while not lost.is_set():
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), PROBE_SECONDS)
                    if not lost.is_set():
                        # A connection that cannot answer cannot deliver notifications.
                        await asyncio.wait_for(driver.fetchval("SELECT 1"), PROBE_SECONDS)
            finally:
                self._cache.disarm()
                # Never hand a LISTENing connection back to the pool.
                await conn.invalidate()
