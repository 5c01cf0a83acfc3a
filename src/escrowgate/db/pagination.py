"""Cursor pagination shared by every list: newest first by the time-ordered id."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import InvalidRequest


async def page(
    session: AsyncSession,
    stmt: Any,
    id_column: Any,
    *,
    scope: Any,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    offset: int = 0,
) -> tuple[list[Any], bool]:
    """One page of `stmt`'s rows and whether more exist in that direction. `scope` is
    the list before its filters (the caller's merchant and mode): a cursor must name one
    of its objects, or a client with a stale or mistyped cursor would silently get the
    first page again and never know."""
    if starting_after and ending_before:  # every list: two directions at once mean nothing
        raise InvalidRequest(
            "Use only one of starting_after and ending_before", param="ending_before"
        )
    if offset and (starting_after or ending_before):
        raise InvalidRequest(
            "Use only one of offset and starting_after/ending_before", param="offset"
        )
    cursor = ending_before or starting_after
    param = "ending_before" if ending_before else "starting_after"
    if cursor:
        known = scope.with_only_columns(id_column).where(id_column == cursor)
        if (await session.execute(known)).first() is None:
            raise InvalidRequest(f"No such object in this list: {cursor}", param=param)
    if ending_before:
        stmt = stmt.where(id_column > ending_before).order_by(id_column.asc())
    else:
        if starting_after:
            stmt = stmt.where(id_column < starting_after)
        stmt = stmt.order_by(id_column.desc())
        if offset:  # the reference backend's paging: skip `offset` rows, newest first
            stmt = stmt.offset(offset)
    rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if ending_before:
        rows.reverse()
    return rows, has_more
