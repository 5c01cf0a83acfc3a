"""`escrowgate backup FILE`: SQLite's online backup API (sqlite3.Connection.backup).

It copies a consistent snapshot page by page while the server keeps running: readers
and the WAL are handled by SQLite itself, and a write during the copy makes it restart
the remaining steps, so the copy is never a torn file (unlike `cp` of a live database
and its -wal file). PostgreSQL has its own tool: pg_dump.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote

from .engine import normalize_url


class BackupError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def sqlite_path(database_url: str) -> Path:
    url = normalize_url(database_url)
    if not url.startswith("sqlite"):
        raise BackupError(
            "escrowgate backup copies an SQLite database; DATABASE_URL is PostgreSQL: "
            "use pg_dump (docs/deploy.md, Backups)",
            exit_code=2,
        )
    path = unquote(url.split(":///", 1)[1].split("?", 1)[0]) if ":///" in url else ""
    if not path or path == ":memory:":
        raise BackupError("DATABASE_URL names no SQLite file to back up", exit_code=2)
    return Path(path)


def backup_sqlite(database_url: str, target: Path, *, pages_per_step: int = 1024) -> int:
    """Copy the database to `target` (which must not exist); answer its page count."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise BackupError(f"no such database file: {source_path}")
    if target.exists():
        raise BackupError(f"{target} exists: refusing to overwrite it")
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        dest = sqlite3.connect(partial)
        try:
            # Small steps: the server's writers wait for one step at most, not the copy.
            source.backup(dest, pages=pages_per_step)
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
            ok = dest.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dest.close()
    finally:
        source.close()
    if ok != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {ok}")
    partial.rename(target)
    return pages
