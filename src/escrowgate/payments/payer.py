"""The payer's use cases: the client secret that paying hands to the payer, and
what its holder may do without any merchant key: see the order's progress, approve
a completed milestone or a delivery (releasing it, as the EIP-712 approval does),
raise a dispute. Also the payer's own wallet confirm (the signature authorises it)
and an operator's approval of a milestone on the payer's behalf.

The client secret is `<intent id>_secret_<48 hex digits>` (192 random bits from
`secrets`): the prefix only names the intent, nothing of it is derivable from the
id. Only its SHA-256 is stored (like API keys); it is issued once, to whoever
funded the intent (card payment) or signed for it (the payer's wallet confirm), and
never to the merchant: a merchant holding it could approve its own releases."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.keys import Principal
from ..config import Settings
from ..domain.errors import Forbidden, InvalidRequest, Unauthenticated
from ..models import ConditionalPayment, Dispute, Milestone, PaymentIntent, Refund
from . import model, repository
from .disputes import open_dispute
from .funding import confirm_locked
from .milestones import record_approval
from .orders import OrderView, load_view
from .release import release_order_in_full

SECRET_PARAM = "client_secret"
SECRET_HEADER = "X-Client-Secret"
MISSING_SECRET = "client_secret is required (query parameter or X-Client-Secret header)"
INVALID_SECRET = "Invalid client secret for this payment intent"
PAYER = "payer"  # a payer's dispute: raisedBy


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_client_secret(intent: PaymentIntent) -> str:
    """A new client secret for the intent (its hash replaces any earlier one); the raw
    value is returned once and never stored."""
    raw = f"{intent.id}_secret_{secrets.token_hex(24)}"
    intent.client_secret_hash = hash_secret(raw)
    return raw


def check_client_secret(intent: PaymentIntent, secret: str | None) -> None:
    """401 when absent; 401 `invalid_client_secret` when wrong (compared in constant
    time). Nothing is read or changed before this passes."""
    if not secret:
        raise Unauthenticated(MISSING_SECRET, param=SECRET_PARAM)
    stored = intent.client_secret_hash
    if stored is None or not hmac.compare_digest(stored, hash_secret(secret)):
        raise Unauthenticated(INVALID_SECRET, code="invalid_client_secret", param=SECRET_PARAM)


async def _authorised(
    session: AsyncSession, intent_id: str, secret: str | None, *, lock: bool
) -> tuple[PaymentIntent, ConditionalPayment]:
    """The intent and its order (locked in the usual order: intent, then order), once
    the client secret is checked."""
    intent = await repository.public_intent(session, intent_id, lock=lock)
    check_client_secret(intent, secret)
    if intent.type != model.IntentType.DVP:
        raise InvalidRequest("Payment intent is not of type DELIVERY_VS_PAYMENT")
    return intent, await repository.order_of_intent(session, intent.id, lock=lock)


@dataclass(frozen=True)
class PayerView:
    intent: PaymentIntent
    merchant_name: str | None
    order: OrderView | None
    refunds: list[Refund]


async def payer_view(session: AsyncSession, intent_id: str, secret: str | None) -> PayerView:
    """Everything the payer may follow: the intent, the order with its milestones,
    proofs and dispute, and the refunds."""
    intent = await repository.public_intent(session, intent_id)
    check_client_secret(intent, secret)
    name = await repository.merchant_name(session, intent.merchant_id)
    if intent.type != model.IntentType.DVP:
        return PayerView(intent, name, None, [])
    order = await repository.order_of_intent(session, intent.id)
    view = await load_view(session, order)
    return PayerView(intent, name, view, await repository.refunds_of(session, order.id))


async def approve_milestone(
    session: AsyncSession, settings: Settings, intent_id: str, secret: str | None, milestone_id: str
) -> Milestone:
    """The payer approves a COMPLETED milestone with the client secret: as the EIP-712
    approval, minus the signature (the secret is the payer's authority)."""
    intent, order = await _authorised(session, intent_id, secret, lock=True)
    milestone = await repository.milestone_of(session, order.id, milestone_id)
    model.check_milestone_approvable(order, milestone)
    await record_approval(session, settings, intent, order, milestone, model.Approver.PAYER_SECRET)
    return milestone


async def approve_delivery(
    session: AsyncSession, settings: Settings, intent_id: str, secret: str | None
) -> ConditionalPayment:
    """The payer approves a DELIVERED order: everything held is released."""
    intent, order = await _authorised(session, intent_id, secret, lock=True)
    model.check_delivery_approvable(order)
    await release_order_in_full(
        session, settings, intent, order, reason=model.ReleaseReason.APPROVAL
    )
    return order


async def raise_dispute(
    session: AsyncSession, intent_id: str, secret: str | None, *, reason: str
) -> tuple[Dispute, ConditionalPayment]:
    """The payer's dispute (raisedBy "payer"): freezes every release path."""
    _, order = await _authorised(session, intent_id, secret, lock=True)
    dispute = await open_dispute(session, order, reason=reason, raised_by=PAYER, window=None)
    return dispute, order


async def confirm_wallet(
    session: AsyncSession,
    settings: Settings,
    intent_id: str,
    *,
    signature: str,
    payer_address: str,
    transaction_hash: str | None,
) -> tuple[PaymentIntent, str]:
    """The payer's own wallet confirm (no key: the EIP-712 signature over the intent's
    typed data authorises it); returns the intent and the payer's new client secret."""
    intent = await repository.public_intent(session, intent_id, lock=True)
    await confirm_locked(
        session,
        settings,
        intent,
        signature=signature,
        payer_address=payer_address,
        transaction_hash=transaction_hash,
    )
    return intent, issue_client_secret(intent)


async def operator_approve_milestone(
    session: AsyncSession,
    settings: Settings,
    caller: Principal,
    intent_id: str,
    milestone_id: str,
) -> Milestone:
    """An operator approves a COMPLETED milestone on the payer's behalf (e.g. a
    milestone added after funding whose payer cannot be reached)."""
    if not caller.is_operator:
        raise Forbidden("Only an operator key can approve a milestone without the payer")
    intent, order = await repository.owned_order(session, caller, intent_id, lock=True)
    milestone = await repository.milestone_of(session, order.id, milestone_id)
    model.check_milestone_approvable(order, milestone)
    await record_approval(session, settings, intent, order, milestone, model.Approver.OPERATOR)
    return milestone
