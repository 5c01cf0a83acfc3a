"""api_keys notify their changes (PostgreSQL): the API processes' key caches listen

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:30:00

Any revocation, re-hash or deletion of a key, whoever writes it (the CLI, another
process, an operator's SQL), sends NOTIFY escrowgate_api_keys '<key id>' at commit;
auth/cache.py drops the key from every process's cache. SQLite: nothing (the cache is
not used there).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION escrowgate_api_keys_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('escrowgate_api_keys', OLD.id);
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_keys_notify_update AFTER UPDATE ON api_keys FOR EACH ROW
        WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
              OR OLD.key_hash IS DISTINCT FROM NEW.key_hash
              OR OLD.kind IS DISTINCT FROM NEW.kind
              OR OLD.mode IS DISTINCT FROM NEW.mode
              OR OLD.merchant_id IS DISTINCT FROM NEW.merchant_id)
        EXECUTE FUNCTION escrowgate_api_keys_notify()
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_keys_notify_delete AFTER DELETE ON api_keys FOR EACH ROW
        EXECUTE FUNCTION escrowgate_api_keys_notify()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS api_keys_notify_delete ON api_keys")
    op.execute("DROP TRIGGER IF EXISTS api_keys_notify_update ON api_keys")
    op.execute("DROP FUNCTION IF EXISTS escrowgate_api_keys_notify()")
