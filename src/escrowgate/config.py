"""Settings from the environment (prefix-free names, as an operator types them)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg")


def _check_database_url(value: str) -> str:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in DATABASE_SCHEMES:
        raise ValueError(
            "must be a sqlite:/// or postgresql:// URL (e.g. sqlite:///./escrowgate.db)"
        )
    return value


# The pool settings' least values, and what is said when one is below it.
_POOL_MINIMUMS = {
    "db_pool_size": (1, "must be at least 1 (the connections each process keeps)"),
    "db_max_overflow": (0, "must be 0 or more (extra connections beyond DB_POOL_SIZE)"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str = "sqlite+aiosqlite:///./escrowgate.db"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # A pool sized for one API process; tune per deployment.
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # PostgreSQL is reached through PgBouncer in transaction pooling mode (db/engine.py).
    db_pgbouncer: bool = False
    # PostgreSQL: create milestone and complete milestone read unlocked and write once,
    # guarded by the intent's version (db/optimistic.py). Off while processes of a
    # release before migration 0011 still run (docs/deploy.md, "Upgrades").
    optimistic_writes: bool = True
    # Optional: a standby (streaming replica) for the list routes that tolerate replica
    # lag (GET /payment-intents, /events, balance, ledger entries, webhook endpoints).
    # Everything else (writes, idempotency, single objects, the payer's pages,
    # authentication, the worker) stays on DATABASE_URL. docs/high-availability.md.
    database_read_url: str | None = None
    # Events (the outbox, GET /events) older than this are deleted by the worker's
    # housekeeping, in batches, once their webhook deliveries are finished. The ledger
    # is kept forever. 0 keeps events forever.
    events_retention_days: int = 90

    max_body_bytes: int = 64 * 1024
    # Hosted payment page: unset, an intent's paymentUrl is escrowgate's own page
    # <PUBLIC_URL>/pay/<id>; set, <PAYMENT_PAGE_URL>/?intent=<id> (an external page).
    payment_page_url: str | None = None
    # The URL browsers reach this server at (links in pages); default http://HOST:PORT.
    public_url: str | None = None
    # CORS: comma-separated origins. Unset: any origin on the public (keyless) routes,
    # none on the keyed routes. Set: exactly these origins, on both.
    cors_allow_origins: str = ""
    # Signs the dashboard's session cookie; unset: a random secret per process
    # (sessions end when the process restarts; set it when running several processes).
    session_secret: str | None = None
    contract_address: str = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    token_address: str = "0x94a9D9AC8a22534E3FaCa9F4e7F2E2cf85d5E4C8"
    chain_id: int = 11155111

    # Sandbox rails: seconds before the mock chain confirms / the mock off-ramp settles.
    sandbox_chain_delay_seconds: int = 0
    off_ramp_mock_delay_seconds: int = 10

    # Rate limits per API key and minute; 0 switches limiting off (benchmarks).
    rate_limit_test_per_minute: int = 100
    rate_limit_live_per_minute: int = 1000
    # Keyless public routes, per client address and minute (0: unlimited).
    rate_limit_public_per_minute: int = 120
    rate_limit_enabled: bool = True
    redis_url: str | None = None
    # GET /metrics (Prometheus, docs/metrics.md), unauthenticated; false removes it.
    metrics_enabled: bool = True

    # Background worker: on SQLite the API process runs it in-process by default.
    run_worker_in_process: bool | None = None
    worker_poll_seconds: float = 1.0

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _check_database_url(value)

    @field_validator("database_read_url")
    @classmethod
    def _database_read_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("postgresql", "postgres:")):
            raise ValueError("must be a postgresql:// URL (a standby of DATABASE_URL)")
        return _check_database_url(value)

    @field_validator("db_pool_size", "db_max_overflow")
    @classmethod
    def _pool(cls, value: int, info: ValidationInfo) -> int:
        least, message = _POOL_MINIMUMS[info.field_name or ""]
        if value < least:
            raise ValueError(message)
        return value

    @field_validator("events_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 (keep forever) or a number of days")
        return value

    # Webhooks (docs/webhooks.md). Signing secrets are derived from this key; without
    # it test-mode endpoints use a built-in development key and live ones are refused.
    webhook_secret_key: str = ""
    webhook_retry_schedule: str = "60,300,1800,7200,21600"  # seconds after each failure
    webhook_timeout_seconds: float = 10.0
    webhook_disable_after_seconds: int = 3 * 24 * 3600  # every delivery failing this long
    webhook_lease_seconds: float = 60.0  # a claimed delivery is due again after this
    webhook_concurrency: int = 64  # sends in flight per worker process
    webhook_per_endpoint_concurrency: int = 4
    webhook_poll_seconds: float = 0.5

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(x) for x in self.webhook_retry_schedule.split(",") if x.strip()]

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.cors_allow_origins.split(",") if o.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def worker_in_process(self) -> bool:
        if self.run_worker_in_process is not None:
            return self.run_worker_in_process
        return self.is_sqlite


class SettingsError(Exception):
    """A setting from the environment is unusable; the message names the variable."""


def describe(exc: ValidationError) -> str:
    """One line per bad variable: `PORT: Input should be a valid integer (got 'abc')`."""
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        reason = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {reason} (got {err.get('input')!r})")
    return "; ".join(lines)


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError("invalid setting: " + describe(exc)) from None
