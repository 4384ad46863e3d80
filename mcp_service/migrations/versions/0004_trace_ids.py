"""The W3C trace each row was made in: `trace_id` on clients, sessions and tool executions.

A test traced by mcp-dashboard (or any caller with OpenTelemetry context) leaves its
trace id on the rows it causes, in this process or in a server it called, so a row
can be traced back to the test that made it. Executions also keep the caller's
`span_id`. Nullable: untraced rows leave them NULL, and the indexes are partial, so
an untraced write never touches them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRACED = "trace_id IS NOT NULL"
TABLES = {"clients": "ix_clients_trace", "sessions": "ix_sessions_trace"}


def _index(name: str, table: str) -> None:
    where = sa.text(TRACED)
    op.create_index(name, table, ["trace_id"], sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    for table, index in TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("trace_id", sa.String(32), nullable=True))
        _index(index, table)
    with op.batch_alter_table("tool_executions") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("span_id", sa.String(16), nullable=True))
    _index("ix_executions_trace", "tool_executions")


def downgrade() -> None:
    op.drop_index("ix_executions_trace", table_name="tool_executions")
    with op.batch_alter_table("tool_executions") as batch:
        batch.drop_column("span_id")
        batch.drop_column("trace_id")
    for table, index in TABLES.items():
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trace_id")
