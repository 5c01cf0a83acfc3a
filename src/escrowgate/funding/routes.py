"""Funding routes: card payment and transaction hash are public (the intent id is
the capability, as in the docs); confirm needs the merchant's key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx, public_ctx
from ..api.docs import errors
from ..api.routing import ExactJSONRoute
from ..payment_intents.render import intent_envelope
from . import service
from .schemas import CardPayment, ConfirmIntent, TransactionHash

router = APIRouter(route_class=ExactJSONRoute)
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
PublicCtx = Annotated[Ctx, Depends(public_ctx)]


@router.post("/payment-intents/public/{intent_id}/payment", responses=errors(404), tags=["Public"])
async def pay_with_card(intent_id: str, body: CardPayment, ctx: PublicCtx) -> JSONResponse:
    """Sandbox card payment (test cards from the docs). A decline answers 400 and
    leaves the intent REQUIRES_ACTION, from which the payer may pay again."""
    intent, declined = await service.pay_by_card(ctx, intent_id, body)
    if declined is not None:
        return await ctx.respond(declined.status_code, declined.body())
    return await ctx.respond(200, intent_envelope(intent, ctx.settings))


@router.post(
    "/payment-intents/public/{intent_id}/transaction-hash", responses=errors(404), tags=["Public"]
)
async def submit_transaction_hash(
    intent_id: str, body: TransactionHash, ctx: PublicCtx
) -> JSONResponse:
    intent = await service.submit_transaction_hash(ctx, intent_id, body)
    return await ctx.respond(200, intent_envelope(intent, ctx.settings))


@router.post(
    "/payment-intents/{intent_id}/confirm", responses=errors(403, 404), tags=["Payment intents"]
)
async def confirm_payment_intent(
    intent_id: str, body: ConfirmIntent, ctx: MerchantCtx
) -> JSONResponse:
    """Verify the payer's EIP-712 signature over `data.typedData`."""
    intent = await service.confirm(ctx, intent_id, body)
    return await ctx.respond(200, intent_envelope(intent, ctx.settings))
