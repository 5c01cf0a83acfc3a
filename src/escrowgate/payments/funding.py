"""Funding use cases: card payment (public), wallet confirm + transaction hash,
and the funding itself (ledger posting, order funded, release timers)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..domain import currencies, signatures
from ..domain.clock import now
from ..domain.errors import CardDeclined, InvalidRequest, InvalidStateTransition
from ..domain.money import format_amount
from ..domain.typed_data import intent_typed_data
from ..events.service import emit
from ..ledger import service as ledger
from ..models import PaymentIntent
from ..worker.jobs import schedule
from . import model, rails, repository
from .lifecycle import move_intent, set_phase
from .release import schedule_after_funding
from .render import intent_object
from .settlement import start_settlement


def _live_refused() -> InvalidRequest:
    return InvalidRequest(
        "Sandbox funding rails are not available in live mode", code="live_mode_unsupported"
    )


def _card_expired(expiry: str, at: int) -> bool:
    month, year = int(expiry[:2]), 2000 + int(expiry[3:])
    today = datetime.fromtimestamp(at, tz=UTC)
    return (year, month) < (today.year, today.month)


async def pay_by_card(
    session: AsyncSession,
    settings: Settings,
    intent_id: str,
    *,
    card_number: str,
    expiry: str,
    payer_address: str | None,
) -> tuple[PaymentIntent, CardDeclined | None]:
    """Charge a sandbox card and fund the intent. A decline is kept (the intent stays
    payable, the decline in its `lastPaymentError`, so the payer may try another
    card) and returned, not raised: the caller commits it and answers its 400.
    A fiat intent is converted to USDC by the sandbox on-ramp at its fixed rate."""
    intent = await repository.public_intent(session, intent_id, lock=True)
    rail = rails.card_rail(intent.mode)
    if rail is None:
        raise _live_refused()
    if intent.status not in model.PAYABLE:
        raise InvalidStateTransition(intent.status, model.IntentStatus.PROCESSING)
    if _card_expired(expiry, now()):
        raise InvalidRequest("Your card has expired.", param="card.expiry")
    charge = await rail.charge(card_number, intent.amount, intent.currency)
    if currencies.is_fiat(intent.currency):
        coin, coin_amount = (
            currencies.ON_RAMP_CURRENCY,
            currencies.on_ramp(intent.amount, intent.currency),
        )
    else:
        coin, coin_amount = intent.currency, intent.amount
    intent.funding = {
        "fiatPaymentStatus": "succeeded" if charge.ok else "failed",
        "paymentProcessorType": charge.processor,
        "paymentProcessorTxId": charge.processor_tx_id,
        "onRampStatus": "completed" if charge.ok else None,
        "onRampTxId": ("or_" + secrets.token_hex(10)) if charge.ok else None,
        "stablecoinAmount": format_amount(coin_amount) if charge.ok else None,
        "stablecoinCurrency": coin if charge.ok else None,
        "cardLast4": card_number[-4:],
    }
    if not charge.ok:
        declined = CardDeclined(
            charge.message or "Your card was declined.",
            code=charge.code or "payment_failed",
            param="card",
        )
        # The intent stays where it was (payable); the decline is on the intent.
        intent.last_payment_error = {
            "code": declined.code,
            "message": declined.message,
            "cardLast4": card_number[-4:],
        }
        intent.updated_at = now()
        return intent, declined
    intent.last_payment_error = None
    move_intent(session, settings, intent, model.IntentStatus.PROCESSING)
    set_phase(intent, model.Phase.SIGNATURE_VERIFICATION, model.PhaseStatus.COMPLETED)
    await fund_intent(session, settings, intent, payer_address=payer_address)
    return intent, None


async def confirm(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    *,
    signature: str,
    payer_address: str,
    transaction_hash: str | None,
) -> PaymentIntent:
    """Verify the payer's EIP-712 signature over the intent's typed data."""
    intent = await repository.owned_intent(session, caller, intent_id, lock=True)
    await confirm_locked(
        session,
        settings,
        intent,
        signature=signature,
        payer_address=payer_address,
        transaction_hash=transaction_hash,
    )
    return intent


async def confirm_locked(
    session: AsyncSession,
    settings: Settings,
    intent: PaymentIntent,
    *,
    signature: str,
    payer_address: str,
    transaction_hash: str | None,
) -> None:
    """`confirm` on an intent row the caller has locked (the merchant's relay, or the
    payer's own public confirm: the signature is what authorises it)."""
    if rails.chain_rail(intent.mode) is None:
        # Nothing could ever confirm the payment: refuse before PROCESSING strands it.
        raise _live_refused()
    _check_wallet_currency(intent, "signature")
    if intent.status not in model.PAYABLE:
        raise InvalidRequest(
            f"Cannot confirm payment intent in status: {intent.status}",
            code="invalid_state_transition",
        )
    typed = intent_typed_data(
        intent.id,
        intent.amount,
        chain_id=settings.chain_id,
        contract_address=settings.contract_address,
    )
    signatures.verify(typed, signature, payer_address)
    intent.signature = signature
    intent.signer_address = payer_address
    move_intent(session, settings, intent, model.IntentStatus.PROCESSING)
    set_phase(intent, model.Phase.SIGNATURE_VERIFICATION, model.PhaseStatus.COMPLETED)
    set_phase(intent, model.Phase.BLOCKCHAIN_CONFIRMATION, model.PhaseStatus.IN_PROGRESS)
    if transaction_hash:
        await _check_hash_unused(session, intent, transaction_hash)
        await _accept_hash(session, settings, intent, transaction_hash)


async def submit_transaction_hash(
    session: AsyncSession, settings: Settings, intent_id: str, transaction_hash: str
) -> PaymentIntent:
    intent = await repository.public_intent(session, intent_id, lock=True)
    if rails.chain_rail(intent.mode) is None:
        raise _live_refused()
    _check_wallet_currency(intent, "transactionHash")
    if intent.transaction_hash == transaction_hash:
        return intent  # the same hash again: nothing to do
    if intent.transaction_hash is not None:
        raise InvalidRequest(
            "Transaction hash already set for this payment intent",
            code="transaction_hash_exists",
            param="transactionHash",
        )
    if intent.status not in (*model.PAYABLE, model.IntentStatus.PROCESSING):
        raise InvalidRequest(
            "Cannot update transaction hash: payment intent is already processed",
            code="invalid_state",
        )
    await _check_hash_unused(session, intent, transaction_hash)
    if intent.status != model.IntentStatus.PROCESSING:
        move_intent(session, settings, intent, model.IntentStatus.PROCESSING)
    await _accept_hash(session, settings, intent, transaction_hash)
    return intent


def _check_wallet_currency(intent: PaymentIntent, param: str) -> None:
    """A wallet pays a stablecoin; a fiat intent is paid by card (then on-ramped)."""
    if currencies.is_fiat(intent.currency):
        raise InvalidRequest(
            f"A payment intent in {intent.currency} can only be paid by card; wallet "
            "(EIP-712) payments need a USDC, USDT or DAI intent",
            param=param,
        )


HASH_USED_MESSAGE = "Transaction hash already funds another payment intent"


async def _check_hash_unused(session: AsyncSession, intent: PaymentIntent, tx_hash: str) -> None:
    """A chain transaction funds one intent: the first that claims it (the unique index
    backs this up under concurrency; see `hash_taken`)."""
    owner = await repository.intent_with_hash(session, tx_hash)
    if owner is not None and owner != intent.id:
        raise hash_taken()


def hash_taken() -> InvalidRequest:
    return InvalidRequest(HASH_USED_MESSAGE, code="transaction_hash_used", param="transactionHash")


async def _accept_hash(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, tx_hash: str
) -> None:
    intent.transaction_hash = tx_hash
    try:
        await session.flush()  # the unique index decides a race between two intents
    except IntegrityError as exc:
        raise hash_taken() from exc
    set_phase(intent, model.Phase.BLOCKCHAIN_CONFIRMATION, model.PhaseStatus.IN_PROGRESS)
    emit(
        session,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        type="payment_intent.blockchain_tx_submitted",
        obj=intent_object(intent, settings),
    )
    if settings.sandbox_chain_delay_seconds <= 0:
        await confirm_on_chain(session, settings, intent)
    else:
        schedule(
            session,
            kind=model.JobKind.CHAIN_CONFIRM,
            merchant_id=intent.merchant_id,
            mode=intent.mode,
            target_id=intent.id,
            due_at=now() + settings.sandbox_chain_delay_seconds,
        )


async def confirm_on_chain(
    session: AsyncSession, settings: Settings, intent: PaymentIntent
) -> None:
    """The chain confirmed the intent's transaction: the money has arrived."""
    rail = rails.chain_rail(intent.mode)
    if (
        rail is None
        or intent.status != model.IntentStatus.PROCESSING
        or not intent.transaction_hash
    ):
        return
    if not await rail.is_confirmed(intent.transaction_hash):
        return
    set_phase(intent, model.Phase.BLOCKCHAIN_CONFIRMATION, model.PhaseStatus.COMPLETED)
    emit(
        session,
        merchant_id=intent.merchant_id,
        mode=intent.mode,
        type="payment_intent.blockchain_tx_confirmed",
        obj=intent_object(intent, settings),
    )
    await fund_intent(session, settings, intent, payer_address=intent.signer_address)


async def fund_intent(
    session: AsyncSession, settings: Settings, intent: PaymentIntent, *, payer_address: str | None
) -> None:
    """PROCESSING -> SUCCEEDED: money arrives. DvP: held in escrow; CONDITIONAL: paid
    to the merchant and settled. The intent row is locked by the caller."""
    if await repository.ever_funded(session, intent.id):
        raise InvalidStateTransition(intent.status, model.IntentStatus.SUCCEEDED)
    at = now()
    move_intent(session, settings, intent, model.IntentStatus.SUCCEEDED)
    intent.settlement_status = model.SettlementStatus.IN_PROGRESS
    if intent.type != model.IntentType.DVP:
        where = ledger.Posting(intent.merchant_id, intent.mode, intent.currency, intent.id, None)
        ledger.post(session, where, ledger.FUND, intent.amount, escrowed=False)
        set_phase(intent, model.Phase.SETTLEMENT, model.PhaseStatus.IN_PROGRESS)
        await start_settlement(session, settings, intent, None, intent.amount)
        return
    order = await repository.order_of_intent(session, intent.id, lock=True)
    order.funded_amount = intent.amount
    order.funded_at = model.order_now(order, at)
    order.buyer_address = payer_address
    if order.release_type in model.PROOF_TYPES:
        order.delivery_deadline = order.funded_at + order.delivery_period
    order.updated_at = at
    where = ledger.Posting(intent.merchant_id, intent.mode, intent.currency, intent.id, order.id)
    ledger.post(session, where, ledger.FUND, intent.amount, reference_id=intent.id)
    set_phase(intent, model.Phase.ESCROW_LOCKED, model.PhaseStatus.COMPLETED)
    if order.release_type in model.PROOF_TYPES:
        set_phase(intent, model.Phase.AWAITING_DELIVERY_PROOF, model.PhaseStatus.IN_PROGRESS)
    await schedule_after_funding(session, settings, intent, order)
