"""HTTP routes of the payment aggregate, thin: parse, call one use case, render.
Every URL lives under /payment-intents/{id}; /conditional-payment is an alias of
/escrow. Literal paths (public/...) come before the /{intent_id} ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, Query, Request
from fastapi.responses import Response

from ..api.context import (
    Ctx,
    answer,
    answer_object,
    merchant_ctx,
    merchant_or_operator_ctx,
    public_ctx,
    replica_ctx,
)
from ..api.docs import IDEMPOTENT, ErrorBody, errors
from ..api.lists import Cursor, Limit, list_envelope
from ..api.routing import api_router
from ..domain.money import parse_amount
from ..errors import ApiError, from_domain
from . import (
    delivery,
    disputes,
    funding,
    intents,
    milestones,
    model,
    orders,
    payer,
    refunds,
    render,
    wire,
)
from .schemas import (
    AdvanceClock,
    ApproveRelease,
    CardPayment,
    CompleteMilestone,
    ConfirmIntent,
    CreateMilestone,
    CreatePaymentIntent,
    CreateRefund,
    RaiseDispute,
    ResolveDispute,
    SubmitDeliveryProof,
    TransactionHash,
)

router = api_router()
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
# The intent list tolerates replica lag: a standby when DATABASE_READ_URL is set.
ReplicaCtx = Annotated[Ctx, Depends(replica_ctx)]
AnyCtx = Annotated[Ctx, Depends(merchant_or_operator_ctx)]
# Reads an operator may make too (any merchant of its mode), so a dispute is never
# ruled on blind; every change but the resolution stays the merchant's.
ReaderCtx = AnyCtx
PublicCtx = Annotated[Ctx, Depends(public_ctx)]

INTENT = "/payment-intents/{intent_id}"
PUBLIC = "/payment-intents/public/{intent_id}"
ESCROW_ALIASES = (INTENT + "/escrow", INTENT + "/conditional-payment")
MILESTONES = INTENT + "/escrow/milestones"
MILESTONE = MILESTONES + "/{milestone_id}"
STATUSES = "^(" + "|".join(model.IntentStatus) + ")$"
TYPES = "^(" + "|".join(model.IntentType) + ")$"


def _order_body(
    view: orders.OrderView, ctx: Ctx, *, escrow_spelling: bool = False
) -> wire.OrderEnvelope:
    return render.order_envelope(
        view.order,
        ctx.settings,
        milestones=view.milestones,
        proofs=view.proofs,
        dispute=view.dispute,
        object_name="escrow_order" if escrow_spelling else "conditional_payment",
    )


# --- public (no key: the intent id is the capability) ---------------------------


@router.get(
    PUBLIC,
    response_model=wire.PublicIntentEnvelope,
    responses=errors(404, public=True),
    tags=["Public"],
)
async def get_public_payment_intent(intent_id: str, ctx: PublicCtx) -> Response:
    """What a hosted payment page needs, and nothing else (no key required)."""
    return answer(_public_body(await intents.public_view(ctx.session, intent_id), ctx))


def _public_body(view: intents.PublicView, ctx: Ctx) -> wire.PublicIntentEnvelope:
    intent, name, order, plan = view
    return render.public_intent_envelope(
        intent, ctx.settings, merchant_name=name, order=order, milestones=plan
    )


@router.post(
    PUBLIC + "/payment",
    response_model=wire.PaidIntentEnvelope,
    responses=errors(404, public=True, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Public"],
)
async def pay_with_card(intent_id: str, body: CardPayment, ctx: PublicCtx) -> Response:
    """Sandbox card payment (test cards from the docs). A decline answers 400 and
    leaves the intent REQUIRES_ACTION, from which the payer may pay again. A success
    carries the payer's `clientSecret` (once: an idempotent replay does not repeat it)."""
    intent, declined = await funding.pay_by_card(
        ctx.session,
        ctx.settings,
        intent_id,
        card_number=body.card.cardNumber,
        expiry=body.card.expiry,
        payer_address=body.payerAddress,
    )
    if declined is not None:
        err = from_domain(declined)
        return await ctx.respond(err.status_code, ErrorBody.model_validate(err.body()))
    # Keyless: the answer is the public view, never the merchant's (metadata, destination),
    # plus the payer's client secret, shown once (never stored for replay).
    secret = payer.issue_client_secret(intent)
    public = _public_body(await intents.public_view_of(ctx.session, intent), ctx)
    return await ctx.respond(200, public, once={"clientSecret": secret})


@router.post(
    PUBLIC + "/transaction-hash",
    response_model=wire.PublicIntentEnvelope,
    responses=errors(404, public=True, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Public"],
)
async def submit_transaction_hash(
    intent_id: str, body: TransactionHash, ctx: PublicCtx
) -> Response:
    intent = await funding.submit_transaction_hash(
        ctx.session, ctx.settings, intent_id, body.transactionHash
    )
    return await ctx.respond(
        200, _public_body(await intents.public_view_of(ctx.session, intent), ctx)
    )


# --- payment intents --------------------------------------------------------------


@router.post(
    "/payment-intents",
    status_code=201,
    response_model=wire.IntentEnvelope,
    responses=errors(body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Payment intents"],
)
async def create_payment_intent(body: CreatePaymentIntent, ctx: MerchantCtx) -> Response:
    intent = await intents.create_intent(
        ctx.session,
        ctx.settings,
        ctx.caller,
        amount=parse_amount(body.amount),
        currency=body.currency,
        type_=body.type,
        settlement_method=body.settlementMethod,
        settlement_destination=body.settlementDestination,
        description=body.description,
        metadata=body.metadata,
        dvp_fields={name: getattr(body, name) for name in intents.DVP_ONLY_FIELDS},
    )
    envelope = render.intent_envelope_object(intent, ctx.settings, with_metadata=True)
    return await ctx.respond(201, envelope)


@router.get(
    "/payment-intents",
    response_model=wire.IntentList,
    responses=errors(),
    tags=["Payment intents"],
)
async def list_payment_intents(
    request: Request,
    ctx: ReplicaCtx,
    limit: Limit = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    status: Annotated[str | None, Query(pattern=STATUSES)] = None,
    type: Annotated[str | None, Query(pattern=TYPES)] = None,
) -> Response:
    rows, has_more = await intents.list_intents(
        ctx.session,
        ctx.caller,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        status=status,
        type_=type,
    )
    items = [render.intent_wire(r, ctx.settings) for r in rows]
    return answer(list_envelope(wire.IntentList, request.url.path, items, has_more))


@router.get(
    INTENT, response_model=wire.IntentEnvelope, responses=errors(404), tags=["Payment intents"]
)
async def get_payment_intent(intent_id: str, ctx: MerchantCtx) -> Response:
    # The context as a Reader: one pooled read, no session made (db/direct.py).
    intent = await intents.get_intent(ctx, ctx.caller, intent_id)
    return answer_object(render.intent_envelope_object(intent, ctx.settings))


@router.post(
    INTENT + "/cancel",
    response_model=wire.IntentEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Payment intents"],
)
async def cancel_payment_intent(intent_id: str, ctx: MerchantCtx) -> Response:
    intent = await intents.cancel_intent(ctx.session, ctx.settings, ctx.caller, intent_id)
    return await ctx.respond(200, render.intent_envelope_object(intent, ctx.settings))


@router.post(
    INTENT + "/confirm",
    response_model=wire.IntentEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Payment intents"],
)
async def confirm_payment_intent(intent_id: str, body: ConfirmIntent, ctx: MerchantCtx) -> Response:
    """Verify the payer's EIP-712 signature over `data.typedData`."""
    intent = await funding.confirm(
        ctx.session,
        ctx.settings,
        ctx.caller,
        intent_id,
        signature=body.signature,
        payer_address=body.payerAddress,
        transaction_hash=body.transactionHash,
    )
    return await ctx.respond(200, render.intent_envelope_object(intent, ctx.settings))


@router.post(
    INTENT + "/refund",
    response_model=wire.RefundData,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Refunds"],
)
async def refund_payment_intent(
    intent_id: str, ctx: MerchantCtx, body: Annotated[CreateRefund | None, Body()] = None
) -> Response:
    """Return held money to the payer: `amount` (default: all held), never more
    than held. Milestones whose money is gone become CANCELLED."""
    body = body or CreateRefund()
    refund, order = await refunds.refund(
        ctx.session,
        ctx.settings,
        ctx.caller,
        intent_id,
        amount=parse_amount(body.amount) if body.amount else None,
        reason=body.reason,
    )
    return await ctx.respond(200, render.refund_wire(refund, order.currency))


# --- the conditional payment (escrow order) ---------------------------------------


Route = TypeVar("Route", bound=Callable[..., Awaitable[Response]])


def _escrow_route(suffix: str = "", **kw: Any) -> Callable[[Route], Route]:
    """The same operation under /escrow and its alias /conditional-payment."""

    def register(fn: Route) -> Route:
        for base in reversed(ESCROW_ALIASES):
            fn = router.api_route(base + suffix, **kw)(fn)
        return fn

    return register


@_escrow_route(
    methods=["GET"],
    response_model=wire.OrderEnvelope,
    responses=errors(404),
    tags=["Conditional payments"],
)
async def get_conditional_payment(request: Request, intent_id: str, ctx: ReaderCtx) -> Response:
    """`object` is "escrow_order" under /escrow (the older docs and the hackathon
    collection), "conditional_payment" under /conditional-payment."""
    view = await orders.get_order(ctx.session, ctx.caller, intent_id)
    return answer(_order_body(view, ctx, escrow_spelling=request.url.path.endswith("/escrow")))


@_escrow_route(
    "/delivery-proof",
    methods=["POST"],
    response_model=wire.DeliveryProofEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Conditional payments"],
)
async def submit_delivery_proof(
    intent_id: str, body: SubmitDeliveryProof, ctx: MerchantCtx
) -> Response:
    """DELIVERY_PROOF / AUTO_RELEASE orders, funded, once. Released at once with
    autoRelease; otherwise on payer approval or when the dispute window passes."""
    proof = await delivery.submit_proof(
        ctx.session,
        ctx.settings,
        ctx.caller,
        intent_id,
        proof_hash=body.proofHash,
        submitted_by=body.submittedBy,
        proof_uri=body.proofURI,
        submit_tx_hash=body.submitTxHash,
    )
    return await ctx.respond(200, render.proof_envelope(proof))


@_escrow_route(
    "/approve",
    methods=["POST"],
    response_model=wire.OrderEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Conditional payments"],
)
async def approve_release(intent_id: str, body: ApproveRelease, ctx: MerchantCtx) -> Response:
    """Payer approval of a delivered order: EIP-712 signature over the order's
    `approvalTypedData` by the address that funded it."""
    order = await delivery.approve_delivery(
        ctx.session, ctx.settings, ctx.caller, intent_id, body.signature
    )
    return await ctx.respond(200, _order_body(await orders.load_view(ctx.session, order), ctx))


@_escrow_route(
    "/dispute",
    methods=["POST"],
    response_model=wire.DisputeEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Disputes"],
)
async def raise_dispute(intent_id: str, body: RaiseDispute, ctx: MerchantCtx) -> Response:
    """Raise the order's one dispute: every release path is frozen until resolved."""
    dispute, order = await disputes.raise_dispute(
        ctx.session,
        ctx.caller,
        intent_id,
        reason=body.reason,
        raised_by=body.raisedBy,
        window=body.disputeWindow,
    )
    return await ctx.respond(200, render.dispute_envelope(dispute, order, "raised"))


@_escrow_route(
    "/dispute/resolve",
    methods=["POST"],
    response_model=wire.DisputeEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Disputes"],
)
async def resolve_dispute(intent_id: str, body: ResolveDispute, ctx: AnyCtx) -> Response:
    """BUYER_WON (the merchant may concede), or MERCHANT_WON / PARTIAL_REFUND + refundAmount
    (operator key only: both release money to the merchant)."""
    dispute, order = await disputes.resolve_dispute(
        ctx.session,
        ctx.settings,
        ctx.caller,
        intent_id,
        resolution=model.Resolution(body.resolution),
        refund_amount=parse_amount(body.refundAmount) if body.refundAmount else None,
    )
    return await ctx.respond(200, render.dispute_envelope(dispute, order, "resolved"))


# --- milestones --------------------------------------------------------------------


@router.post(
    MILESTONES,
    status_code=201,
    response_model=wire.MilestoneEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Milestones"],
)
async def create_milestone(intent_id: str, body: CreateMilestone, ctx: MerchantCtx) -> Response:
    """Create Milestone, exactly as the original page documents it."""
    amount = parse_amount(body.amount)

    async def attempt() -> Response:
        milestone = await milestones.create_milestone(
            ctx.session,
            ctx.caller,
            intent_id,
            index=body.milestoneIndex,
            description=body.description,
            amount=amount,
            percentage=body.percentage,
        )
        return await ctx.respond(201, render.milestone_envelope_object(milestone))

    return await ctx.optimistic(attempt)


@router.get(
    MILESTONES, response_model=wire.MilestoneList, responses=errors(404), tags=["Milestones"]
)
async def list_milestones(request: Request, intent_id: str, ctx: ReaderCtx) -> Response:
    rows = await milestones.list_milestones(ctx.session, ctx.caller, intent_id)
    items = [render.milestone_wire(m) for m in rows]
    return answer(list_envelope(wire.MilestoneList, request.url.path, items, False))


@router.get(
    MILESTONE, response_model=wire.MilestoneEnvelope, responses=errors(404), tags=["Milestones"]
)
async def get_milestone(intent_id: str, milestone_id: str, ctx: ReaderCtx) -> Response:
    m = await milestones.get_milestone(ctx.session, ctx.caller, intent_id, milestone_id)
    return answer_object(render.milestone_envelope_object(m, ctx.settings))


@router.post(
    MILESTONE + "/complete",
    response_model=wire.MilestoneEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Milestones"],
)
async def complete_milestone(
    intent_id: str, milestone_id: str, body: CompleteMilestone, ctx: MerchantCtx
) -> Response:
    """Mark a milestone COMPLETED (strictly in index order). Released at once when
    the order has autoRelease; otherwise on payer approval or after the dispute window."""

    async def attempt() -> Response:
        m = await milestones.complete_milestone(
            ctx.session,
            ctx.settings,
            ctx.caller,
            intent_id,
            milestone_id,
            completed_by=body.completedBy,
            proof=body.completionProof,
            proof_uri=body.completionProofURI,
        )
        envelope = render.milestone_envelope_object(m, ctx.settings, status="completed")
        return await ctx.respond(200, envelope)

    return await ctx.optimistic(attempt)


@router.post(
    MILESTONE + "/approve",
    response_model=wire.MilestoneEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Milestones"],
)
async def approve_milestone(
    intent_id: str, milestone_id: str, body: ApproveRelease, ctx: MerchantCtx
) -> Response:
    """Payer approval: an EIP-712 signature over the milestone's `approvalTypedData`
    by the address that funded the order."""
    m = await milestones.approve_milestone(
        ctx.session, ctx.settings, ctx.caller, intent_id, milestone_id, body.signature
    )
    return await ctx.respond(
        200, render.milestone_envelope_object(m, ctx.settings, status=m.status.lower())
    )


# --- test clock (test mode only) -------------------------------------------------


@router.post(
    "/test_helpers" + INTENT + "/advance_clock",
    response_model=wire.OrderEnvelope,
    responses=errors(404, body=True),
    openapi_extra=IDEMPOTENT,
    tags=["Test helpers"],
)
async def advance_clock(
    request: Request, intent_id: str, body: AdvanceClock, ctx: MerchantCtx
) -> Response:
    """Move this order's clock forward by `seconds`, then run every job now due."""
    if ctx.mode != "test":
        raise ApiError(
            f"Unrecognized request URL (POST: {request.url.path})",
            code="resource_missing",
            status_code=404,
        )
    view = await orders.advance_clock(
        ctx.session,
        ctx.caller,
        intent_id,
        body.seconds,
        run_due_jobs=request.app.state.run_due_jobs,
    )
    return await ctx.respond(200, _order_body(view, ctx))
