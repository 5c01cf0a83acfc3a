"""Request bodies of the webhook endpoint routes (their answers: wire.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from ..api.fields import RequestModel, fail, text_field


def _event_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail('enabledEvents must be ["*"] or a list of event types')
    if len(value) > 100:
        raise fail("enabledEvents can have at most 100 entries")
    return list(value)


EnabledEvents = Annotated[
    list[str],
    BeforeValidator(_event_list),
    WithJsonSchema({"type": "array", "items": {"type": "string"}, "examples": [["*"]]}),
]


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail("disabled must be a boolean")
    return value


class CreateEndpoint(RequestModel):
    url: text_field("url", 2048)  # type: ignore[valid-type]
    enabled_events: EnabledEvents = Field(alias="enabledEvents")
    description: text_field("description", 1000) | None = None  # type: ignore[valid-type]


class UpdateEndpoint(RequestModel):
    url: text_field("url", 2048) | None = None  # type: ignore[valid-type]
    enabled_events: EnabledEvents | None = Field(default=None, alias="enabledEvents")
    description: text_field("description", 1000) | None = None  # type: ignore[valid-type]
    disabled: Annotated[bool, BeforeValidator(_boolean)] | None = None


class Redeliver(RequestModel):
    endpoint_id: text_field("endpointId", 64) | None = Field(  # type: ignore[valid-type]
        default=None, alias="endpointId"
    )
