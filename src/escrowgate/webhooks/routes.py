"""Thin HTTP for webhook endpoints: parse, call one use case, render, ctx.respond."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..api.context import Ctx, answer, merchant_ctx, replica_ctx
from ..api.docs import IDEMPOTENT, errors
from ..api.lists import Cursor, Limit, list_envelope
from ..api.routing import api_router
from ..db.pagination import page
from ..models import WebhookAttempt, WebhookEndpoint
from . import endpoints as uc
from .render import attempt_data, endpoint_data, endpoint_envelope
from .schemas import CreateEndpoint, Redeliver, UpdateEndpoint
from .wire import (
    AttemptList,
    DeletedEndpoint,
    EndpointEnvelope,
    EndpointList,
    Redelivery,
    RedeliveryItem,
)

router = api_router(tags=["Webhooks"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
# The endpoint list tolerates replica lag: a standby when DATABASE_READ_URL is set.
ReplicaCtx = Annotated[Ctx, Depends(replica_ctx)]
BASE = "/webhook-endpoints"
ONE = BASE + "/{endpoint_id}"


@router.post(
    BASE,
    status_code=201,
    response_model=EndpointEnvelope,
    responses=errors(body=True),
    openapi_extra=IDEMPOTENT,
)
async def create_webhook_endpoint(body: CreateEndpoint, ctx: MerchantCtx) -> Response:
    """Create an endpoint. Its `secret` is in this answer (and on rotation) only."""
    endpoint = await uc.create_endpoint(
        ctx.session,
        ctx.settings,
        merchant_id=ctx.merchant_id,
        mode=ctx.mode,
        url=body.url,
        enabled_events=body.enabled_events,
        description=body.description,
    )
    secret = uc.current_secrets(ctx.settings, endpoint, uc.now_ms())[0]
    return await ctx.respond(201, endpoint_envelope(endpoint, secret))


@router.get(BASE, response_model=EndpointList, responses=errors())
async def list_webhook_endpoints(
    request: Request,
    ctx: ReplicaCtx,
    limit: Limit = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
) -> Response:
    scope = select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == ctx.merchant_id,
        WebhookEndpoint.mode == ctx.mode,
        WebhookEndpoint.deleted.is_(False),
    )
    rows, has_more = await page(
        ctx.session,
        scope,
        WebhookEndpoint.id,
        scope=scope,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
    items = [endpoint_data(e) for e in rows]
    return answer(list_envelope(EndpointList, request.url.path, items, has_more))


@router.get(ONE, response_model=EndpointEnvelope, responses=errors(404))
async def get_webhook_endpoint(endpoint_id: str, ctx: MerchantCtx) -> Response:
    endpoint = await uc.owned_endpoint(ctx.session, ctx.merchant_id, ctx.mode, endpoint_id)
    return answer(endpoint_envelope(endpoint))


@router.post(
    ONE,
    response_model=EndpointEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
)
async def update_webhook_endpoint(
    endpoint_id: str, body: UpdateEndpoint, ctx: MerchantCtx
) -> Response:
    """Change `url`, `enabledEvents`, `description`, or `disabled`."""
    endpoint = await uc.owned_endpoint(
        ctx.session, ctx.merchant_id, ctx.mode, endpoint_id, lock=True
    )
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    await uc.update_endpoint(ctx.session, ctx.settings, endpoint, changes)
    return await ctx.respond(200, endpoint_envelope(endpoint))


@router.delete(ONE, response_model=DeletedEndpoint, responses=errors(404))
async def delete_webhook_endpoint(endpoint_id: str, ctx: MerchantCtx) -> Response:
    endpoint = await uc.owned_endpoint(
        ctx.session, ctx.merchant_id, ctx.mode, endpoint_id, lock=True
    )
    endpoint.deleted = True
    endpoint.disabled = True
    endpoint.updated_at = uc.now_ms() // 1000
    return await ctx.respond(
        200, DeletedEndpoint(id=endpoint.id, object="webhook_endpoint", deleted=True)
    )


@router.post(
    ONE + "/rotate-secret",
    response_model=EndpointEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
)
async def rotate_webhook_secret(endpoint_id: str, ctx: MerchantCtx) -> Response:
    """A new secret (in this answer only); the old one keeps signing beside it for 24 h."""
    endpoint = await uc.owned_endpoint(
        ctx.session, ctx.merchant_id, ctx.mode, endpoint_id, lock=True
    )
    uc.rotate_secret(endpoint)
    secret = uc.current_secrets(ctx.settings, endpoint, uc.now_ms())[0]
    return await ctx.respond(200, endpoint_envelope(endpoint, secret))


@router.get(ONE + "/deliveries", response_model=AttemptList, responses=errors(404))
async def list_webhook_deliveries(
    request: Request,
    endpoint_id: str,
    ctx: MerchantCtx,
    limit: Limit = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
) -> Response:
    """Every delivery attempt to this endpoint, newest first."""
    endpoint = await uc.owned_endpoint(ctx.session, ctx.merchant_id, ctx.mode, endpoint_id)
    scope = select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
    rows, has_more = await page(
        ctx.session,
        scope,
        WebhookAttempt.id,
        scope=scope,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
    items = [attempt_data(a) for a in rows]
    return answer(list_envelope(AttemptList, request.url.path, items, has_more))


@router.post(
    "/events/{event_id}/redeliver",
    response_model=Redelivery,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
)
async def redeliver_event(
    event_id: str, ctx: MerchantCtx, body: Redeliver | None = None
) -> Response:
    """Send an event again now (same `webhook-id`), to `endpointId` or to every enabled
    endpoint it was addressed to."""
    deliveries = await uc.redeliver(
        ctx.session,
        ctx.merchant_id,
        ctx.mode,
        event_id,
        body.endpoint_id if body is not None else None,
    )
    items = [RedeliveryItem(id=d.id, endpointId=d.endpoint_id, status=d.status) for d in deliveries]
    return await ctx.respond(
        200, Redelivery(id=event_id, object="event_redelivery", deliveries=items)
    )
