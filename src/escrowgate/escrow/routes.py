from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ..api.context import Ctx, merchant_ctx
from ..api.docs import errors
from ..api.routing import ExactJSONRoute
from . import service

router = APIRouter(route_class=ExactJSONRoute, tags=["Conditional payments"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]


@router.get("/payment-intents/{intent_id}/escrow", responses=errors(403, 404))
@router.get("/payment-intents/{intent_id}/conditional-payment", responses=errors(403, 404))
async def get_conditional_payment(intent_id: str, ctx: MerchantCtx) -> dict[str, Any]:
    _, order = await service.owned_order(ctx, intent_id)
    return await service.order_envelope(ctx, order)
