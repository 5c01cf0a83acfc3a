"""Test clock: move one order's time forward (test mode only) so a 7-day dispute
window or a time lock can be exercised in a second. Live keys get 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, WithJsonSchema

from ..api.context import Ctx, merchant_ctx
from ..api.docs import errors
from ..api.fields import RequestModel, fail
from ..api.routing import ExactJSONRoute
from ..errors import ApiError
from ..escrow.service import order_envelope, owned_order
from ..worker.jobs import run_due, shift_jobs

router = APIRouter(route_class=ExactJSONRoute, tags=["Test helpers"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
MAX_ADVANCE = 10 * 365 * 86_400


def _seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ADVANCE:
        raise fail(f"seconds must be an integer from 1 to {MAX_ADVANCE}")
    return value


class AdvanceClock(RequestModel):
    seconds: Annotated[
        int,
        BeforeValidator(_seconds),
        WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ADVANCE}),
    ]


@router.post("/test_helpers/payment-intents/{intent_id}/advance_clock", responses=errors(403, 404))
async def advance_clock(
    request: Request, intent_id: str, body: AdvanceClock, ctx: MerchantCtx
) -> JSONResponse:
    """Move this order's clock forward by `seconds`, then run every job now due."""
    if ctx.mode != "test":
        raise ApiError(
            f"Unrecognized request URL (POST: {request.url.path})",
            code="resource_missing",
            status_code=404,
        )
    _, order = await owned_order(ctx, intent_id, lock=True)
    order.clock_offset += body.seconds
    await shift_jobs(ctx.session, order.id, body.seconds)
    await ctx.session.commit()  # the jobs below must see the moved clock
    await run_due(request.app.state.session_factory, ctx.settings)
    ctx.session.expire_all()  # the worker changed rows in its own transactions
    _, order = await owned_order(ctx, intent_id)
    return await ctx.respond(200, await order_envelope(ctx, order))
