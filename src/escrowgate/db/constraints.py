"""Which constraint refused a write: a use case that turns a constraint's error into
its own message (an index that "already exists") must not say so for another one."""

from __future__ import annotations

from sqlalchemy import UniqueConstraint

from .availability import causes


def violates_unique(exc: BaseException, constraint: UniqueConstraint) -> bool:
    """Whether `exc` is `constraint`'s violation: PostgreSQL names the constraint
    (asyncpg's `constraint_name`); SQLite names the table's columns in its message
    ("UNIQUE constraint failed: t.a, t.b")."""
    table = constraint.table.name
    sqlite_text = "UNIQUE constraint failed: " + ", ".join(
        f"{table}.{column.name}" for column in constraint.columns
    )
    for e in causes(exc):
        if getattr(e, "constraint_name", None) == constraint.name:
            return True
        if str(e) == sqlite_text:  # the driver's own error, not a wrapper quoting values
            return True
    return False
