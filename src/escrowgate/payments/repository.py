"""Every query of the payment aggregate, scoped to the caller's merchant and mode.
Children are always looked up under their parent.

Lock order, everywhere (API and worker): the intent row, then its order row.
Hot-path statements are built once with bound parameters: building a statement and
its cache key per request costs about as much CPU as executing it."""

from __future__ import annotations

from typing import Any, NoReturn, cast

from sqlalchemy import Table, bindparam, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..db import optimistic
from ..db.direct import (
    Direct,
    Reader,
    as_session,
    entity_map,
    entity_select,
    fetch_one,
    load_all,
    load_joined,
    load_one,
    read_one,
)
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
#
# On PostgreSQL, locking an intent adds one to its version in the same statement (the
# UPDATE's row lock, FOR NO KEY UPDATE, excludes every other locker of the intent as
# FOR UPDATE did, though not the foreign-key checks of rows inserted under it; after a
# wait it returns the latest version): whatever a locked transaction then changes in the
# aggregate, it moved the version, which is what an optimistic write is guarded by
# (db/optimistic.py). SQLite serialises writers and has no optimistic writes: it keeps
# the plain read.

_INTENTS = cast(Table, PaymentIntent.__table__)


def _locking(where: Any) -> Any:
    """UPDATE ... SET version = version + 1 WHERE `where` RETURNING the intent's columns."""
    version = _INTENTS.c[optimistic.VERSION_COLUMN]
    return (
        update(_INTENTS)
        .where(where)
        .values({version.key: version + literal_column("1")})
        .returning(*entity_map(PaymentIntent).columns)
    )


def intent_not_found(intent_id: str) -> NotFound:
    return NotFound(f"Payment intent not found: {shown_id(intent_id)}", param="intentId")


def check_intent_id(intent_id: str) -> None:
    check_id(intent_id, "payment intent", "intentId", intent_not_found(intent_id))


def _owned_where(*, operator: bool) -> Any:
    where = (_INTENTS.c.id == bindparam("intent_id")) & (_INTENTS.c.mode == bindparam("mode"))
    if not operator:
        where &= _INTENTS.c.merchant_id == bindparam("merchant_id")
    return where


def _owned_stmt(*, operator: bool, lock: bool) -> Direct:
    stmt = entity_select(PaymentIntent).where(_owned_where(operator=operator))
    if not lock:
        return Direct(stmt)
    return Direct(stmt.with_for_update(), postgresql=_locking(_owned_where(operator=operator)))


_OWNED = {
    (operator, lock): _owned_stmt(operator=operator, lock=lock)
    for operator in (False, True)
    for lock in (False, True)
}
_EXISTS_IN_MODE = Direct(
    select(PaymentIntent.id).where(
        PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode")
    )
)
_BY_ID = entity_select(PaymentIntent).where(PaymentIntent.id == bindparam("intent_id"))
_PUBLIC = {
    False: Direct(_BY_ID),
    True: Direct(
        _BY_ID.with_for_update(), postgresql=_locking(_INTENTS.c.id == bindparam("intent_id"))
    ),
}


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
    found = await load_one(session, stmt, _scope_params(caller, intent_id), PaymentIntent)
    if found is not None:
        return cast(PaymentIntent, found[0])
    await _not_owned(session, caller, intent_id)


async def _not_owned(session: AsyncSession, caller: Principal, intent_id: str) -> NoReturn:
    """The precise error for an intent the caller cannot have: 403 or 404."""
    if not caller.is_operator:
        params = {"intent_id": intent_id, "mode": caller.mode}
        if await fetch_one(session, _EXISTS_IN_MODE, params) is not None:
            raise Forbidden.not_yours("payment intent")
    raise intent_not_found(intent_id)


async def read_owned_intent(
    source: AsyncSession | Reader, caller: Principal, intent_id: str
) -> PaymentIntent:
    """`owned_intent` for an answer (no lock, nothing pending): the row is read without
    a transaction, as an answer record that is never flushed (db/direct.py: read_one).
    The same 404 and 403 as `owned_intent`."""
    check_intent_id(intent_id)
    stmt = _OWNED[(caller.is_operator, False)]
    intent = await read_one(source, stmt, _scope_params(caller, intent_id), PaymentIntent)
    if intent is not None:
        return intent
    return await owned_intent(as_session(source), caller, intent_id)  # its 403 or 404


async def public_intent(
    session: AsyncSession, intent_id: str, *, lock: bool = False
) -> PaymentIntent:
    """An intent by id alone (the public routes: the id is the capability)."""
    check_intent_id(intent_id)
    found = await load_one(session, _PUBLIC[lock], {"intent_id": intent_id}, PaymentIntent)
    if found is None:
        raise intent_not_found(intent_id)
    return cast(PaymentIntent, found[0])


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


def _with_order_stmt(*, operator: bool, lock: bool) -> Direct:
    stmt: Any = (
        entity_select(PaymentIntent, ConditionalPayment)
        .join_from(
            PaymentIntent,
            ConditionalPayment,
            ConditionalPayment.payment_intent_id == PaymentIntent.id,
        )
        .where(PaymentIntent.id == bindparam("intent_id"), PaymentIntent.mode == bindparam("mode"))
    )
    if not operator:
        stmt = stmt.where(PaymentIntent.merchant_id == bindparam("merchant_id"))
    if not lock:
        return Direct(stmt)
    # FOR UPDATE without OF: both rows are locked, so after a lock wait the database
    # re-reads both (an unlocked joined row would be the stale pre-wait version), in
    # FROM order: the intent, then the order, as every other path.
    # On PostgreSQL the intent's lock is its version's UPDATE (above), whose RETURNING
    # is its latest version; the order is locked FOR UPDATE OF it, re-read after a wait.
    # The order row is locked above the join, so after the intent's UPDATE has run.
    intent = _locking(_owned_where(operator=operator)).cte("locked_intent")
    orders = cast(Table, ConditionalPayment.__table__)
    postgresql = (
        select(
            *(intent.c[c.key] for c in entity_map(PaymentIntent).columns),
            *entity_map(ConditionalPayment).columns,
        )
        .join_from(intent, orders, orders.c.payment_intent_id == intent.c.id)
        .with_for_update(of=orders)
    )
    return Direct(stmt.with_for_update(), postgresql=postgresql)


_WITH_ORDER = {
    (operator, lock): _with_order_stmt(operator=operator, lock=lock)
    for operator in (False, True)
    for lock in (False, True)
}
_ORDER_OF_INTENT = entity_select(ConditionalPayment).where(
    ConditionalPayment.payment_intent_id == bindparam("intent_id")
)
_ORDER_OF = {False: Direct(_ORDER_OF_INTENT), True: Direct(_ORDER_OF_INTENT.with_for_update())}


async def owned_order(
    session: AsyncSession, caller: Principal, intent_id: str, *, lock: bool = False
) -> tuple[PaymentIntent, ConditionalPayment]:
    """The caller's intent and its conditional payment in one statement (both rows
    locked with lock=True). The slow path only answers 403/404/wrong type precisely."""
    if well_formed_id(intent_id):
        stmt = _WITH_ORDER[(caller.is_operator, lock)]
        params = _scope_params(caller, intent_id)
        found = await load_one(session, stmt, params, PaymentIntent, ConditionalPayment)
        if found is not None:
            return cast(PaymentIntent, found[0]), cast(ConditionalPayment, found[1])
    intent = await owned_intent(session, caller, intent_id, lock=lock)
    if intent.type != IntentType.DVP:
        raise InvalidRequest("Payment intent is not of type DELIVERY_VS_PAYMENT")
    return intent, await order_of_intent(session, intent.id, lock=lock)


async def order_of_intent(
    session: AsyncSession, intent_id: str, *, lock: bool = False
) -> ConditionalPayment:
    found = await load_one(session, _ORDER_OF[lock], {"intent_id": intent_id}, ConditionalPayment)
    if found is None:
        raise NotFound("Conditional payment not found for this payment intent")
    return cast(ConditionalPayment, found[0])


_INTENT_OF_ORDER = Direct(
    select(ConditionalPayment.payment_intent_id).where(
        ConditionalPayment.id == bindparam("order_id")
    )
)
_INTENT_LOCKED = _PUBLIC[True]
_ORDER_LOCKED = Direct(
    entity_select(ConditionalPayment)
    .where(ConditionalPayment.id == bindparam("order_id"))
    .with_for_update()
)


async def lock_by_order_id(
    session: AsyncSession, order_id: str
) -> tuple[PaymentIntent, ConditionalPayment] | None:
    """For the worker: intent then order, locked (the API's lock order)."""
    row = await fetch_one(session, _INTENT_OF_ORDER, {"order_id": order_id})
    if row is None:
        return None
    intent = await _one(
        session, _INTENT_LOCKED, {"intent_id": row["payment_intent_id"]}, PaymentIntent
    )
    order = await _one(session, _ORDER_LOCKED, {"order_id": order_id}, ConditionalPayment)
    return intent, order


async def _one(session: AsyncSession, query: Direct, params: dict[str, Any], cls: type[Any]) -> Any:
    """The one entity `query` finds (a row that must exist: its parent is held)."""
    found = await load_one(session, query, params, cls)
    if found is None:
        raise LookupError(f"{cls.__name__} vanished under a held lock: {params}")
    return found[0]


# --- children of an order --------------------------------------------------------

_MILESTONES_OF = Direct(
    entity_select(Milestone).where(Milestone.conditional_payment_id == bindparam("order_id"))
)
# The rows the creation rules need: one with the new index (a duplicate?) and the
# completed or released ones (is the index below them?).
_FOR_NEW_INDEX = or_(
    Milestone.milestone_index == bindparam("index"),
    Milestone.status == MilestoneStatus.COMPLETED,
    Milestone.status == MilestoneStatus.RELEASED,
)
_MILESTONES_FOR_NEW_INDEX = Direct(
    entity_select(Milestone).where(
        Milestone.conditional_payment_id == bindparam("order_id"), _FOR_NEW_INDEX
    )
)
_MILESTONE_OF = Direct(
    entity_select(Milestone).where(
        Milestone.conditional_payment_id == bindparam("order_id"),
        Milestone.id == bindparam("milestone_id"),
    )
)
_PROOFS_OF = Direct(
    entity_select(DeliveryProof).where(
        DeliveryProof.conditional_payment_id == bindparam("order_id")
    )
)
_DISPUTE_OF = Direct(
    entity_select(Dispute).where(Dispute.conditional_payment_id == bindparam("order_id"))
)


async def milestones_of(session: AsyncSession, order_id: str) -> list[Milestone]:
    """An order's milestones, in no particular order: the model sorts what it reads."""
    return await load_all(session, _MILESTONES_OF, {"order_id": order_id}, Milestone)


async def milestones_for_new_index(
    session: AsyncSession, order_id: str, index: int
) -> list[Milestone]:
    """Just the rows the creation rules need: one with this index (duplicate?) and
    the completed or released ones (is the index below them?)."""
    params = {"order_id": order_id, "index": index}
    return await load_all(session, _MILESTONES_FOR_NEW_INDEX, params, Milestone)


def _with_milestones_stmt(*, operator: bool, for_index: bool) -> Direct:
    on = Milestone.conditional_payment_id == ConditionalPayment.id
    stmt: Any = (
        entity_select(PaymentIntent, ConditionalPayment, Milestone)
        .join_from(
            PaymentIntent,
            ConditionalPayment,
            ConditionalPayment.payment_intent_id == PaymentIntent.id,
        )
        .outerjoin(Milestone, on & _FOR_NEW_INDEX if for_index else on)
        .where(_owned_where(operator=operator))
    )
    return Direct(stmt)


_WITH_MILESTONES = {
    (operator, for_index): _with_milestones_stmt(operator=operator, for_index=for_index)
    for operator in (False, True)
    for for_index in (False, True)
}


async def order_and_milestones(
    session: AsyncSession, caller: Principal, intent_id: str, *, for_index: int | None = None
) -> tuple[PaymentIntent, ConditionalPayment, list[Milestone]]:
    """The caller's intent and order, locked, and the order's milestones: all of them,
    or with `for_index` just the rows the creation rules need (`milestones_for_new_index`).
    Under locks the milestones are a second statement (read in one with the lock, they
    would be the snapshot from before a lock wait); in an optimistic session
    (db/optimistic.py) all three are one unlocked statement, the write guarded."""
    if optimistic.unlocked(session):
        if well_formed_id(intent_id):
            stmt = _WITH_MILESTONES[(caller.is_operator, for_index is not None)]
            params: dict[str, Any] = _scope_params(caller, intent_id)
            if for_index is not None:
                params["index"] = for_index
            rows = await load_joined(
                session, stmt, params, PaymentIntent, ConditionalPayment, Milestone
            )
            if rows:
                intent: PaymentIntent = rows[0][0]
                optimistic.guard(session, _INTENTS, "id", intent.id, intent.version)
                return intent, rows[0][1], [row[2] for row in rows if row[2] is not None]
        # No row: the unlocked reads of `owned_order` give the precise 404, 403 or
        # wrong-type answer; should they find the aggregate after all, run under locks.
        await owned_order(session, caller, intent_id)
        raise optimistic.Stale("the aggregate was not found by the optimistic read")
    intent, order = await owned_order(session, caller, intent_id, lock=True)
    if for_index is None:
        return intent, order, await milestones_of(session, order.id)
    return intent, order, await milestones_for_new_index(session, order.id, for_index)


def milestone_not_found() -> NotFound:
    return NotFound("Milestone not found", param="milestoneId")


async def milestone_of(session: AsyncSession, order_id: str, milestone_id: str) -> Milestone:
    check_id(milestone_id, "milestone", "milestoneId", milestone_not_found())
    params = {"order_id": order_id, "milestone_id": milestone_id}
    found = await load_one(session, _MILESTONE_OF, params, Milestone)
    if found is None:
        raise milestone_not_found()
    return cast(Milestone, found[0])


async def proofs_of(session: AsyncSession, order_id: str) -> list[DeliveryProof]:
    return await load_all(session, _PROOFS_OF, {"order_id": order_id}, DeliveryProof)


async def dispute_of(session: AsyncSession, order_id: str) -> Dispute | None:
    """The order's one dispute (open or resolved), if any was raised."""
    found = await load_one(session, _DISPUTE_OF, {"order_id": order_id}, Dispute)
    return None if found is None else cast(Dispute, found[0])


_REFUNDS_OF = Direct(
    entity_select(Refund).where(Refund.conditional_payment_id == bindparam("order_id"))
)


async def refunds_of(session: AsyncSession, order_id: str) -> list[Refund]:
    """An order's refunds, oldest first (ids are time-ordered)."""
    rows = await load_all(session, _REFUNDS_OF, {"order_id": order_id}, Refund)
    return sorted(rows, key=lambda r: r.id)


# --- funding and settlement ------------------------------------------------------

_FUNDED = Direct(
    select(LedgerEntry.id)
    .where(LedgerEntry.payment_intent_id == bindparam("intent_id"), LedgerEntry.kind == FUND)
    .limit(1)
)
_SETTLEMENT_LOCKED = Direct(
    entity_select(Settlement).where(Settlement.id == bindparam("settlement_id")).with_for_update()
)
_PENDING_SETTLEMENT = Direct(
    select(Settlement.id)
    .where(
        Settlement.payment_intent_id == bindparam("intent_id"),
        Settlement.status == PayoutStatus.PENDING,
    )
    .limit(1)
)
_HASH_OWNER = Direct(
    select(PaymentIntent.id).where(PaymentIntent.transaction_hash == bindparam("tx_hash")).limit(1)
)


async def intent_with_hash(session: AsyncSession, tx_hash: str) -> str | None:
    """The id of the intent (of any merchant) a chain transaction is bound to."""
    found = await fetch_one(session, _HASH_OWNER, {"tx_hash": tx_hash})
    return None if found is None else str(found["id"])


async def ever_funded(session: AsyncSession, intent_id: str) -> bool:
    """Money arrives once per intent, whatever path the state machine took since."""
    return await fetch_one(session, _FUNDED, {"intent_id": intent_id}) is not None


async def has_pending_settlement(session: AsyncSession, intent_id: str) -> bool:
    return await fetch_one(session, _PENDING_SETTLEMENT, {"intent_id": intent_id}) is not None


async def lock_settlement(
    session: AsyncSession, settlement_id: str
) -> tuple[Settlement, PaymentIntent, ConditionalPayment | None] | None:
    """For the worker: the settlement, then (the API's order) its intent and order."""
    params = {"settlement_id": settlement_id}
    found = await load_one(session, _SETTLEMENT_LOCKED, params, Settlement)
    if found is None:
        return None
    settlement = cast(Settlement, found[0])
    intent_params = {"intent_id": settlement.payment_intent_id}
    intent = await _one(session, _INTENT_LOCKED, intent_params, PaymentIntent)
    order = None
    if settlement.conditional_payment_id:
        order_params = {"order_id": settlement.conditional_payment_id}
        order = await _one(session, _ORDER_LOCKED, order_params, ConditionalPayment)
    return settlement, intent, order


async def intent_for_job(session: AsyncSession, intent_id: str) -> PaymentIntent | None:
    found = await load_one(session, _INTENT_LOCKED, {"intent_id": intent_id}, PaymentIntent)
    return None if found is None else cast(PaymentIntent, found[0])
