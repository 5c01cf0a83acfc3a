"""The hosted payment page, served by escrowgate itself: /pay/<intent id>.

The payer sees the merchant, the amount, the release terms and the status, and pays
by sandbox card or by wallet (EIP-712, signed with an injected wallet or pasted).
Paying redirects to /pay/<id>?client_secret=<secret>: the payer's secret link, where
the payer follows the order's progress, approves a completed milestone or a
delivery, and raises a dispute. Forms post to this server (no JavaScript needed but
for the optional wallet signing); the client secret in each payer form is what
authorises it, so it also serves as the form's CSRF token."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from ..domain import currencies
from ..domain.errors import DomainError, Unauthenticated
from ..payments import funding, intents, model, payer, render
from ..payments.schemas import CardPayment, ConfirmIntent, PayerDispute
from .web import page, redirect, settings_of, transaction

router = APIRouter(include_in_schema=False)

PAY = "/pay/{intent_id}"

TEST_CARDS = [
    ("4242424242424242", "succeeds"),
    ("5555555555554444", "succeeds"),
    ("4000000000000002", "is declined"),
    ("4000000000009995", "has insufficient funds"),
]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return str(err["msg"]).removeprefix("Value error, ")


def secret_link(intent_id: str, secret: str, **extra: str) -> str:
    return f"/pay/{intent_id}?" + urlencode({payer.SECRET_PARAM: secret, **extra})


async def _render(
    request: Request,
    intent_id: str,
    *,
    secret: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = settings_of(request)
    async with transaction(request) as session:
        try:
            intent, name, order, plan = await intents.public_view(session, intent_id)
        except DomainError:
            return page(request, "pay_missing.html", {"intent_id": intent_id}, 404)
        view = None
        link_error = None
        if secret:
            try:
                view = await payer.payer_view(session, intent_id, secret)
            except Unauthenticated:
                link_error = "This payer link is not valid for this payment."
        public = render.public_intent_wire(
            intent, settings, merchant_name=name, order=order, milestones=plan
        ).wire()
        order_view = None
        if view is not None and view.order is not None:
            o = view.order
            order_view = render.order_wire(
                o.order, settings, milestones=o.milestones, proofs=o.proofs, dispute=o.dispute
            ).wire()
            rows = {m.id: m for m in o.milestones}
            for m in order_view["milestones"]:
                row = rows[m["id"]]
                m["addedAfterFunding"] = row.added_after_funding
                m["approved"] = row.approved_at is not None
        payable = intent.status in model.PAYABLE
        context: dict[str, Any] = {
            "intent": public,
            "intent_id": intent.id,
            "test_mode": intent.mode == "test",
            "payable": payable,
            # A wallet pays in stablecoins: a fiat intent is paid by card only (as the API).
            "wallet_payable": payable and not currencies.is_fiat(intent.currency),
            "secret": secret if view is not None else None,
            "order": order_view,
            "refunds": [render.refund_wire(r, intent.currency).wire() for r in view.refunds]
            if view
            else [],
            "error": error or link_error,
            "notice": notice,
            "paid": request.query_params.get("paid") == "1" and view is not None,
            "card_last4": (intent.funding or {}).get("cardLast4"),
            "typed_data_json": json.dumps(public["typedData"]),
            "sandbox_tx_hash": "0x" + secrets.token_hex(32),
            "test_cards": TEST_CARDS,
            "form": form or {},
            "disputable": order_view is not None
            and order_view["disputeId"] is None
            and order_view["orderStatus"] in ("PENDING", "DELIVERED"),
        }
    code = 401 if link_error and status_code == 200 else status_code
    return page(request, "pay.html", context, code)


NOTICES = {
    "milestone": "You approved the milestone: it is released (in milestone order).",
    "delivery": "You approved the delivery: the payment is released to the merchant.",
    "dispute": "Your dispute is open: nothing is released until it is resolved.",
}


@router.get(PAY, response_class=HTMLResponse)
async def payment_page(request: Request, intent_id: str) -> HTMLResponse:
    return await _render(
        request,
        intent_id,
        secret=request.query_params.get(payer.SECRET_PARAM) or None,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


@router.post(PAY + "/card", response_model=None)
async def pay_by_card(request: Request, intent_id: str) -> HTMLResponse | RedirectResponse:
    form = {k: str(v) for k, v in (await request.form()).items()}
    kept = {"name": form.get("name", ""), "expiry": form.get("expiry", "")}
    try:
        body = CardPayment.model_validate(
            {
                "card": {
                    "cardNumber": form.get("card_number", "").replace(" ", ""),
                    "expiry": form.get("expiry", "").strip(),
                    "cvv": form.get("cvv", "").strip(),
                    "name": form.get("name", "").strip(),
                }
            }
        )
    except ValidationError as exc:
        return await _render(
            request, intent_id, error=_first_error(exc), status_code=400, form=kept
        )
    settings = settings_of(request)
    secret, error = None, None
    async with transaction(request) as session:
        try:
            intent, declined = await funding.pay_by_card(
                session,
                settings,
                intent_id,
                card_number=body.card.cardNumber,
                expiry=body.card.expiry,
                payer_address=None,
            )
        except DomainError as exc:
            error = exc.message
        else:
            if declined is None:
                secret = payer.issue_client_secret(intent)
            else:  # the decline is kept, as on the API
                error = f"{declined.message} Try another card."
            await session.commit()
    # Rendered once the action's transaction has ended (as in `_payer_action`).
    if secret is None:
        return await _render(request, intent_id, error=error, status_code=400, form=kept)
    return redirect(secret_link(intent_id, secret, paid="1"))


@router.post(PAY + "/wallet", response_model=None)
async def pay_by_wallet(request: Request, intent_id: str) -> HTMLResponse | RedirectResponse:
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    try:
        body = ConfirmIntent.model_validate(
            {
                "signature": form.get("signature", ""),
                "payerAddress": form.get("payer_address", ""),
                "transactionHash": form.get("transaction_hash") or None,
            }
        )
    except ValidationError as exc:
        return await _render(
            request, intent_id, error=_first_error(exc), status_code=400, form=form
        )
    settings = settings_of(request)
    async with transaction(request) as session:
        try:
            _, secret = await payer.confirm_wallet(
                session,
                settings,
                intent_id,
                signature=body.signature,
                payer_address=body.payerAddress,
                transaction_hash=body.transactionHash,
            )
        except DomainError as exc:
            error = exc.message
        else:
            await session.commit()
            return redirect(secret_link(intent_id, secret, paid="1"))
    return await _render(request, intent_id, error=error, status_code=400, form=form)


async def _payer_action(request: Request, intent_id: str, action: str, **kw: str) -> Any:
    form = {k: str(v) for k, v in (await request.form()).items()}
    secret = form.get(payer.SECRET_PARAM, "")
    settings = settings_of(request)
    failed: tuple[str | None, str, int]
    async with transaction(request) as session:
        try:
            if action == "approve_milestone":
                m = await payer.approve_milestone(
                    session, settings, intent_id, secret, kw["milestone_id"]
                )
                notice = "milestone"
                assert m is not None
            elif action == "approve_delivery":
                await payer.approve_delivery(session, settings, intent_id, secret)
                notice = "delivery"
            else:
                reason = PayerDispute.model_validate({"reason": form.get("reason", "")}).reason
                await payer.raise_dispute(session, intent_id, secret, reason=reason)
                notice = "dispute"
        except ValidationError as exc:
            failed = (secret, _first_error(exc), 400)
        except Unauthenticated as exc:
            failed = (None, exc.message, 401)  # the page is shown without the payer's link
        except DomainError as exc:
            failed = (secret, exc.message, 400)
        else:
            await session.commit()
            return redirect(secret_link(intent_id, secret, done=notice))
    # Rendered once the action's transaction has ended (rolled back by closing): the
    # page reads in a session of its own, and on SQLite that session would wait for
    # this one's write lock (every write of the database with it) until the timeout.
    shown_secret, error, status = failed
    return await _render(request, intent_id, secret=shown_secret, error=error, status_code=status)


@router.post(PAY + "/milestones/{milestone_id}/approve", response_model=None)
async def approve_milestone(request: Request, intent_id: str, milestone_id: str) -> Any:
    return await _payer_action(request, intent_id, "approve_milestone", milestone_id=milestone_id)


@router.post(PAY + "/approve", response_model=None)
async def approve_delivery(request: Request, intent_id: str) -> Any:
    return await _payer_action(request, intent_id, "approve_delivery")


@router.post(PAY + "/dispute", response_model=None)
async def dispute(request: Request, intent_id: str) -> Any:
    return await _payer_action(request, intent_id, "dispute")
