"""milestones carry their order's currency (a fiat milestone shows its minor units
everywhere, events included)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("milestones") as batch:
        batch.add_column(
            sa.Column("currency", sa.String(length=8), nullable=False, server_default="USDC")
        )
    op.execute(
        "UPDATE milestones SET currency = (SELECT conditional_payments.currency "
        "FROM conditional_payments WHERE conditional_payments.id = "
        "milestones.conditional_payment_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("milestones") as batch:
        batch.drop_column("currency")
