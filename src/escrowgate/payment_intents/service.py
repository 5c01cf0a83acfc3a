"""Payment intent use cases. Each runs inside the caller's one transaction."""

from __future__ import annotations

from typing import Any

from ..api.context import Ctx
from ..domain import ids, intents
from ..domain.clock import now
from ..domain.money import parse_amount
from ..domain.release_config import parse_release_config
from ..errors import InvalidRequest
from ..events.service import emit, emit_order_event
from ..models import ConditionalPayment, PaymentIntent
from . import repository
from .lifecycle import move_intent
from .render import intent_data
from .schemas import CreatePaymentIntent

_DVP_ONLY_FIELDS = ("deliveryPeriod", "expectedDeliveryHash", "autoRelease", "deliveryOracle")


def phase(name: str, status: str, at: int) -> dict[str, Any]:
    return {"phase": name, "status": status, "timestamp": at}


async def create_intent(ctx: Ctx, body: CreatePaymentIntent) -> PaymentIntent:
    amount = parse_amount(body.amount)
    metadata = dict(body.metadata or {})
    top = {name: getattr(body, name) for name in _DVP_ONLY_FIELDS}
    config = None
    if body.type == intents.DVP:
        config = parse_release_config(top, metadata)
    else:
        for name, value in top.items():
            if value is not None:
                raise InvalidRequest(
                    f"{name} is only valid for DELIVERY_VS_PAYMENT intents", param=name
                )
    at = now()
    intent = PaymentIntent(
        id=ids.new_id(ids.INTENT),
        merchant_id=ctx.merchant_id,
        mode=ctx.mode,
        status=intents.INITIATED,
        type=body.type,
        amount=amount,
        currency=body.currency,
        description=body.description,
        settlement_method=body.settlementMethod,
        settlement_destination=body.settlementDestination,
        settlement_status="PENDING",
        metadata_json=body.metadata,
        phases=[phase("SIGNATURE_VERIFICATION", "IN_PROGRESS", at)],
        created_at=at,
        updated_at=at,
    )
    ctx.session.add(intent)
    created = intent_data(intent, ctx.settings)

    def emit_created() -> None:
        emit(ctx.session, merchant_id=ctx.merchant_id, mode=ctx.mode,
             type="payment_intent.created", obj=created)

    if config is None:
        emit_created()
    else:
        order = ConditionalPayment(
            id=ids.new_id(ids.CONDITIONAL_PAYMENT),
            payment_intent_id=intent.id,
            merchant_id=ctx.merchant_id,
            mode=ctx.mode,
            currency=body.currency,
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
            order_status="PENDING",
            settlement_status="NONE",
            clock_offset=0,
            created_at=at,
            updated_at=at,
        )
        await ctx.session.flush()  # the intent row first: the order references it
        ctx.session.add(order)
        emit_created()  # after the flush: both events are one executemany at commit
        emit_order_event(
            ctx.session,
            order,
            "escrow_order.created",
            releaseType=order.release_type,
            orderStatus=order.order_status,
        )
    return intent


def set_status(ctx: Ctx, intent: PaymentIntent, target: str) -> None:
    move_intent(ctx.session, ctx.settings, intent, target)


async def cancel_intent(ctx: Ctx, intent_id: str) -> PaymentIntent:
    assert ctx.principal is not None
    intent = await repository.get_owned(ctx.session, ctx.principal, intent_id, lock=True)
    if intent.status in (intents.SUCCEEDED, intents.SETTLED):
        raise InvalidRequest("Cannot cancel a funded payment intent; refund it instead")
    if intent.status not in (intents.INITIATED, intents.REQUIRES_ACTION):
        intents.check_transition(intent.status, intents.CANCELED)
    if intent.type == intents.DVP:
        from ..escrow.repository import order_for_intent

        order = await order_for_intent(ctx.session, intent.id, lock=True)
        if order.funded_amount > 0:
            raise InvalidRequest("Cannot cancel a funded payment intent; refund it instead")
        order.order_status = "CANCELLED"
        order.updated_at = now()
        emit_order_event(
            ctx.session, order, "escrow_order.cancelled", orderStatus=order.order_status
        )
    set_status(ctx, intent, intents.CANCELED)
    return intent
