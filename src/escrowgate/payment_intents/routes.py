"""HTTP routes for payment intents (thin: parse, call the service, render)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx, public_ctx
from ..api.docs import errors
from ..api.lists import Cursor, Limit, list_envelope
from ..api.routing import ExactJSONRoute
from ..domain import intents
from ..escrow import repository as escrow_repo
from ..escrow.render import milestone_data
from ..models import PaymentIntent
from . import repository, service
from .render import intent_data, intent_envelope
from .schemas import CreatePaymentIntent

router = APIRouter(route_class=ExactJSONRoute, tags=["Payment intents"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
PublicCtx = Annotated[Ctx, Depends(public_ctx)]


@router.post("/payment-intents", status_code=201, responses=errors())
async def create_payment_intent(body: CreatePaymentIntent, ctx: MerchantCtx) -> JSONResponse:
    intent = await service.create_intent(ctx, body)
    envelope = intent_envelope(intent, ctx.settings)
    envelope["metadata"] = intent.metadata_json
    return await ctx.respond(201, envelope)


@router.get("/payment-intents", responses=errors())
async def list_payment_intents(
    request: Request,
    ctx: MerchantCtx,
    limit: Limit = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(intents.STATUSES) + ")$")] = None,
    type: Annotated[str | None, Query(pattern="^(" + "|".join(intents.TYPES) + ")$")] = None,
) -> dict[str, Any]:
    rows, has_more = await repository.list_page(
        ctx.session,
        merchant_id=ctx.merchant_id,
        mode=ctx.mode,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        status=status,
        type_=type,
    )
    return list_envelope(request.url.path, [intent_data(r, ctx.settings) for r in rows], has_more)


@router.get("/payment-intents/public/{intent_id}", responses=errors(404), tags=["Public"])
async def get_public_payment_intent(intent_id: str, ctx: PublicCtx) -> dict[str, Any]:
    """What a hosted payment page needs, and nothing else (no key required)."""
    from ..models import Merchant

    intent = await repository.get_public(ctx.session, intent_id)
    merchant = await ctx.session.get(Merchant, intent.merchant_id)
    plan: list[dict[str, Any]] = []
    terms: dict[str, Any] | None = None
    if intent.type == intents.DVP:
        order = await escrow_repo.order_for_intent(ctx.session, intent.id)
        # The release terms the payer agrees to by paying.
        terms = {
            "releaseType": order.release_type,
            "autoRelease": order.auto_release,
            "disputeWindow": str(order.dispute_window),
            "timeLockUntil": str(order.time_lock_until) if order.time_lock_until else None,
            "deliveryPeriod": order.delivery_period,
        }
        plan = [
            {
                k: milestone_data(m)[k]
                for k in ("milestoneIndex", "description", "amount", "percentage", "status")
            }
            for m in await escrow_repo.milestones_of(ctx.session, order.id)
        ]
    full = intent_data(intent, ctx.settings)
    data = {
        k: full[k]
        for k in (
            "id",
            "object",
            "status",
            "amount",
            "currency",
            "type",
            "description",
            "typedData",
            "contractAddress",
            "chainId",
            "paymentUrl",
            "phases",
            "created",
            "updated",
        )
    }
    data["merchantName"] = merchant.name if merchant else None
    data["milestones"] = plan
    data["releaseTerms"] = terms
    return {
        "id": intent.id,
        "object": "payment_intent",
        "status": intent.status,
        "data": data,
        "created": intent.created_at,
        "updated": intent.updated_at,
    }


@router.get("/payment-intents/{intent_id}", responses=errors(403, 404))
async def get_payment_intent(intent_id: str, ctx: MerchantCtx) -> dict[str, Any]:
    assert ctx.principal is not None
    intent: PaymentIntent = await repository.get_owned(ctx.session, ctx.principal, intent_id)
    return intent_envelope(intent, ctx.settings)


@router.post("/payment-intents/{intent_id}/cancel", responses=errors(403, 404))
async def cancel_payment_intent(intent_id: str, ctx: MerchantCtx) -> JSONResponse:
    intent = await service.cancel_intent(ctx, intent_id)
    return await ctx.respond(200, intent_envelope(intent, ctx.settings))
