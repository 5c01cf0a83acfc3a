"""The merchant dashboard at /dashboard: sign in with a secret key, see the intents
(status filters, paging), an intent's order with a progress bar per milestone, its
ledger entries and events, the balances per currency; create a test intent, add and
complete milestones, submit a delivery proof, refund. It only ever shows the signed-in
key's merchant and mode: every read and action goes through the API's own use cases
with that key's principal. Session and CSRF: pages/session.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal, resolve_key
from ..domain import currencies
from ..domain.errors import DomainError
from ..domain.money import parse_amount
from ..ledger.service import balances
from ..payments import delivery, intents, milestones, model, orders, refunds, render, repository
from ..payments.schemas import (
    CreateMilestone,
    CreatePaymentIntent,
    CreateRefund,
    SubmitDeliveryProof,
)
from . import queries
from . import session as sessions
from .web import page, redirect, settings_of, transaction

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 10
RELEASE_TYPES = tuple(model.ReleaseType)
NOTICES = {
    "created": "Test intent created. Share its payment page with the payer.",
    "milestone": "Milestone added.",
    "completed": "Milestone completed.",
    "proof": "Delivery proof submitted.",
    "refunded": "Refund done.",
}


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return str(err["msg"]).removeprefix("Value error, ")


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v).strip() for k, v in (await request.form()).items()}


def _with_cookie(response: Response, request: Request, s: sessions.Session) -> Response:
    sessions.store(response, request, settings_of(request), s)
    return response


async def _signed_in(
    request: Request, db: AsyncSession
) -> tuple[sessions.Session, Principal | None]:
    s = sessions.load(request, settings_of(request)) or sessions.new()
    return s, await sessions.principal(db, s)


def _login_page(
    request: Request, s: sessions.Session, error: str | None = None, status_code: int = 200
) -> Response:
    response = page(request, "dash_login.html", {"csrf": s.csrf, "error": error}, status_code)
    return _with_cookie(response, request, s)


def _forbidden(request: Request) -> Response:
    s = sessions.new()
    return _login_page(
        request, s, "Your session expired or the form was stale: sign in again.", 403
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    return await _home(request)


async def _home(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    status = request.query_params.get("status") or None
    if status not in (None, *model.IntentStatus):
        status = None
    after = request.query_params.get("starting_after") or None
    before = request.query_params.get("ending_before") or None
    async with transaction(request) as db:
        s, caller = await _signed_in(request, db)
        if caller is None:
            return _login_page(request, s)
        try:
            rows, more = await intents.list_intents(
                db,
                caller,
                limit=PAGE_SIZE,
                starting_after=after,
                ending_before=before,
                status=status,
                type_=None,
            )
        except DomainError:
            rows, more = [], False
        totals = await balances(db, caller.merchant_id or "", caller.mode)
        name = await repository.merchant_name(db, caller.merchant_id or "")
    newer = bool(rows) and (after is not None or (before is not None and more))
    older = bool(rows) and (before is not None or more)
    base = {"status": status} if status else {}
    context: dict[str, Any] = {
        "csrf": s.csrf,
        "merchant_name": name,
        "mode": caller.mode,
        "intents": rows,
        "status": status,
        "statuses": list(model.IntentStatus),
        "newer_url": "/dashboard?" + urlencode({**base, "ending_before": rows[0].id})
        if newer
        else None,
        "older_url": "/dashboard?" + urlencode({**base, "starting_after": rows[-1].id})
        if older
        else None,
        "balances": [
            {
                "currency": cur,
                "reserved": acc.get("escrow", 0),
                "pending": acc.get("merchant_pending", 0),
                "available": acc.get("merchant_settled", 0),
            }
            for cur, acc in sorted(totals.items())
        ],
        "release_types": RELEASE_TYPES,
        "currencies": currencies.CURRENCIES,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "error": error,
    }
    return _with_cookie(page(request, "dash_home.html", context, status_code), request, s)


@router.post("/dashboard/login", response_model=None)
async def login(request: Request) -> Response:
    form = await _form(request)
    s = sessions.load(request, settings_of(request))
    if not sessions.csrf_ok(s, form.get("csrf")):
        return _forbidden(request)
    async with transaction(request) as db:
        caller = await resolve_key(db, form.get("key", ""))
    if caller is None or caller.is_operator:
        return _login_page(request, s or sessions.new(), "Invalid secret key.", 401)
    signed_in = sessions.new(caller.key_id)  # a new session (and CSRF token) on sign-in
    return _with_cookie(redirect("/dashboard"), request, signed_in)


@router.post("/dashboard/logout", response_model=None)
async def logout(request: Request) -> Response:
    form = await _form(request)
    s = sessions.load(request, settings_of(request))
    if not sessions.csrf_ok(s, form.get("csrf")):
        return _forbidden(request)
    response = redirect("/dashboard")
    sessions.clear(response)
    return response


async def _intent_page(
    request: Request,
    db: AsyncSession,
    s: sessions.Session,
    caller: Principal,
    intent_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    settings = settings_of(request)
    try:
        intent = await intents.get_intent(db, caller, intent_id)
    except DomainError as exc:
        missing = {"csrf": s.csrf, "error": exc.message, "mode": caller.mode}
        return page(request, "dash_missing.html", missing, 404)
    view = None
    refund_rows = []
    object_ids = [intent.id]
    if intent.type == model.IntentType.DVP:
        view = await orders.get_order(db, caller, intent_id)
        refund_rows = await repository.refunds_of(db, view.order.id)
        object_ids += [view.order.id, *(m.id for m in view.milestones)]
        object_ids += [p.id for p in view.proofs] + [r.id for r in refund_rows]
        if view.dispute:
            object_ids.append(view.dispute.id)
    order = None
    if view is not None:
        order = render.order_wire(
            view.order,
            settings,
            milestones=view.milestones,
            proofs=view.proofs,
            dispute=view.dispute,
        ).wire()
        for m in order["milestones"]:
            row = next(r for r in view.milestones if r.id == m["id"])
            m["addedAfterFunding"] = row.added_after_funding
            m["progress"] = {"PENDING": 0, "COMPLETED": 50, "RELEASED": 100}.get(m["status"], 0)
    events = await queries.events_of(db, caller, object_ids)
    context: dict[str, Any] = {
        "csrf": s.csrf,
        "mode": caller.mode,
        "intent": render.intent_wire(intent, settings).wire(),
        "order": order,
        # Held money in micro-units (the wire's heldAmount is "0" or "0.00" by currency).
        "can_refund": view is not None and model.held(view.order) > 0,
        "terms_intent": render.public_intent_wire(
            intent,
            settings,
            merchant_name=None,
            order=view.order if view else None,
            milestones=view.milestones if view else [],
        ).wire(),
        "refunds": [render.refund_wire(r, intent.currency).wire() for r in refund_rows],
        "ledger": await queries.ledger_of_intent(db, caller, intent.id),
        "events": events,
        "deliveries": await queries.webhook_attempts_of(db, caller, [e.id for e in events]),
        "next_index": (max((m.milestone_index for m in view.milestones), default=-1) + 1)
        if view
        else 0,
        "error": error,
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    return _with_cookie(page(request, "dash_intent.html", context, status_code), request, s)


@router.get("/dashboard/intents/{intent_id}", response_class=HTMLResponse)
async def intent_detail(request: Request, intent_id: str) -> Response:
    async with transaction(request) as db:
        s, caller = await _signed_in(request, db)
        if caller is None:
            return _login_page(request, s)
        return await _intent_page(request, db, s, caller, intent_id)


async def _action(request: Request, intent_id: str | None, action: str, **kw: str) -> Response:
    """A POST form of a signed-in merchant: CSRF first, then one use case in one
    transaction; a refused rule re-renders the page with its message."""
    form = await _form(request)
    settings = settings_of(request)
    async with transaction(request) as db:
        s, caller = await _signed_in(request, db)
        if caller is None or not sessions.csrf_ok(s, form.get("csrf")):
            return _forbidden(request)
        target = intent_id
        try:
            if action == "create":
                body = CreatePaymentIntent.model_validate(
                    {
                        "amount": form.get("amount", ""),
                        "currency": form.get("currency", "USDC"),
                        "type": "DELIVERY_VS_PAYMENT",
                        "settlementMethod": "OFF_RAMP_MOCK",
                        "settlementDestination": form.get("destination") or "test_account_123",
                        "description": form.get("description") or None,
                        "metadata": {"releaseType": form.get("release_type", "")},
                    }
                )
                intent = await intents.create_intent(
                    db,
                    settings,
                    caller,
                    amount=parse_amount(body.amount),
                    currency=body.currency,
                    type_=body.type,
                    settlement_method=body.settlementMethod,
                    settlement_destination=body.settlementDestination,
                    description=body.description,
                    metadata=body.metadata,
                    dvp_fields={n: getattr(body, n) for n in intents.DVP_ONLY_FIELDS},
                )
                target, done = intent.id, "created"
            elif action == "milestone":
                assert target is not None
                mb = CreateMilestone.model_validate(
                    {
                        "milestoneIndex": int(form.get("index") or "0"),
                        "description": form.get("description") or None,
                        "amount": form.get("amount", ""),
                    }
                )
                await milestones.create_milestone(
                    db,
                    caller,
                    target,
                    index=mb.milestoneIndex,
                    description=mb.description,
                    amount=parse_amount(mb.amount),
                    percentage=None,
                )
                done = "milestone"
            elif action == "complete":
                assert target is not None
                await milestones.complete_milestone(
                    db,
                    settings,
                    caller,
                    target,
                    kw["milestone_id"],
                    completed_by="dashboard",
                    proof=None,
                    proof_uri=None,
                )
                done = "completed"
            elif action == "proof":
                assert target is not None
                pb = SubmitDeliveryProof.model_validate(
                    {
                        "proofHash": form.get("proof_hash", ""),
                        "submittedBy": "dashboard",
                        "proofURI": form.get("proof_uri") or None,
                    }
                )
                await delivery.submit_proof(
                    db,
                    settings,
                    caller,
                    target,
                    proof_hash=pb.proofHash,
                    submitted_by=pb.submittedBy,
                    proof_uri=pb.proofURI,
                    submit_tx_hash=None,
                )
                done = "proof"
            else:
                assert target is not None
                rb = CreateRefund.model_validate({"amount": form.get("amount") or None})
                await refunds.refund(
                    db,
                    settings,
                    caller,
                    target,
                    amount=parse_amount(rb.amount) if rb.amount else None,
                    reason=None,
                )
                done = "refunded"
        except (ValidationError, ValueError, DomainError) as exc:
            await db.rollback()
            message = (
                _first_error(exc)
                if isinstance(exc, ValidationError)
                else exc.message
                if isinstance(exc, DomainError)
                else "Milestone index must be a whole number"
            )
            if target is None:
                return await _home(request, message, 400)
            return await _intent_page(
                request, db, s, caller, target, error=message, status_code=400
            )
        await db.commit()
    return redirect(f"/dashboard/intents/{target}?done={done}")


@router.post("/dashboard/intents", response_model=None)
async def create_test_intent(request: Request) -> Response:
    return await _action(request, None, "create")


@router.post("/dashboard/intents/{intent_id}/milestones", response_model=None)
async def add_milestone(request: Request, intent_id: str) -> Response:
    return await _action(request, intent_id, "milestone")


@router.post(
    "/dashboard/intents/{intent_id}/milestones/{milestone_id}/complete", response_model=None
)
async def complete_milestone(request: Request, intent_id: str, milestone_id: str) -> Response:
    return await _action(request, intent_id, "complete", milestone_id=milestone_id)


@router.post("/dashboard/intents/{intent_id}/delivery-proof", response_model=None)
async def submit_proof(request: Request, intent_id: str) -> Response:
    return await _action(request, intent_id, "proof")


@router.post("/dashboard/intents/{intent_id}/refund", response_model=None)
async def refund(request: Request, intent_id: str) -> Response:
    return await _action(request, intent_id, "refund")
