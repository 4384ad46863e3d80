"""Typed SQLAlchemy 2.0 models: clients, sessions, tool executions and the tools' documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every engine.

    SQLite stores no offset, so values are normalised to UTC on the way in and
    tagged UTC on the way out; a naive datetime is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    EXPIRED = "expired"


class ExecutionStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    DENIED = "denied"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"  # refused: over the caller's limits (limits.py)


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def _traced(table: str) -> Index:
    """An index on `trace_id` holding only traced rows: an untraced write (a server whose
    clients send no trace context) never touches it."""
    where = text("trace_id IS NOT NULL")
    return Index(f"ix_{table}_trace", "trace_id", sqlite_where=where, postgresql_where=where)


# The W3C trace a row was made in (tracing.py): 32 hex digits, NULL when untraced.
TRACE_ID = 32
SPAN_ID = 16


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    client_type: Mapped[str] = mapped_column(String(50))
    tier: Mapped[str] = mapped_column(String(20))
    permissions: Mapped[list[str]]
    api_key_id: Mapped[str] = mapped_column(String(32), unique=True)
    api_key_hash: Mapped[str] = mapped_column(String(255))
    client_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_active_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    trace_id: Mapped[str | None] = mapped_column(String(TRACE_ID))

    __table_args__ = (
        CheckConstraint("tier IN ('admin', 'basic', 'readonly')", name="ck_tier"),
        Index("ix_clients_created", "created_at", "id"),
        _traced("clients"),
    )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default=SessionStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    session_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    closed_at: Mapped[datetime | None]
    # The idle timeout of the process that opened the session (seconds), and when it runs
    # out: UNIX time of the last activity plus that timeout. Numbers, so every engine can
    # move the deadline in the same UPDATE that counts a request; each row carries its own,
    # so servers with different timeouts never expire each other's sessions.
    idle_timeout: Mapped[float] = mapped_column(Float)
    idle_deadline: Mapped[float] = mapped_column(Float)
    trace_id: Mapped[str | None] = mapped_column(String(TRACE_ID))

    __table_args__ = (
        CheckConstraint(_in("status", SessionStatus), name="ck_session_status"),
        CheckConstraint("request_count >= 0", name="ck_request_count"),
        Index("ix_sessions_client", "client_id"),
        # On status alone: every call moves last_activity_at and idle_deadline, and an index
        # on either would be rewritten on every call; the expiry sweep scans open rows.
        Index("ix_sessions_status", "status"),
        Index("ix_sessions_created", "created_at", "id"),
        _traced("sessions"),
    )


class ToolExecution(Base):
    __tablename__ = "tool_executions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # NULL only when the call named a session that does not exist.
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    tool_name: Mapped[str] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    trace_id: Mapped[str | None] = mapped_column(String(TRACE_ID))
    span_id: Mapped[str | None] = mapped_column(String(SPAN_ID))  # the caller's span

    __table_args__ = (
        CheckConstraint(_in("status", ExecutionStatus), name="ck_execution_status"),
        CheckConstraint("duration_ms >= 0", name="ck_duration"),
        Index("ix_executions_client_started", "client_id", "started_at"),
        Index("ix_executions_session", "session_id"),
        Index("ix_executions_started", "started_at", "id"),
        _traced("executions"),
    )


class Document(Base):
    """A text the corpus tools store and search; owned by one client."""

    __tablename__ = "documents"

    # An INTEGER primary key is SQLite's stable rowid, which the FTS5 index points at.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_documents_client", "client_id"),)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, typed as one (`__table__` is declared as any FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
