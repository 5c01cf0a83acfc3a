"""List envelope and cursor parameters shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Query

from .docs import WireModel

Limit = Annotated[int, Query(ge=1, le=100, description="1 to 100, default 10")]
Cursor = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")]

Item = TypeVar("Item", bound=WireModel)


class ListEnvelope(WireModel, Generic[Item]):
    """A page of a list, newest first; `hasMore` says whether a next page exists."""

    object: Literal["list"]
    url: str
    data: list[Item]
    hasMore: bool


def list_envelope(
    cls: type[ListEnvelope[Item]], url: str, items: list[Item], has_more: bool
) -> ListEnvelope[Item]:
    return cls(object="list", url=url, data=items, hasMore=has_more)
