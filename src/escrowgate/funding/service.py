"""Funding use cases: card payment (public), wallet confirm + transaction hash,
and the funding itself (ledger posting, order funded, release schedules)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..api.context import Ctx
from ..config import Settings
from ..domain import intents, signatures
from ..domain.clock import now
from ..domain.money import format_amount
from ..errors import ApiError, InvalidRequest, InvalidStateTransition
from ..escrow import repository as escrow_repo
from ..ledger import service as ledger
from ..models import ConditionalPayment, Job, PaymentIntent
from ..payment_intents import repository as intent_repo
from ..payment_intents.lifecycle import move_intent, set_phase
from ..payment_intents.render import intent_data
from ..worker.jobs import handler, schedule
from . import rails
from .schemas import CardPayment, ConfirmIntent, TransactionHash

CHAIN_CONFIRM_JOB = "chain_confirm"
PAYABLE = (intents.INITIATED, intents.REQUIRES_ACTION)


def _live_refused() -> ApiError:
    return ApiError(
        "Sandbox funding rails are not available in live mode", code="live_mode_unsupported"
    )


def _check_payable(intent: PaymentIntent) -> None:
    if intent.status not in PAYABLE:
        raise InvalidStateTransition(intent.status, intents.PROCESSING)


def _card_expired(expiry: str, at: int) -> bool:
    month, year = int(expiry[:2]), 2000 + int(expiry[3:])
    today = datetime.fromtimestamp(at, tz=UTC)
    return (year, month) < (today.year, today.month)


async def pay_by_card(
    ctx: Ctx, intent_id: str, body: CardPayment
) -> tuple[PaymentIntent, ApiError | None]:
    """Charge a sandbox card and fund the intent. A decline is committed as
    REQUIRES_ACTION (the payer may retry) and answered with its 400."""
    intent = await intent_repo.get_public(ctx.session, intent_id, lock=True)
    rail = rails.card_rail(intent.mode)
    if rail is None:
        raise _live_refused()
    _check_payable(intent)
    if _card_expired(body.card.expiry, now()):
        raise InvalidRequest("Your card has expired.", param="card.expiry")
    charge = await rail.charge(body.card.cardNumber, intent.amount, intent.currency)
    funding = {
        "fiatPaymentStatus": "succeeded" if charge.ok else "failed",
        "paymentProcessorType": charge.processor,
        "paymentProcessorTxId": charge.processor_tx_id,
        "onRampStatus": "completed" if charge.ok else None,
        "onRampTxId": ("or_" + secrets.token_hex(10)) if charge.ok else None,
        "stablecoinAmount": format_amount(intent.amount) if charge.ok else None,
        "stablecoinCurrency": intent.currency if charge.ok else None,
        "cardLast4": body.card.cardNumber[-4:],
    }
    intent.funding = funding
    if not charge.ok:
        if intent.status != intents.REQUIRES_ACTION:
            move_intent(ctx.session, ctx.settings, intent, intents.REQUIRES_ACTION)
        set_phase(intent, "SIGNATURE_VERIFICATION", "FAILED")
        return intent, ApiError(
            charge.message or "Your card was declined.",
            code=charge.code or "payment_failed",
            param="card",
        )
    move_intent(ctx.session, ctx.settings, intent, intents.PROCESSING)
    set_phase(intent, "SIGNATURE_VERIFICATION", "COMPLETED")
    await fund_intent(ctx.session, ctx.settings, intent, payer_address=body.payerAddress)
    return intent, None


async def confirm(ctx: Ctx, intent_id: str, body: ConfirmIntent) -> PaymentIntent:
    """Verify the payer's EIP-712 signature over the intent's typed data."""
    assert ctx.principal is not None
    intent = await intent_repo.get_owned(ctx.session, ctx.principal, intent_id, lock=True)
    if rails.chain_rail(intent.mode) is None:
        # Nothing could ever confirm the payment: refuse before PROCESSING strands it.
        raise _live_refused()
    if intent.status not in PAYABLE:
        raise ApiError(
            f"Cannot confirm payment intent in status: {intent.status}",
            code="invalid_state_transition",
        )
    typed = intent_data(intent, ctx.settings)["typedData"]
    signatures.verify(typed, body.signature, body.payerAddress)
    intent.signature = body.signature
    intent.signer_address = body.payerAddress
    move_intent(ctx.session, ctx.settings, intent, intents.PROCESSING)
    set_phase(intent, "SIGNATURE_VERIFICATION", "COMPLETED")
    set_phase(intent, "BLOCKCHAIN_CONFIRMATION", "IN_PROGRESS")
    if body.transactionHash:
        await _accept_hash(ctx.session, ctx.settings, intent, body.transactionHash)
    return intent


async def submit_transaction_hash(ctx: Ctx, intent_id: str, body: TransactionHash) -> PaymentIntent:
    intent = await intent_repo.get_public(ctx.session, intent_id, lock=True)
    if rails.chain_rail(intent.mode) is None:
        raise _live_refused()
    if intent.transaction_hash == body.transactionHash:
        return intent  # the same hash again: nothing to do
    if intent.transaction_hash is not None:
        raise ApiError(
            "Transaction hash already set for this payment intent",
            code="transaction_hash_exists",
            param="transactionHash",
        )
    if intent.status not in (*PAYABLE, intents.PROCESSING):
        raise ApiError(
            "Cannot update transaction hash: payment intent is already processed",
            code="invalid_state",
        )
    if intent.status != intents.PROCESSING:
        move_intent(ctx.session, ctx.settings, intent, intents.PROCESSING)
    await _accept_hash(ctx.session, ctx.settings, intent, body.transactionHash)
    return intent


async def _accept_hash(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, tx_hash: str
) -> None:
    intent.transaction_hash = tx_hash
    set_phase(intent, "BLOCKCHAIN_CONFIRMATION", "IN_PROGRESS")
    if settings.sandbox_chain_delay_seconds <= 0:
        await _confirm_on_chain(session, settings, intent)
    else:
        schedule(
            session,
            kind=CHAIN_CONFIRM_JOB,
            merchant_id=intent.merchant_id,
            mode=intent.mode,
            target_id=intent.id,
            due_at=now() + settings.sandbox_chain_delay_seconds,
        )


async def _confirm_on_chain(
    session: AsyncSession, settings: Settings, intent: PaymentIntent
) -> None:
    rail = rails.chain_rail(intent.mode)
    if rail is None or intent.status != intents.PROCESSING or not intent.transaction_hash:
        return
    if not await rail.is_confirmed(intent.transaction_hash):
        return
    set_phase(intent, "BLOCKCHAIN_CONFIRMATION", "COMPLETED")
    await fund_intent(session, settings, intent, payer_address=intent.signer_address)


@handler(CHAIN_CONFIRM_JOB)
async def _chain_confirm_job(session: AsyncSession, settings: Settings, job: Job) -> None:
    intent = (
        await session.execute(
            select(PaymentIntent).where(PaymentIntent.id == job.target_id).with_for_update()
        )
    ).scalar_one_or_none()
    if intent is not None:
        await _confirm_on_chain(session, settings, intent)


async def _never_funded_before(session: AsyncSession, intent: PaymentIntent) -> None:
    """Money arrives once per intent, whatever path the state machine took since."""
    from ..models import LedgerEntry

    funded = (
        await session.execute(
            select(LedgerEntry.id)
            .where(LedgerEntry.payment_intent_id == intent.id, LedgerEntry.kind == ledger.FUND)
            .limit(1)
        )
    ).first()
    if funded is not None:
        raise InvalidStateTransition(intent.status, intents.SUCCEEDED)


async def fund_intent(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, *, payer_address: str | None
) -> None:
    """PROCESSING -> SUCCEEDED: money arrives. DvP: held in escrow; CONDITIONAL: paid
    to the merchant and settled. The intent row is locked by the caller."""
    from ..release.schedules import schedule_after_funding
    from ..settlement.service import start_settlement

    await _never_funded_before(session, intent)
    at = now()
    move_intent(session, settings, intent, intents.SUCCEEDED)
    intent.settlement_status = "IN_PROGRESS"
    if intent.type != intents.DVP:
        where = ledger.Posting(intent.merchant_id, intent.mode, intent.currency, intent.id, None)
        ledger.post(session, where, ledger.FUND, intent.amount, escrowed=False)
        set_phase(intent, "SETTLEMENT", "IN_PROGRESS")
        await start_settlement(session, settings, intent, None, intent.amount)
        return
    order: ConditionalPayment = await escrow_repo.order_for_intent(session, intent.id, lock=True)
    order.funded_amount = intent.amount
    order.funded_at = at + order.clock_offset
    order.buyer_address = payer_address
    if order.release_type in ("DELIVERY_PROOF", "AUTO_RELEASE"):
        order.delivery_deadline = order.funded_at + order.delivery_period
    order.updated_at = at
    where = ledger.Posting(intent.merchant_id, intent.mode, intent.currency, intent.id, order.id)
    ledger.post(session, where, ledger.FUND, intent.amount, reference_id=intent.id)
    set_phase(intent, "ESCROW_LOCKED", "COMPLETED")
    if order.release_type in ("DELIVERY_PROOF", "AUTO_RELEASE"):
        set_phase(intent, "AWAITING_DELIVERY_PROOF", "IN_PROGRESS")
    await schedule_after_funding(session, settings, intent, order)
