"""indexes for growth (bench/explain.py at 10x today's sizes):

- webhook attempts by delivery: the events retention deletes old events with their
  deliveries and attempts, and both that delete and the foreign key check on deleting a
  delivery look attempts up by delivery_id (a sequential scan without it);
- ledger entries by payment intent: GET /account/ledger-entries?paymentIntentId= (the
  merchant's and the operator's) walked the merchant's entries newest first until the
  intent's turned up (or scanned the table for an operator key).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id"])
    op.create_index("ix_ledger_entries_intent", "ledger_entries", ["payment_intent_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_intent", table_name="ledger_entries")
    op.drop_index("ix_webhook_attempts_delivery", table_name="webhook_attempts")
