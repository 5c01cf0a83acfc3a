from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from ..api.context import Ctx, answer, merchant_ctx, replica_ctx
from ..api.docs import errors
from ..api.lists import Cursor, Limit, list_envelope
from ..api.routing import api_router
from ..db.pagination import page
from ..domain.errors import NotFound
from ..domain.formats import check_id
from ..models import Event
from . import catalogue
from .service import EventList, EventWire, render

router = api_router(tags=["Events"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
# Lists tolerate replica lag: a standby when DATABASE_READ_URL is set.
ReplicaCtx = Annotated[Ctx, Depends(replica_ctx)]


@router.get("/events", response_model=EventList, responses=errors())
async def list_events(
    request: Request,
    ctx: ReplicaCtx,
    limit: Limit = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    type: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
) -> Response:
    if type is not None:  # a typo would otherwise read as "no such events"
        catalogue.check_known(type, "type")
    scope = select(Event).where(Event.merchant_id == ctx.merchant_id, Event.mode == ctx.mode)
    stmt = scope.where(Event.type == type) if type else scope
    rows, has_more = await page(
        ctx.session,
        stmt,
        Event.id,
        scope=scope,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
    items = [render(e) for e in rows]
    return answer(list_envelope(EventList, request.url.path, items, has_more))


@router.get("/events/{event_id}", response_model=EventWire, responses=errors(404))
async def get_event(event_id: str, ctx: MerchantCtx) -> Response:
    check_id(event_id, "event", "eventId", NotFound("Event not found", param="eventId"))
    event = (
        await ctx.session.execute(
            select(Event).where(
                Event.id == event_id, Event.merchant_id == ctx.merchant_id, Event.mode == ctx.mode
            )
        )
    ).scalar_one_or_none()
    if event is None:
        raise NotFound("Event not found", param="eventId")
    return answer(render(event))
