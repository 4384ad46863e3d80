"""Refused calls over a client's limits, and a per-session idle deadline.

- `tool_executions.status` gains `rate_limited` (a call refused by the caller's
  limits is recorded like any other refusal); the column widens to 16 characters.
- `sessions.idle_timeout` and `sessions.idle_deadline`: the timeout of the process
  that opened a session and the UNIX time it runs out. Expiry compares the
  deadline, so two servers with different `MCP_SESSION_IDLE_TIMEOUT` on one
  database no longer expire each other's sessions. Existing rows get 1800 s, the
  default when they were made.
- The sessions index on (status, last_activity_at) becomes one on status: every
  call moves the activity time (and now the deadline), so an index holding either
  was rewritten on every call (one more page per commit: ~25 % of an echo's
  write here); the expiry sweep scans the open rows instead.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('success', 'error', 'denied', 'timeout')"
NEW_STATUSES = "status IN ('success', 'error', 'denied', 'timeout', 'rate_limited')"
DEFAULT_IDLE_TIMEOUT = 1800.0


def _epoch(column: str) -> str:
    """UNIX seconds of a stored timestamp, per engine (SQLite stores UTC text)."""
    if op.get_bind().dialect.name == "sqlite":
        return f"(julianday({column}) - 2440587.5) * 86400.0"
    return f"extract(epoch from {column})"


def upgrade() -> None:
    with op.batch_alter_table("tool_executions") as batch:
        batch.drop_constraint("ck_execution_status", type_="check")
        batch.alter_column(
            "status", existing_type=sa.String(10), type_=sa.String(16), existing_nullable=False
        )
        batch.create_check_constraint("ck_execution_status", NEW_STATUSES)

    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("idle_timeout", sa.Float(), nullable=True))
        batch.add_column(sa.Column("idle_deadline", sa.Float(), nullable=True))
    # Constants and a column name only: nothing here comes from outside.
    op.execute(
        f"UPDATE sessions SET idle_timeout = {DEFAULT_IDLE_TIMEOUT}, "  # noqa: S608
        f"idle_deadline = {_epoch('last_activity_at')} + {DEFAULT_IDLE_TIMEOUT}"
    )
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("idle_timeout", existing_type=sa.Float(), nullable=False)
        batch.alter_column("idle_deadline", existing_type=sa.Float(), nullable=False)
        batch.drop_index("ix_sessions_status_activity")
        batch.create_index("ix_sessions_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_status")
        batch.create_index("ix_sessions_status_activity", ["status", "last_activity_at"])
        batch.drop_column("idle_deadline")
        batch.drop_column("idle_timeout")

    # Rows of the new status have no place in the old schema.
    op.execute("DELETE FROM tool_executions WHERE status = 'rate_limited'")
    with op.batch_alter_table("tool_executions") as batch:
        batch.drop_constraint("ck_execution_status", type_="check")
        batch.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(10), existing_nullable=False
        )
        batch.create_check_constraint("ck_execution_status", OLD_STATUSES)
