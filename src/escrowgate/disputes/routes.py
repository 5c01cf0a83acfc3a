from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx, merchant_or_operator_ctx
from ..api.docs import errors
from ..api.routing import ExactJSONRoute
from . import service
from .schemas import RaiseDispute, ResolveDispute

router = APIRouter(route_class=ExactJSONRoute, tags=["Disputes"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
AnyCtx = Annotated[Ctx, Depends(merchant_or_operator_ctx)]


@router.post("/payment-intents/{intent_id}/escrow/dispute", responses=errors(403, 404))
@router.post("/payment-intents/{intent_id}/conditional-payment/dispute", responses=errors(403, 404))
async def raise_dispute(intent_id: str, body: RaiseDispute, ctx: MerchantCtx) -> JSONResponse:
    """Raise the order's one dispute: every release path is frozen until resolved."""
    dispute, order = await service.raise_dispute(ctx, intent_id, body)
    return await ctx.respond(
        200,
        {
            "id": dispute.id,
            "object": "dispute",
            "status": "raised",
            "data": service.dispute_data(dispute, order),
        },
    )


@router.post("/payment-intents/{intent_id}/escrow/dispute/resolve", responses=errors(403, 404))
@router.post(
    "/payment-intents/{intent_id}/conditional-payment/dispute/resolve", responses=errors(403, 404)
)
async def resolve_dispute(intent_id: str, body: ResolveDispute, ctx: AnyCtx) -> JSONResponse:
    """BUYER_WON (the merchant may concede), or MERCHANT_WON / PARTIAL_REFUND + refundAmount
    (operator key only: both release money to the merchant)."""
    dispute, order = await service.resolve_dispute(ctx, intent_id, body)
    return await ctx.respond(
        200,
        {
            "id": dispute.id,
            "object": "dispute",
            "status": "resolved",
            "data": service.dispute_data(dispute, order),
        },
    )
