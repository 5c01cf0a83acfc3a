"""the payer's side: client secret (hashed) on intents; milestone approvals by whom,
and milestones added after funding (released only by an approval)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_intents") as batch:
        batch.add_column(sa.Column("client_secret_hash", sa.String(64), nullable=True))
    with op.batch_alter_table("milestones") as batch:
        batch.add_column(sa.Column("approved_by", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column(
                "added_after_funding", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("milestones") as batch:
        batch.drop_column("added_after_funding")
        batch.drop_column("approved_by")
    with op.batch_alter_table("payment_intents") as batch:
        batch.drop_column("client_secret_hash")
