from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx
from ..api.docs import errors
from ..api.routing import ExactJSONRoute
from ..escrow.render import proof_data
from ..escrow.service import order_envelope
from . import service
from .schemas import ApproveDelivery, SubmitDeliveryProof

router = APIRouter(route_class=ExactJSONRoute, tags=["Conditional payments"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]


@router.post("/payment-intents/{intent_id}/escrow/delivery-proof", responses=errors(403, 404))
@router.post(
    "/payment-intents/{intent_id}/conditional-payment/delivery-proof", responses=errors(403, 404)
)
async def submit_delivery_proof(
    intent_id: str, body: SubmitDeliveryProof, ctx: MerchantCtx
) -> JSONResponse:
    """DELIVERY_PROOF / AUTO_RELEASE orders, funded, once. Released at once with
    autoRelease; otherwise on payer approval or when the dispute window passes."""
    proof = await service.submit_proof(ctx, intent_id, body)
    return await ctx.respond(
        200, {"id": proof.id, "object": "delivery_proof", "data": proof_data(proof)}
    )


@router.post("/payment-intents/{intent_id}/escrow/approve", responses=errors(403, 404))
@router.post("/payment-intents/{intent_id}/conditional-payment/approve", responses=errors(403, 404))
async def approve_release(intent_id: str, body: ApproveDelivery, ctx: MerchantCtx) -> JSONResponse:
    """Payer approval of a delivered order: EIP-712 signature over the order's
    `approvalTypedData` by the address that funded it."""
    order = await service.approve_delivery(ctx, intent_id, body.signature)
    return await ctx.respond(200, await order_envelope(ctx, order))
