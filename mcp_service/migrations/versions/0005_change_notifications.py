"""PostgreSQL tells listeners when clients, sessions or tool executions change (the live feed).

A statement-level trigger on each of the three tables runs `pg_notify` with the
table's name on the `mcp_service_changes` channel. PostgreSQL delivers a
notification only when its transaction commits, and folds identical ones within a
transaction, so a listener (the dashboard, `--monitor`) hears each committed
change at most once per table and transaction, whichever process or tool made it,
and never one that rolled back. SQLite has no such thing: there the feed is Redis
(`MCP_REDIS_URL`), or the dashboard's own change detection.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "mcp_service_changes"  # mcp_service/feed_channels.py names it for the readers
FUNCTION = "mcp_service_notify_change"
TABLES = ("clients", "sessions", "tool_executions")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
