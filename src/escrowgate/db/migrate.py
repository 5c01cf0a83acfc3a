"""Run Alembic migrations programmatically (no alembic.ini to find on disk)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down_revision, first line of its docstring), oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    rows = []
    for script in scripts.walk_revisions():
        down = script.down_revision
        title = (script.doc or "").strip().splitlines()[0] if script.doc else ""
        rows.append((script.revision, down if isinstance(down, str) else None, title))
    return rows[::-1]


def current_revision_sync(database_url: str) -> str | None:
    """The database's revision (None: never migrated), for the CLI."""
    from .engine import make_engine

    async def read() -> str | None:
        engine = make_engine(database_url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=True)


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


NOT_MIGRATED = "database not migrated: run escrowgate migrate"


class SchemaGate:
    """Is the database migrated to this code's head? Checked at most every few seconds
    until it is, then remembered (a schema does not go back by itself). Until then the
    API answers 503 and the worker waits, instead of failing on missing tables."""

    RECHECK_SECONDS = 2.0

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.head = head_revision()
        self._ok = False
        self._checked_at = -1e9
        self._lock = asyncio.Lock()
        self.current: str | None = None

    async def check(self, *, force: bool = False) -> bool:
        if self._ok:
            return True
        async with self._lock:  # callers during a check wait for its answer
            if self._ok:
                return True
            now = time.monotonic()
            if not force and now - self._checked_at < self.RECHECK_SECONDS:
                return False  # checked a moment ago and it was not migrated
            try:
                self.current = await current_revision(self.engine)
            except Exception:
                self._checked_at = -1e9  # unreachable is not "not migrated": ask again
                raise
            self._checked_at = now
            self._ok = self.current == self.head
            return self._ok


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's Alembic revision (None: never migrated). Raises if unreachable."""
    async with engine.connect() as conn:
        exists = await conn.run_sync(lambda c: inspect(c).has_table("alembic_version"))
        if not exists:
            return None
        row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        return None if row is None else str(row[0])
