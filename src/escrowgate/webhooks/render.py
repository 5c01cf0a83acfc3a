"""Webhook endpoint and delivery attempt rows as their wire shapes (wire.py): the
routes answer them, the delivery loop renders the `webhook_endpoint.disabled` event
with them."""

from __future__ import annotations

from ..domain.clock import iso
from ..models import WebhookAttempt, WebhookEndpoint
from .wire import DeliveryAttempt, EndpointData, EndpointEnvelope


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
