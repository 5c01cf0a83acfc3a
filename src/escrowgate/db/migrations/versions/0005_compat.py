"""drop-in compatibility: a declined card keeps the intent payable, the decline
recorded in `last_payment_error`

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DECLINED = {"code": "payment_failed", "message": "Your card was declined."}


def upgrade() -> None:
    op.add_column("payment_intents", sa.Column("last_payment_error", sa.JSON(), nullable=True))
    # Until now only a card decline led to REQUIRES_ACTION (from INITIATED): such
    # intents become payable again, the decline kept as their lastPaymentError.
    intents = sa.table(
        "payment_intents",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("funding", sa.JSON),
        sa.column("last_payment_error", sa.JSON),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(intents.c.id, intents.c.funding).where(intents.c.status == "REQUIRES_ACTION")
    ).all()
    for intent_id, funding in rows:
        last4 = (funding or {}).get("cardLast4")
        conn.execute(
            intents.update()
            .where(intents.c.id == intent_id)
            .values(status="INITIATED", last_payment_error={**DECLINED, "cardLast4": last4})
        )


def downgrade() -> None:
    op.drop_column("payment_intents", "last_payment_error")
