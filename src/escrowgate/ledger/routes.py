from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import bindparam, select

from ..api.context import (
    Ctx,
    answer,
    merchant_ctx,
    merchant_or_operator_ctx,
    replica_ctx,
    replica_reader_ctx,
)
from ..api.docs import errors
from ..api.lists import Cursor, Limit, list_envelope
from ..api.routing import api_router
from ..db.pagination import page
from ..domain.clock import iso
from ..domain.errors import InvalidRequest
from ..domain.money import format_amount
from ..models import LedgerEntry, PaymentIntent
from . import service
from .wire import Balance, BalanceData, CurrencyBalance, LedgerEntryData, LedgerEntryList

router = api_router(tags=["Account"])
MerchantCtx = Annotated[Ctx, Depends(merchant_ctx)]
ReaderCtx = Annotated[Ctx, Depends(merchant_or_operator_ctx)]  # operators read too
# Reports that tolerate replica lag: a standby when DATABASE_READ_URL is set.
ReplicaCtx = Annotated[Ctx, Depends(replica_ctx)]
ReplicaReaderCtx = Annotated[Ctx, Depends(replica_reader_ctx)]


DEFAULT_PRIMARY_CURRENCY = "USDC"
_FIRST_CURRENCY = (
    select(PaymentIntent.currency)
    .where(
        PaymentIntent.merchant_id == bindparam("merchant_id"),
        PaymentIntent.mode == bindparam("mode"),
    )
    .order_by(PaymentIntent.id)
    .limit(1)
)


@router.get("/account/balance", response_model=Balance, responses=errors())
@router.get("/payment-intents/account/balance", response_model=Balance, responses=errors())
async def get_balance(ctx: ReplicaCtx) -> Response:
    """Per currency: reservedBalance (held in escrow), pendingBalance (released,
    settlement in flight), availableBalance (settled to the merchant's destination)."""
    per_currency = await service.balances(ctx.session, ctx.merchant_id, ctx.mode)
    rows = {currency: _row(currency, per_currency[currency]) for currency in sorted(per_currency)}
    params = {"merchant_id": ctx.merchant_id, "mode": ctx.mode}
    primary = (await ctx.session.execute(_FIRST_CURRENCY, params)).scalar()
    primary = primary or DEFAULT_PRIMARY_CURRENCY
    top = rows.get(primary) or _row(primary, {})
    data = BalanceData(
        availableBalance=top.availableBalance,
        pendingBalance=top.pendingBalance,
        reservedBalance=top.reservedBalance,
        totalBalance=top.totalBalance,
        currency=primary,
        balances=list(rows.values()),
    )
    return answer(Balance(object="balance", livemode=ctx.mode == "live", data=data))


def _row(currency: str, accounts: dict[str, int]) -> CurrencyBalance:
    reserved = accounts.get(service.ESCROW, 0)
    pending = accounts.get(service.MERCHANT_PENDING, 0)
    available = accounts.get(service.MERCHANT_SETTLED, 0)
    return CurrencyBalance(
        currency=currency,
        reservedBalance=format_amount(reserved, currency),
        pendingBalance=format_amount(pending, currency),
        availableBalance=format_amount(available, currency),
        totalBalance=format_amount(reserved + pending + available, currency),
    )


def entry_data(e: LedgerEntry) -> LedgerEntryData:
    return LedgerEntryData(
        id=e.id,
        object="ledger_entry",
        transactionId=e.transaction_id,
        account=e.account,
        amount=format_amount(e.amount, e.currency),
        currency=e.currency,
        transactionType=e.kind,
        paymentIntentId=e.payment_intent_id,
        conditionalPaymentId=e.conditional_payment_id,
        referenceId=e.reference_id,
        createdAt=iso(e.created_at),
    )


@router.get("/account/ledger-entries", response_model=LedgerEntryList, responses=errors())
@router.get(
    "/payment-intents/account/ledger-entries",
    response_model=LedgerEntryList,
    responses=errors(),
)
async def list_ledger_entries(
    request: Request,
    ctx: ReplicaReaderCtx,
    limit: Limit = 10,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    paymentIntentId: Cursor = None,
    transactionType: Annotated[str | None, Query(pattern="^(FUND|RELEASE|SETTLE|REFUND)$")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip")] = 0,
) -> Response:
    """Newest first, with `starting_after` / `ending_before` cursors like every list,
    or `offset` (the reference backend's paging; not with a cursor). An operator key
    reads one intent's entries (any merchant of its mode)."""
    if ctx.caller.is_operator:
        if not paymentIntentId:
            raise InvalidRequest(
                "paymentIntentId is required with an operator key", param="paymentIntentId"
            )
        scope = select(LedgerEntry).where(
            LedgerEntry.payment_intent_id == paymentIntentId, LedgerEntry.mode == ctx.mode
        )
    else:
        scope = select(LedgerEntry).where(
            LedgerEntry.merchant_id == ctx.merchant_id, LedgerEntry.mode == ctx.mode
        )
    stmt = scope
    if paymentIntentId:
        stmt = stmt.where(LedgerEntry.payment_intent_id == paymentIntentId)
    if transactionType:
        stmt = stmt.where(LedgerEntry.kind == transactionType)
    rows, has_more = await page(
        ctx.session,
        stmt,
        LedgerEntry.id,
        scope=scope,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        offset=offset,
    )
    items = [entry_data(e) for e in rows]
    return answer(list_envelope(LedgerEntryList, request.url.path, items, has_more))
