"""Every payment-intent query, scoped to the caller's merchant and mode."""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..db.pagination import page
from ..errors import Forbidden, NotFound
from ..models import ConditionalPayment, PaymentIntent

_ID_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def not_found(intent_id: str) -> NotFound:
    shown = intent_id if _ID_RE.fullmatch(intent_id) else "(invalid id)"
    return NotFound(f"Payment intent not found: {shown}", param="intentId")


def check_id(value: str, err: Exception) -> None:
    """Ids are short and alphanumeric; anything else cannot exist (and never
    reaches the database, where a NUL byte would be an error, not a miss)."""
    if not _ID_RE.fullmatch(value):
        raise err


def _owned_stmt(*, operator: bool, lock: bool) -> Any:
    stmt: Any = select(PaymentIntent).where(
        PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode")
    )
    if not operator:
        stmt = stmt.where(PaymentIntent.merchant_id == bindparam("merchant_id"))
    return stmt.with_for_update() if lock else stmt


# Hot-path statements are built once (bound parameters), not per request: building a
# statement and its cache key costs about as much CPU as executing it.
_OWNED = {
    (operator, lock): _owned_stmt(operator=operator, lock=lock)
    for operator in (False, True)
    for lock in (False, True)
}
_EXISTS_IN_MODE = select(PaymentIntent.id).where(
    PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode")
)
_BY_ID = select(PaymentIntent).where(PaymentIntent.id == bindparam("intent_id"))
_PUBLIC = {False: _BY_ID, True: _BY_ID.with_for_update()}


async def get_owned(
    session: AsyncSession, principal: Principal, intent_id: str, *, lock: bool = False
) -> PaymentIntent:
    """The intent if the caller owns it; 404 if unknown in this mode, 403 if another
    merchant's (operators may see every merchant's intents in their mode)."""
    check_id(intent_id, not_found(intent_id))
    params = {"intent_id": intent_id, "mode": principal.mode}
    if not principal.is_operator:
        params["merchant_id"] = principal.merchant_id or ""
    stmt = _OWNED[(principal.is_operator, lock)]
    intent = (await session.execute(stmt, params)).scalar_one_or_none()
    if intent is not None:
        return cast(PaymentIntent, intent)
    if not principal.is_operator:
        exists = (
            await session.execute(_EXISTS_IN_MODE, {"intent_id": intent_id, "mode": principal.mode})
        ).scalar_one_or_none()
        if exists is not None:
            raise Forbidden("payment intent")
    raise not_found(intent_id)


def _with_order_stmt(*, operator: bool, lock: bool = False) -> Any:
    stmt: Any = (
        select(PaymentIntent, ConditionalPayment)
        .join(ConditionalPayment, ConditionalPayment.payment_intent_id == PaymentIntent.id)
        .where(PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode"))
    )
    if not operator:
        stmt = stmt.where(PaymentIntent.merchant_id == bindparam("merchant_id"))
    if lock:
        # FOR UPDATE without OF: both rows are locked, so after a lock wait PostgreSQL
        # re-reads both (EvalPlanQual re-fetches every locked row; an unlocked joined
        # row would be the stale pre-wait version). LockRows takes the row locks in
        # FROM order: the intent, then the order, as every other path.
        stmt = stmt.with_for_update()
    return stmt


_WITH_ORDER = {
    (operator, lock): _with_order_stmt(operator=operator, lock=lock)
    for operator in (False, True)
    for lock in (False, True)
}


async def get_owned_with_order(
    session: AsyncSession, principal: Principal, intent_id: str, *, lock: bool = False
) -> tuple[PaymentIntent, ConditionalPayment] | None:
    """The intent and its order in one round trip (a read), or None (then the
    caller asks get_owned for the exact 403/404)."""
    if not _ID_RE.fullmatch(intent_id):
        return None
    params = {"intent_id": intent_id, "mode": principal.mode}
    if not principal.is_operator:
        params["merchant_id"] = principal.merchant_id or ""
    row = (await session.execute(_WITH_ORDER[(principal.is_operator, lock)], params)).first()
    if row is None:
        return None
    return cast(PaymentIntent, row[0]), cast(ConditionalPayment, row[1])


async def get_public(session: AsyncSession, intent_id: str, *, lock: bool = False) -> PaymentIntent:
    check_id(intent_id, not_found(intent_id))
    intent = (await session.execute(_PUBLIC[lock], {"intent_id": intent_id})).scalar_one_or_none()
    if intent is None:
        raise not_found(intent_id)
    return intent


async def list_page(
    session: AsyncSession,
    *,
    merchant_id: str,
    mode: str,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    status: str | None,
    type_: str | None,
) -> tuple[list[PaymentIntent], bool]:
    """Newest first. Returns one page and whether more exist in that direction."""
    scope = select(PaymentIntent).where(
        PaymentIntent.merchant_id == merchant_id, PaymentIntent.mode == mode
    )
    stmt = scope
    if status:
        stmt = stmt.where(PaymentIntent.status == status)
    if type_:
        stmt = stmt.where(PaymentIntent.type == type_)
    return await page(
        session,
        stmt,
        PaymentIntent.id,
        scope=scope,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )
