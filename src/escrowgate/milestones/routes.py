from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..api.context import Ctx, merchant_ctx
from ..api.docs import errors
from ..api.lists import list_envelope
from ..api.routing import ExactJSONRoute
from ..escrow.render import milestone_data
from . import service
from .schemas import CreateMilestone

router = APIRouter(route_class=ExactJSONRoute, tags=["Milestones"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
BASE = "/payment-intents/{intent_id}/escrow/milestones"


def milestone_envelope(m: Any, settings: Any = None) -> dict[str, Any]:
    return {"id": m.id, "object": "milestone", "data": milestone_data(m, settings)}


@router.post(BASE, status_code=201, responses=errors(403, 404))
async def create_milestone(intent_id: str, body: CreateMilestone, ctx: MerchantCtx) -> JSONResponse:
    """Create Milestone, exactly as the original page documents it."""
    milestone = await service.create_milestone(ctx, intent_id, body)
    return await ctx.respond(201, milestone_envelope(milestone))


@router.get(BASE, responses=errors(403, 404))
async def list_milestones(request: Request, intent_id: str, ctx: MerchantCtx) -> dict[str, Any]:
    rows = await service.list_milestones(ctx, intent_id)
    return list_envelope(request.url.path, [milestone_data(m) for m in rows], False)


@router.get(BASE + "/{milestone_id}", responses=errors(403, 404))
async def get_milestone(intent_id: str, milestone_id: str, ctx: MerchantCtx) -> dict[str, Any]:
    m = await service.get_milestone(ctx, intent_id, milestone_id)
    return milestone_envelope(m, ctx.settings)
