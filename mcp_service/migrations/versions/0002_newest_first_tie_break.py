"""Newest-first listings break timestamp ties by id inside the index.

The dashboard and `mcp-service clients|sessions` list rows newest first. With
the timestamp alone in the index, PostgreSQL sorts every row that shares a
timestamp to order the ties (40-106 ms for 100k executions in one timestamp);
with `id` in the index it reads them in order. On SQLite the index keeps its
rowid either way.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, column before, columns after)
INDEXES = (
    ("ix_clients_created", "clients", ["created_at"], ["created_at", "id"]),
    ("ix_sessions_created", "sessions", ["created_at"], ["created_at", "id"]),
    ("ix_executions_started", "tool_executions", ["started_at"], ["started_at", "id"]),
)


def upgrade() -> None:
    for name, table, _before, after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after)


def downgrade() -> None:
    for name, table, before, _after in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before)
