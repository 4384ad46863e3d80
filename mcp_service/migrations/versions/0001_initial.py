"""The first schema: clients, sessions, tool executions and the corpus tools' documents.

Full-text search lives outside the models, per engine: on SQLite an external-content
FTS5 table kept in step by triggers (skipped, with search falling back to LIKE, on a
SQLite built without FTS5); on PostgreSQL a GIN index on the same expression
`corpus_search` queries.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE documents_fts USING fts5("
    "title, body, content='documents', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER documents_fts_ai AFTER INSERT ON documents BEGIN "
    "INSERT INTO documents_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER documents_fts_ad AFTER DELETE ON documents BEGIN "
    "INSERT INTO documents_fts(documents_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER documents_fts_au AFTER UPDATE ON documents BEGIN "
    "INSERT INTO documents_fts(documents_fts, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO documents_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
)
# Must match the expression in mcp_service/tools/corpus.py, or the index is not used.
POSTGRES_SEARCH_INDEX = (
    "CREATE INDEX ix_documents_search ON documents "
    "USING gin (to_tsvector('simple', title || ' ' || body))"
)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("client_type", sa.String(length=50), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_hash", sa.String(length=255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_active_at", _utc(), nullable=True),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.CheckConstraint("tier IN ('admin', 'basic', 'readonly')", name="ck_tier"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key_id"),
    )
    op.create_index("ix_clients_created", "clients", ["created_at"])

    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_documents_client", "documents", ["client_id"])

    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_activity_at", _utc(), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed', 'expired')", name="ck_session_status"),
        sa.CheckConstraint("request_count >= 0", name="ck_request_count"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sessions_client", "sessions", ["client_id"])
    op.create_index("ix_sessions_created", "sessions", ["created_at"])
    op.create_index("ix_sessions_status_activity", "sessions", ["status", "last_activity_at"])

    op.create_table(
        "tool_executions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("tool_name", sa.String(length=100), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('success', 'error', 'denied', 'timeout')", name="ck_execution_status"
        ),
        sa.CheckConstraint("duration_ms >= 0", name="ck_duration"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_executions_client_started", "tool_executions", ["client_id", "started_at"])
    op.create_index("ix_executions_session", "tool_executions", ["session_id"])
    op.create_index("ix_executions_started", "tool_executions", ["started_at"])

    _create_search()


def _create_search() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_SEARCH_INDEX)
    elif dialect == "sqlite" and _sqlite_has_fts5():
        for statement in SQLITE_FTS:
            op.execute(statement)


def _sqlite_has_fts5() -> bool:
    if op.get_context().as_sql:  # an offline script: assume the usual build
        return True
    options: list[str] = list(op.get_bind().exec_driver_sql("PRAGMA compile_options").scalars())
    return "ENABLE_FTS5" in options


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS documents_fts")  # its triggers go with documents
    op.drop_table("tool_executions")
    op.drop_table("sessions")
    op.drop_table("documents")  # ix_documents_search goes with it
    op.drop_table("clients")
