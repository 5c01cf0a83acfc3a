"""HTTP routes of the payer's side, thin: the payer's view and actions through the
client secret (no key), the payer's own wallet confirm, and an operator's approval
of a milestone. All payer routes live under /payment-intents/public/, which the edge
treats as keyless (rate-limited per client address)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query
from fastapi.responses import Response

from ..api.context import Ctx, answer, merchant_or_operator_ctx, public_ctx
from ..api.docs import IDEMPOTENT, errors
from ..api.routing import api_router
from . import intents, payer, render, wire
from .schemas import ConfirmIntent, PayerDispute

router = api_router()
PublicCtx = Annotated[Ctx, Depends(public_ctx)]
AnyCtx = Annotated[Ctx, Depends(merchant_or_operator_ctx)]

PUBLIC = "/payment-intents/public/{intent_id}"
TAG = "Payer"


async def client_secret(
    query: Annotated[
        str | None,
        Query(
            alias=payer.SECRET_PARAM,
            max_length=200,
            description="The payer's client secret (or the X-Client-Secret header)",
        ),
    ] = None,
    header: Annotated[
        str | None,
        Header(alias=payer.SECRET_HEADER, max_length=200, description="The client secret"),
    ] = None,
) -> str | None:
    return header or query


Secret = Annotated[str | None, Depends(client_secret)]


async def _payer_view(ctx: Ctx, intent_id: str, secret: str | None) -> wire.PayerView:
    view = await payer.payer_view(ctx.session, intent_id, secret)
    return _render_view(view, ctx)


def _render_view(view: payer.PayerView, ctx: Ctx) -> wire.PayerView:
    o = view.order
    return render.payer_view(
        view.intent,
        ctx.settings,
        merchant_name=view.merchant_name,
        order=o.order if o else None,
        milestones=o.milestones if o else [],
        proofs=o.proofs if o else [],
        dispute=o.dispute if o else None,
        refunds=view.refunds,
    )


@router.get(
    PUBLIC + "/payer",
    response_model=wire.PayerView,
    responses=errors(401, 404, public=True),
    tags=[TAG],
)
async def get_payer_view(intent_id: str, secret: Secret, ctx: PublicCtx) -> Response:
    """The payer's view (client secret): the intent, the order's progress (milestones,
    delivery proofs, releases, dispute) and refunds."""
    return answer(await _payer_view(ctx, intent_id, secret))


@router.post(
    PUBLIC + "/milestones/{milestone_id}/approve",
    response_model=wire.PayerView,
    responses=errors(401, 404, public=True, body=True),
    openapi_extra=IDEMPOTENT,
    tags=[TAG],
)
async def payer_approve_milestone(
    intent_id: str, milestone_id: str, secret: Secret, ctx: PublicCtx
) -> Response:
    """The payer approves a COMPLETED milestone (as the EIP-712 approval): it is
    released now, or as soon as every earlier milestone is."""
    await payer.approve_milestone(ctx.session, ctx.settings, intent_id, secret, milestone_id)
    await ctx.session.flush()
    return await ctx.respond(200, await _payer_view(ctx, intent_id, secret))


@router.post(
    PUBLIC + "/approve",
    response_model=wire.PayerView,
    responses=errors(401, 404, public=True, body=True),
    openapi_extra=IDEMPOTENT,
    tags=[TAG],
)
async def payer_approve_delivery(intent_id: str, secret: Secret, ctx: PublicCtx) -> Response:
    """The payer approves a DELIVERED order: everything held is released."""
    await payer.approve_delivery(ctx.session, ctx.settings, intent_id, secret)
    await ctx.session.flush()
    return await ctx.respond(200, await _payer_view(ctx, intent_id, secret))


@router.post(
    PUBLIC + "/dispute",
    response_model=wire.DisputeEnvelope,
    responses=errors(401, 404, public=True, body=True),
    openapi_extra=IDEMPOTENT,
    tags=[TAG],
)
async def payer_raise_dispute(
    intent_id: str, body: PayerDispute, secret: Secret, ctx: PublicCtx
) -> Response:
    """The payer raises the order's one dispute (raisedBy "payer"), with a reason:
    every release path is frozen until it is resolved."""
    dispute, order = await payer.raise_dispute(ctx.session, intent_id, secret, reason=body.reason)
    return await ctx.respond(200, render.dispute_envelope(dispute, order, "raised"))


@router.post(
    PUBLIC + "/confirm",
    response_model=wire.PaidIntentEnvelope,
    responses=errors(404, public=True, body=True),
    openapi_extra=IDEMPOTENT,
    tags=[TAG],
)
async def payer_confirm(intent_id: str, body: ConfirmIntent, ctx: PublicCtx) -> Response:
    """The payer's own wallet payment (no key: the EIP-712 signature over the intent's
    `typedData` authorises it), with the transaction hash now or later
    (`/transaction-hash`). Answers the payer's `clientSecret` (once)."""
    intent, secret = await payer.confirm_wallet(
        ctx.session,
        ctx.settings,
        intent_id,
        signature=body.signature,
        payer_address=body.payerAddress,
        transaction_hash=body.transactionHash,
    )
    _, name, order, plan = await intents.public_view_of(ctx.session, intent)
    public = render.public_intent_envelope(
        intent, ctx.settings, merchant_name=name, order=order, milestones=plan
    )  # keyless: the public view only, plus the payer's secret shown once
    return await ctx.respond(200, public, once={"clientSecret": secret})


@router.post(
    "/payment-intents/{intent_id}/escrow/milestones/{milestone_id}/operator-approve",
    response_model=wire.MilestoneEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Milestones"],
)
async def operator_approve_milestone(intent_id: str, milestone_id: str, ctx: AnyCtx) -> Response:
    """Operator key only: approve a COMPLETED milestone on the payer's behalf (e.g. one
    added after funding, which the dispute window alone never releases)."""
    m = await payer.operator_approve_milestone(
        ctx.session, ctx.settings, ctx.caller, intent_id, milestone_id
    )
    return await ctx.respond(
        200, render.milestone_envelope_object(m, ctx.settings, status=m.status.lower())
    )
