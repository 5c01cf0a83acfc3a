"""a transaction hash funds one intent: unique across the database

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "uq_payment_intents_transaction_hash",
        "payment_intents",
        ["transaction_hash"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_payment_intents_transaction_hash", table_name="payment_intents")
