"""The audit, across the ledger and the payment aggregate: every transaction
balances; every order's held amount is >= 0 and matches its escrow ledger balance."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .ledger.service import ESCROW, MERCHANT_PENDING
from .models import ConditionalPayment, LedgerEntry
from .payments.model import held as held_of


async def run_audit(session: AsyncSession) -> list[str]:
    problems: list[str] = []
    unbalanced = (
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id)
        .having(func.sum(LedgerEntry.amount) != 0)
    )
    for txn, total in (await session.execute(unbalanced)).all():
        problems.append(f"transaction {txn} does not balance (sum {total})")

    escrow_by_order = dict(
        (
            await session.execute(
                select(LedgerEntry.conditional_payment_id, func.sum(LedgerEntry.amount))
                .where(LedgerEntry.account == ESCROW)
                .group_by(LedgerEntry.conditional_payment_id)
            )
        ).all()
    )
    pending_by_order = dict(
        (
            await session.execute(
                select(LedgerEntry.conditional_payment_id, func.sum(LedgerEntry.amount))
                .where(
                    LedgerEntry.account == MERCHANT_PENDING,
                    LedgerEntry.conditional_payment_id.is_not(None),
                )
                .group_by(LedgerEntry.conditional_payment_id)
            )
        ).all()
    )
    orders = await session.execute(
        select(
            ConditionalPayment.id,
            ConditionalPayment.funded_amount,
            ConditionalPayment.released_amount,
            ConditionalPayment.refunded_amount,
            ConditionalPayment.settled_amount,
            ConditionalPayment.amount,
        )
    )
    for row in orders.all():
        order_id, funded, released, settled, amount = (
            row.id, row.funded_amount, row.released_amount, row.settled_amount, row.amount
        )
        held = held_of(row)
        if held < 0:
            problems.append(f"order {order_id}: held amount {held} is negative")
        if funded > amount:
            problems.append(f"order {order_id}: funded {funded} exceeds order amount {amount}")
        ledger_held = int(escrow_by_order.get(order_id) or 0)
        if ledger_held != held:
            problems.append(
                f"order {order_id}: held {held} but escrow ledger balance {ledger_held}"
            )
        ledger_pending = int(pending_by_order.get(order_id) or 0)
        if ledger_pending != released - settled:
            problems.append(
                f"order {order_id}: released-not-settled {released - settled} but ledger "
                f"{ledger_pending}"
            )
    return problems
