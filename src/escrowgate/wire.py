"""The base of every response body on the wire (Pydantic, no framework): absent is
not null, keys in field order. Used by the routes' response models and by the
renderers below them, so it sits low in the layers."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

AmountStr = str  # a decimal string such as "300.00" (never a JSON number)
UnixStr = str  # seconds since the epoch, as a decimal string
IsoTime = str  # ISO 8601 UTC, e.g. 2026-01-31T12:00:00Z


class WireModel(BaseModel):
    """A response body. Absent is not null: a key only some answers carry is an
    optional field with a default; every other field is required (nullable ones
    too), so renderers pass each explicitly. `wire()` dumps the keys that were
    given, in field order: exactly the JSON object on the wire."""

    model_config = ConfigDict(extra="forbid")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class WireDict(dict[str, Any]):
    """A response object as a renderer builds it, before its model: the keys in the
    model's field order, JSON values only. The model validates it for an answer; an
    event stores it as it is (pydantic-core writes it in one step, without a model:
    events/service.py)."""

    __slots__ = ()


class ErrorDetail(BaseModel):
    code: str
    message: str
    type: str
    param: str | None = None
    retryAfter: int | None = None  # 429 only: seconds until the limit resets


class ErrorBody(BaseModel):
    error: ErrorDetail

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


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
