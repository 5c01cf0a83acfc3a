from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx
from ..api.docs import errors
from ..api.routing import ExactJSONRoute
from ..domain.money import format_amount, parse_amount
from ..errors import InvalidRequest, InvalidStatus
from ..escrow.service import owned_order
from ..release.service import held
from .schemas import CreateRefund
from .service import refund_data, refund_held

router = APIRouter(route_class=ExactJSONRoute, tags=["Refunds"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]


@router.post("/payment-intents/{intent_id}/refund", responses=errors(403, 404))
async def refund_payment_intent(
    intent_id: str, ctx: MerchantCtx, body: Annotated[CreateRefund | None, Body()] = None
) -> JSONResponse:
    """Return held money to the payer: `amount` (default: all held), never more
    than held. Milestones whose money is gone become CANCELLED."""
    body = body or CreateRefund()
    intent, order = await owned_order(ctx, intent_id, lock=True)
    if order.order_status == "DISPUTED":
        raise InvalidStatus("Cannot refund while a dispute is open; resolve the dispute")
    available = held(order)
    if available <= 0:
        raise InvalidStatus("Nothing is held for this payment intent")
    amount = parse_amount(body.amount) if body.amount else available
    if amount > available:
        raise InvalidRequest(
            f"Refund amount exceeds the held amount of {format_amount(available)}", param="amount"
        )
    refund = await refund_held(
        ctx.session,
        ctx.settings,
        intent,
        order,
        amount,
        reason=body.reason or "requested_by_merchant",
    )
    return await ctx.respond(200, refund_data(refund, order.currency))
