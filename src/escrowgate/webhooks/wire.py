"""The typed wire shapes of webhook endpoints and delivery attempts (Pydantic only:
the delivery loop renders the `webhook_endpoint.disabled` event with them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..domain.clock import iso
from ..models import WebhookAttempt, WebhookEndpoint
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


def endpoint_data(endpoint: WebhookEndpoint, secret: str | None = None) -> EndpointData:
    data = EndpointData(
        id=endpoint.id,
        object="webhook_endpoint",
        url=endpoint.url,
        enabledEvents=list(endpoint.enabled_events),
        description=endpoint.description,
        status="disabled" if endpoint.disabled else "enabled",
        disabled=endpoint.disabled,
        disabledReason=endpoint.disabled_reason,
        livemode=endpoint.mode == "live",
        created=endpoint.created_at,
        updated=endpoint.updated_at,
    )
    if secret is not None:
        data.secret = secret
    return data


def endpoint_envelope(endpoint: WebhookEndpoint, secret: str | None = None) -> EndpointEnvelope:
    return EndpointEnvelope(
        id=endpoint.id, object="webhook_endpoint", data=endpoint_data(endpoint, secret)
    )


def _seconds(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def attempt_data(a: WebhookAttempt) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=a.id,
        object="webhook_delivery_attempt",
        deliveryId=a.delivery_id,
        webhookId=a.delivery_id,
        endpointId=a.endpoint_id,
        eventId=a.event_id,
        eventType=a.event_type,
        attempt=a.attempt,
        attemptedAt=_seconds(a.attempted_at),
        attemptedAtIso=iso(_seconds(a.attempted_at)),
        succeeded=a.succeeded,
        httpStatus=a.status_code,
        error=a.error,
        durationMs=a.duration_ms,
        responseExcerpt=a.response_excerpt,
        deliveryStatus=a.delivery_status,
        nextRetryAt=_seconds(a.next_attempt_at),
    )
