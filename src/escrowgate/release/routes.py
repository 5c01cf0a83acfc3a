from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx
from ..api.docs import errors
from ..api.routing import ExactJSONRoute
from ..escrow.render import milestone_data
from ..milestones.schemas import CompleteMilestone
from . import milestone_actions
from .schemas import ApproveRelease

router = APIRouter(route_class=ExactJSONRoute, tags=["Milestones"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
ONE = "/payment-intents/{intent_id}/escrow/milestones/{milestone_id}"


@router.post(ONE + "/complete", responses=errors(403, 404))
async def complete_milestone(
    intent_id: str, milestone_id: str, body: CompleteMilestone, ctx: MerchantCtx
) -> JSONResponse:
    """Mark a milestone COMPLETED (strictly in index order). Released at once when
    the order has autoRelease; otherwise on payer approval or after the dispute window."""
    m = await milestone_actions.complete_milestone(ctx, intent_id, milestone_id, body)
    data = milestone_data(m, ctx.settings)
    return await ctx.respond(
        200, {"id": m.id, "object": "milestone", "status": "completed", "data": data}
    )


@router.post(ONE + "/approve", responses=errors(403, 404))
async def approve_milestone(
    intent_id: str, milestone_id: str, body: ApproveRelease, ctx: MerchantCtx
) -> JSONResponse:
    """Payer approval: an EIP-712 signature over the milestone's `approvalTypedData`
    by the address that funded the order."""
    m = await milestone_actions.approve_milestone(ctx, intent_id, milestone_id, body.signature)
    return await ctx.respond(
        200,
        {
            "id": m.id,
            "object": "milestone",
            "status": m.status.lower(),
            "data": milestone_data(m, ctx.settings),
        },
    )
