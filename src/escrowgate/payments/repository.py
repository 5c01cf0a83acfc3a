"""Every query of the payment aggregate, scoped to the caller's merchant and mode.
Children are always looked up under their parent.

Lock order, everywhere (API and worker): the intent row, then its order row.
Hot-path statements are built once with bound parameters: building a statement and
its cache key per request costs about as much CPU as executing it."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import bindparam, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..db.direct import DirectSelect, fetch_one
from ..db.pagination import page
from ..domain.errors import Forbidden, InvalidRequest, NotFound
from ..domain.formats import check_id, shown_id, well_formed_id
from ..ledger.service import FUND
from ..models import (
    ConditionalPayment,
    DeliveryProof,
    Dispute,
    LedgerEntry,
    Merchant,
    Milestone,
    PaymentIntent,
    Refund,
    Settlement,
)
from .model import IntentType, MilestoneStatus, PayoutStatus

# --- payment intents -------------------------------------------------------------


def intent_not_found(intent_id: str) -> NotFound:
    return NotFound(f"Payment intent not found: {shown_id(intent_id)}", param="intentId")


def check_intent_id(intent_id: str) -> None:
    check_id(intent_id, "payment intent", "intentId", intent_not_found(intent_id))


def _owned_stmt(*, operator: bool, lock: bool) -> Any:
    stmt: Any = select(PaymentIntent).where(
        PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode")
    )
    if not operator:
        stmt = stmt.where(PaymentIntent.merchant_id == bindparam("merchant_id"))
    return stmt.with_for_update() if lock else stmt


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


def _scope_params(caller: Principal, intent_id: str) -> dict[str, str]:
    params = {"intent_id": intent_id, "mode": caller.mode}
    if not caller.is_operator:
        params["merchant_id"] = caller.merchant_id or ""
    return params


async def owned_intent(
    session: AsyncSession, caller: Principal, intent_id: str, *, lock: bool = False
) -> PaymentIntent:
    """The intent if the caller owns it; 404 if unknown in this mode, 403 if another
    merchant's (operators may see every merchant's intents in their mode)."""
    check_intent_id(intent_id)
    stmt = _OWNED[(caller.is_operator, lock)]
    intent = (await session.execute(stmt, _scope_params(caller, intent_id))).scalar_one_or_none()
    if intent is not None:
        return cast(PaymentIntent, intent)
    if not caller.is_operator:
        exists = (
            await session.execute(_EXISTS_IN_MODE, {"intent_id": intent_id, "mode": caller.mode})
        ).scalar_one_or_none()
        if exists is not None:
            raise Forbidden.not_yours("payment intent")
    raise intent_not_found(intent_id)


def _direct_owned(*, operator: bool) -> DirectSelect:
    columns = inspect(PaymentIntent).column_attrs
    stmt = select(*(attr.columns[0] for attr in columns)).where(
        PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode")
    )
    if not operator:
        stmt = stmt.where(PaymentIntent.merchant_id == bindparam("merchant_id"))
    return DirectSelect(stmt, keys=tuple(attr.key for attr in columns))


_DIRECT_OWNED = {operator: _direct_owned(operator=operator) for operator in (False, True)}


async def read_owned_intent(
    session: AsyncSession, caller: Principal, intent_id: str
) -> PaymentIntent:
    """`owned_intent` for an answer (no lock, nothing pending): the row is read straight
    from the driver (db/direct.py) and the intent is a transient object, never flushed.
    The same 404 and 403 as `owned_intent`."""
    check_intent_id(intent_id)
    row = await fetch_one(
        session,
        _DIRECT_OWNED[caller.is_operator],
        _scope_params(caller, intent_id),
    )
    if row is not None:
        return PaymentIntent(**row)
    return await owned_intent(session, caller, intent_id)  # its 403 or 404


async def public_intent(
    session: AsyncSession, intent_id: str, *, lock: bool = False
) -> PaymentIntent:
    """An intent by id alone (the public routes: the id is the capability)."""
    check_intent_id(intent_id)
    intent = (await session.execute(_PUBLIC[lock], {"intent_id": intent_id})).scalar_one_or_none()
    if intent is None:
        raise intent_not_found(intent_id)
    return intent


async def merchant_name(session: AsyncSession, merchant_id: str) -> str | None:
    merchant = await session.get(Merchant, merchant_id)
    return merchant.name if merchant else None


async def list_intents(
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


# --- the aggregate: intent and order together ------------------------------------


def _with_order_stmt(*, operator: bool, lock: bool) -> Any:
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
_ORDER_OF_INTENT = select(ConditionalPayment).where(
    ConditionalPayment.payment_intent_id == bindparam("intent_id")
)
_ORDER_OF_INTENT_LOCKED = _ORDER_OF_INTENT.with_for_update()


async def owned_order(
    session: AsyncSession, caller: Principal, intent_id: str, *, lock: bool = False
) -> tuple[PaymentIntent, ConditionalPayment]:
    """The caller's intent and its conditional payment in one statement (both rows
    locked with lock=True). The slow path only answers 403/404/wrong type precisely."""
    if well_formed_id(intent_id):
        stmt = _WITH_ORDER[(caller.is_operator, lock)]
        row = (await session.execute(stmt, _scope_params(caller, intent_id))).first()
        if row is not None:
            return cast(PaymentIntent, row[0]), cast(ConditionalPayment, row[1])
    intent = await owned_intent(session, caller, intent_id, lock=lock)
    if intent.type != IntentType.DVP:
        raise InvalidRequest("Payment intent is not of type DELIVERY_VS_PAYMENT")
    return intent, await order_of_intent(session, intent.id, lock=lock)


async def order_of_intent(
    session: AsyncSession, intent_id: str, *, lock: bool = False
) -> ConditionalPayment:
    stmt = _ORDER_OF_INTENT_LOCKED if lock else _ORDER_OF_INTENT
    order = (await session.execute(stmt, {"intent_id": intent_id})).scalar_one_or_none()
    if order is None:
        raise NotFound("Conditional payment not found for this payment intent")
    return order


_INTENT_OF_ORDER = select(ConditionalPayment.payment_intent_id).where(
    ConditionalPayment.id == bindparam("order_id")
)
_INTENT_LOCKED = _BY_ID.with_for_update()
_ORDER_LOCKED = (
    select(ConditionalPayment).where(ConditionalPayment.id == bindparam("order_id"))
).with_for_update()


async def lock_by_order_id(
    session: AsyncSession, order_id: str
) -> tuple[PaymentIntent, ConditionalPayment] | None:
    """For the worker: intent then order, locked (the API's lock order)."""
    intent_id = (await session.execute(_INTENT_OF_ORDER, {"order_id": order_id})).scalar()
    if intent_id is None:
        return None
    intent = (await session.execute(_INTENT_LOCKED, {"intent_id": intent_id})).scalar_one()
    order = (await session.execute(_ORDER_LOCKED, {"order_id": order_id})).scalar_one()
    return intent, order


# --- children of an order --------------------------------------------------------

_MILESTONES_OF = select(Milestone).where(Milestone.conditional_payment_id == bindparam("order_id"))
_MILESTONES_FOR_NEW_INDEX = select(Milestone).where(
    Milestone.conditional_payment_id == bindparam("order_id"),
    or_(
        Milestone.milestone_index == bindparam("index"),
        Milestone.status.in_((MilestoneStatus.COMPLETED, MilestoneStatus.RELEASED)),
    ),
)
_MILESTONE_OF = select(Milestone).where(
    Milestone.conditional_payment_id == bindparam("order_id"),
    Milestone.id == bindparam("milestone_id"),
)
_PROOFS_OF = select(DeliveryProof).where(
    DeliveryProof.conditional_payment_id == bindparam("order_id")
)
_DISPUTE_OF = select(Dispute).where(Dispute.conditional_payment_id == bindparam("order_id"))


async def milestones_of(session: AsyncSession, order_id: str) -> list[Milestone]:
    """An order's milestones, in no particular order: the model sorts what it reads."""
    return list((await session.execute(_MILESTONES_OF, {"order_id": order_id})).scalars())


async def milestones_for_new_index(
    session: AsyncSession, order_id: str, index: int
) -> list[Milestone]:
    """Just the rows the creation rules need: one with this index (duplicate?) and
    the completed or released ones (is the index below them?)."""
    params = {"order_id": order_id, "index": index}
    return list((await session.execute(_MILESTONES_FOR_NEW_INDEX, params)).scalars())


def milestone_not_found() -> NotFound:
    return NotFound("Milestone not found", param="milestoneId")


async def milestone_of(session: AsyncSession, order_id: str, milestone_id: str) -> Milestone:
    check_id(milestone_id, "milestone", "milestoneId", milestone_not_found())
    params = {"order_id": order_id, "milestone_id": milestone_id}
    milestone = (await session.execute(_MILESTONE_OF, params)).scalar_one_or_none()
    if milestone is None:
        raise milestone_not_found()
    return milestone


async def proofs_of(session: AsyncSession, order_id: str) -> list[DeliveryProof]:
    return list((await session.execute(_PROOFS_OF, {"order_id": order_id})).scalars())


async def dispute_of(session: AsyncSession, order_id: str) -> Dispute | None:
    """The order's one dispute (open or resolved), if any was raised."""
    found = (await session.execute(_DISPUTE_OF, {"order_id": order_id})).scalar_one_or_none()
    return found


_REFUNDS_OF = select(Refund).where(Refund.conditional_payment_id == bindparam("order_id"))


async def refunds_of(session: AsyncSession, order_id: str) -> list[Refund]:
    """An order's refunds, oldest first (ids are time-ordered)."""
    rows = (await session.execute(_REFUNDS_OF, {"order_id": order_id})).scalars()
    return sorted(rows, key=lambda r: r.id)


# --- funding and settlement ------------------------------------------------------

_FUNDED = (
    select(LedgerEntry.id)
    .where(LedgerEntry.payment_intent_id == bindparam("intent_id"), LedgerEntry.kind == FUND)
    .limit(1)
)
_SETTLEMENT_LOCKED = (
    select(Settlement).where(Settlement.id == bindparam("settlement_id")).with_for_update()
)
_PENDING_SETTLEMENT = select(Settlement.id).where(
    Settlement.payment_intent_id == bindparam("intent_id"),
    Settlement.status == PayoutStatus.PENDING,
)


_HASH_OWNER = select(PaymentIntent.id).where(PaymentIntent.transaction_hash == bindparam("tx_hash"))


async def intent_with_hash(session: AsyncSession, tx_hash: str) -> str | None:
    """The id of the intent (of any merchant) a chain transaction is bound to."""
    found = (await session.execute(_HASH_OWNER, {"tx_hash": tx_hash})).scalar()
    return None if found is None else str(found)


async def ever_funded(session: AsyncSession, intent_id: str) -> bool:
    """Money arrives once per intent, whatever path the state machine took since."""
    return (await session.execute(_FUNDED, {"intent_id": intent_id})).first() is not None


async def has_pending_settlement(session: AsyncSession, intent_id: str) -> bool:
    row = (await session.execute(_PENDING_SETTLEMENT, {"intent_id": intent_id})).first()
    return row is not None


async def lock_settlement(
    session: AsyncSession, settlement_id: str
) -> tuple[Settlement, PaymentIntent, ConditionalPayment | None] | None:
    """For the worker: the settlement, then (the API's order) its intent and order."""
    params = {"settlement_id": settlement_id}
    settlement = (await session.execute(_SETTLEMENT_LOCKED, params)).scalar_one_or_none()
    if settlement is None:
        return None
    intent_params = {"intent_id": settlement.payment_intent_id}
    intent = (await session.execute(_INTENT_LOCKED, intent_params)).scalar_one()
    order = None
    if settlement.conditional_payment_id:
        order_params = {"order_id": settlement.conditional_payment_id}
        order = (await session.execute(_ORDER_LOCKED, order_params)).scalar_one()
    return settlement, intent, order


async def intent_for_job(session: AsyncSession, intent_id: str) -> PaymentIntent | None:
    found = (await session.execute(_INTENT_LOCKED, {"intent_id": intent_id})).scalar_one_or_none()
    return found
