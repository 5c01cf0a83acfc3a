"""Payment intent use cases: create (with its conditional payment for a DvP intent),
read, list, cancel."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..db import rows
from ..db.direct import Reader
from ..domain import currencies, ids
from ..domain.clock import now
from ..domain.errors import InvalidRequest
from ..events.service import emit
from ..models import ConditionalPayment, Milestone, PaymentIntent
from . import model, repository
from .lifecycle import emit_order_event, move_intent, move_order
from .render import intent_object
from .terms import RELEASE_TERMS, parse_release_config

# Settings of the release terms that only a DELIVERY_VS_PAYMENT intent has.
DVP_ONLY_FIELDS = ("deliveryPeriod", "expectedDeliveryHash", "autoRelease", "deliveryOracle")

# Test mode: what an intent created without settlement fields settles by (the
# hackathon collection marks both optional). Live mode requires them.
DEFAULT_SETTLEMENT_METHOD = "OFF_RAMP_MOCK"


def default_settlement_destination(merchant_id: str) -> str:
    """The merchant-level mock destination of test mode."""
    return f"mock_account_{merchant_id}"


def settlement_terms(
    mode: str, merchant_id: str, method: str | None, destination: str | None
) -> tuple[str, str]:
    if mode == "live":
        for value, name in ((method, "settlementMethod"), (destination, "settlementDestination")):
            if value is None:
                raise InvalidRequest(f"{name} is required in live mode", param=name)
    return (
        method or DEFAULT_SETTLEMENT_METHOD,
        destination or default_settlement_destination(merchant_id),
    )


def echo_dvp_fields(
    metadata: dict[str, Any] | None, dvp_fields: dict[str, Any]
) -> dict[str, Any] | None:
    """As the reference backend: the top-level DvP fields sent on create are copied
    into the stored metadata (as sent; a top-level value wins)."""
    sent = {k: v for k, v in dvp_fields.items() if v is not None}
    if not sent:
        return metadata
    return {**(metadata or {}), **sent}


async def create_intent(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    *,
    amount: int,
    currency: str,
    type_: str,
    settlement_method: str | None,
    settlement_destination: str | None,
    description: str | None,
    metadata: dict[str, Any] | None,
    dvp_fields: dict[str, Any],
) -> PaymentIntent:
    """`dvp_fields`: the top-level DvP settings as sent (None when absent); those
    sent are echoed in the stored metadata (a period in seconds)."""
    assert caller.merchant_id is not None
    precision = currencies.precision_error(amount, currency)
    if precision is not None:
        raise InvalidRequest(precision, param="amount")
    settlement_method, settlement_destination = settlement_terms(
        caller.mode, caller.merchant_id, settlement_method, settlement_destination
    )
    config = None
    if type_ == model.IntentType.DVP:
        config = parse_release_config(dvp_fields, dict(metadata or {}))
    else:
        for name in DVP_ONLY_FIELDS:
            if dvp_fields.get(name) is not None:
                raise InvalidRequest(
                    f"{name} is only valid for DELIVERY_VS_PAYMENT intents", param=name
                )
        for name in RELEASE_TERMS:  # the same settings inside metadata
            if (metadata or {}).get(name) is not None:
                param = f"metadata.{name}"
                raise InvalidRequest(
                    f"{param} is only valid for DELIVERY_VS_PAYMENT intents", param=param
                )
    at = now()
    intent = PaymentIntent(
        id=ids.new_id(ids.INTENT),
        merchant_id=caller.merchant_id,
        mode=caller.mode,
        status=model.IntentStatus.INITIATED,
        type=type_,
        amount=amount,
        currency=currency,
        description=description,
        settlement_method=settlement_method,
        settlement_destination=settlement_destination,
        settlement_status=model.SettlementStatus.PENDING,
        metadata_json=echo_dvp_fields(metadata, dvp_fields) if config is not None else metadata,
        phases=[
            {
                "phase": model.Phase.SIGNATURE_VERIFICATION,
                "status": model.PhaseStatus.IN_PROGRESS,
                "timestamp": at,
            }
        ],
        created_at=at,
        updated_at=at,
    )
    # New rows that this transaction never changes again: Core INSERTs, no unit of work.
    rows.insert_entity(session, intent)
    created = intent_object(intent, settings)

    def emit_created() -> None:
        emit(
            session,
            merchant_id=intent.merchant_id,
            mode=intent.mode,
            type="payment_intent.created",
            obj=created,
        )

    if config is None:
        emit_created()
        return intent
    order = ConditionalPayment(
        id=ids.new_id(ids.CONDITIONAL_PAYMENT),
        payment_intent_id=intent.id,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        currency=currency,
        amount=amount,
        funded_amount=0,
        released_amount=0,
        refunded_amount=0,
        settled_amount=0,
        milestone_total=0,
        milestone_count=0,
        release_type=config.release_type,
        auto_release=config.auto_release,
        time_lock_until=config.time_lock_until,
        dispute_window=config.dispute_window,
        delivery_period=config.delivery_period,
        expected_delivery_hash=config.expected_delivery_hash,
        delivery_oracle=config.delivery_oracle,
        order_status=model.OrderStatus.PENDING,
        settlement_status=model.OrderSettlementStatus.NONE,
        clock_offset=0,
        created_at=at,
        updated_at=at,
    )
    rows.insert_entity(session, order)
    emit_created()  # both events are one INSERT at commit (db/rows.py)
    emit_order_event(
        session,
        order,
        "escrow_order.created",
        releaseType=order.release_type,
        orderStatus=order.order_status,
    )
    return intent


async def get_intent(
    source: AsyncSession | Reader, caller: Principal, intent_id: str
) -> PaymentIntent:
    """The intent to answer a GET with (read straight from the driver, unlocked; from a
    `Reader`, without a session unless the answer is a 403 or 404)."""
    return await repository.read_owned_intent(source, caller, intent_id)


async def list_intents(
    session: AsyncSession,
    caller: Principal,
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    status: str | None,
    type_: str | None,
) -> tuple[list[PaymentIntent], bool]:
    return await repository.list_intents(
        session,
        merchant_id=caller.merchant_id or "",
        mode=caller.mode,
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        status=status,
        type_=type_,
    )


PublicView = tuple[PaymentIntent, str | None, ConditionalPayment | None, list[Milestone]]


async def public_view(session: AsyncSession, intent_id: str) -> PublicView:
    """What the payer may see of an intent: the intent, the merchant's name, and for
    a DvP intent its release terms and milestone plan."""
    return await public_view_of(session, await repository.public_intent(session, intent_id))


async def public_view_of(session: AsyncSession, intent: PaymentIntent) -> PublicView:
    """The public view of an intent already loaded (the keyless POSTs answer it too:
    never more than the public GET shows)."""
    name = await repository.merchant_name(session, intent.merchant_id)
    if intent.type != model.IntentType.DVP:
        return intent, name, None, []
    order = await repository.order_of_intent(session, intent.id)
    return intent, name, order, await repository.milestones_of(session, order.id)


async def cancel_intent(
    session: AsyncSession, settings: Settings, caller: Principal, intent_id: str
) -> PaymentIntent:
    """Only before any money arrived; the order of a DvP intent is cancelled with it."""
    intent = await repository.owned_intent(session, caller, intent_id, lock=True)
    order = None
    if intent.type == model.IntentType.DVP:
        order = await repository.order_of_intent(session, intent.id, lock=True)
    model.check_can_cancel(intent.status, order)
    if order is not None:
        move_order(order, model.OrderStatus.CANCELLED, now())
        emit_order_event(session, order, "escrow_order.cancelled", orderStatus=order.order_status)
    move_intent(session, settings, intent, model.IntentStatus.CANCELED)
    return intent
