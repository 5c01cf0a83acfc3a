"""API keys: generated with `secrets`, shown once, stored as SHA-256, never logged."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain import ids
from ..domain.clock import now
from ..models import ApiKey
from .cache import KeyCache
from .principal import Principal as Principal  # re-exported: callers import it from here

MODES = ("test", "live")
# Key prefixes: sk_test_ / sk_live_, and sk_hackathon_ (the Finternet hackathon's
# keys), which is a test key: its objects live in test mode.
PREFIX_MODES = {"test": "test", "live": "live", "hackathon": "test"}
_KEY_RE = re.compile(r"^sk_(test|live|hackathon)_[0-9A-Za-z]{16,128}$")


# Built once: constructing a statement (and its cache key) per request costs about as
# much CPU as executing it; a module-level statement with bound parameters is reused.
_BY_HASH = select(ApiKey).where(ApiKey.key_hash == bindparam("key_hash"))


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key(prefix: str) -> str:
    # 192 bits from the OS CSPRNG, hex-encoded.
    return f"sk_{prefix}_{secrets.token_hex(24)}"


def looks_like_key(raw: str) -> bool:
    return bool(_KEY_RE.fullmatch(raw))


def cached_principal(raw: str, cache: KeyCache | None) -> Principal | None:
    """The principal of a key `resolve_key` found before, from the cache alone (no
    session needed: most requests); None when it must be looked up."""
    if cache is None or not looks_like_key(raw):
        return None
    return cache.get(hash_key(raw))


async def resolve_key(
    session: AsyncSession, raw: str, cache: KeyCache | None = None
) -> Principal | None:
    """The principal for a raw key, read from the database, or None when malformed,
    unknown or revoked. With a `cache` (auth/cache.py) the principal found is stored
    there, for `cached_principal` to answer next time (ask it first); unknown and
    revoked keys are never cached."""
    if not looks_like_key(raw):
        return None
    digest = hash_key(raw)
    if cache is not None:
        generation = cache.generation  # read before the lookup: a revocation meanwhile wins
    row = (await session.execute(_BY_HASH, {"key_hash": digest})).scalar_one_or_none()
    # The lookup is by hash; compare again in constant time before trusting it.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        return None
    principal = Principal(
        key_id=row.id,
        merchant_id=row.merchant_id,
        mode=row.mode,
        is_operator=row.kind == "operator",
    )
    if cache is not None:
        cache.put(digest, principal, generation)
    return principal


async def create_key(
    session: AsyncSession, *, merchant_id: str | None, mode: str, operator: bool = False
) -> tuple[ApiKey, str]:
    """`mode`: "test", "live", or "hackathon" (an sk_hackathon_ key of test mode)."""
    raw = generate_key(mode)
    row = ApiKey(
        id=ids.new_id(ids.API_KEY),
        merchant_id=merchant_id,
        kind="operator" if operator else "merchant",
        mode=PREFIX_MODES[mode],
        key_hash=hash_key(raw),
        key_hint=raw[:8] + "..." + raw[-4:],
        created_at=now(),
    )
    session.add(row)
    return row, raw


# "Last used" is written at most once per LAST_USED_EVERY_SECONDS per key and process:
# one short UPDATE a minute for a busy key, none on the other requests.
LAST_USED_EVERY_SECONDS = 60
_last_written: dict[str, float] = {}
_TOUCH = (
    update(ApiKey)
    .where(ApiKey.id == bindparam("key_id"))
    .values(last_used_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)


def use_due(key_id: str, at: float) -> bool:
    """Should this use be written (no write for this key in the last minute here)?"""
    last = _last_written.get(key_id)
    return last is None or at - last >= LAST_USED_EVERY_SECONDS


async def record_use(factory: async_sessionmaker[AsyncSession], key_id: str, at: float) -> None:
    """Write the key's last use in its own short transaction (after the answer)."""
    _last_written[key_id] = at
    if len(_last_written) > 100_000:  # many keys: forget the oldest writes
        _last_written.clear()
        _last_written[key_id] = at
    async with factory() as session:
        await session.execute(_TOUCH, {"key_id": key_id, "at": now()})
        await session.commit()
