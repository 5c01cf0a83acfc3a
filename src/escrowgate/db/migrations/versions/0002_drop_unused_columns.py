"""drop columns nothing reads: payment_intents.chain_confirm_due and lock_version,
conditional_payments.approved_at (the release itself is the approval's record)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_intents") as batch:
        batch.drop_column("chain_confirm_due")
        batch.drop_column("lock_version")
    with op.batch_alter_table("conditional_payments") as batch:
        batch.drop_column("approved_at")


def downgrade() -> None:
    with op.batch_alter_table("conditional_payments") as batch:
        batch.add_column(sa.Column("approved_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("payment_intents") as batch:
        batch.add_column(
            sa.Column("lock_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("chain_confirm_due", sa.BigInteger(), nullable=True))
