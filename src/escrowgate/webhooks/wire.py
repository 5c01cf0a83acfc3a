"""The typed wire shapes of webhook endpoints and delivery attempts (Pydantic only:
the API client imports them too; render.py builds them from the rows)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..wire import ListEnvelope, WireModel


class EndpointData(WireModel):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    enabledEvents: list[str]
    description: str | None
    status: Literal["enabled", "disabled"]
    disabled: bool
    disabledReason: str | None
    livemode: bool
    created: int
    updated: int
    secret: str | None = Field(
        default=None, description="whsec_...: in the create and rotate-secret answers only"
    )


class EndpointEnvelope(WireModel):
    id: str
    object: Literal["webhook_endpoint"]
    data: EndpointData


class EndpointList(ListEnvelope[EndpointData]):
    pass


class DeletedEndpoint(WireModel):
    id: str
    object: Literal["webhook_endpoint"]
    deleted: bool


class DeliveryAttempt(WireModel):
    id: str
    object: Literal["webhook_delivery_attempt"]
    deliveryId: str
    webhookId: str
    endpointId: str
    eventId: str
    eventType: str
    attempt: int
    attemptedAt: int | None
    attemptedAtIso: str | None
    succeeded: bool
    httpStatus: int | None
    error: str | None
    durationMs: int | None
    responseExcerpt: str | None
    deliveryStatus: str | None
    nextRetryAt: int | None


class AttemptList(ListEnvelope[DeliveryAttempt]):
    pass


class RedeliveryItem(WireModel):
    id: str
    endpointId: str
    status: str


class Redelivery(WireModel):
    id: str
    object: Literal["event_redelivery"]
    deliveries: list[RedeliveryItem]
