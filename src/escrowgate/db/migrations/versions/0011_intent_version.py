"""payment intents: a version, and (PostgreSQL) the guard of optimistic writes

Every transaction that locks a payment intent on PostgreSQL adds one to its version,
in the statement that takes the lock; a write that read its aggregate without a lock
sends, in the same statement, an UPDATE of the intent guarded by the version it read,
and `escrowgate_guard` fails that statement when the guard matched no row
(docs/architecture.md, "Locking rules").

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# 40001 (serialization_failure): the statement is rolled back whole and may be run
# again; the app runs the request again under locks (api/context.py: Ctx.optimistic).
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION escrowgate_guard(matched bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    IF matched <> 1 THEN
        RAISE EXCEPTION 'escrowgate: the payment intent changed since it was read'
            USING ERRCODE = '40001';
    END IF;
    RETURN matched;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("payment_intents") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS escrowgate_guard(bigint)")
    with op.batch_alter_table("payment_intents") as batch:
        batch.drop_column("version")
