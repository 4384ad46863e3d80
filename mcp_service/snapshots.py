"""Plain frozen records returned to callers, detached from any database session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp_service.models import Client, Session, ToolExecution


@dataclass(frozen=True)
class ClientInfo:
    client_id: str
    name: str
    client_type: str
    tier: str
    permissions: tuple[str, ...]
    metadata: dict[str, Any]
    created_at: datetime
    last_active_at: datetime | None
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def from_row(cls, row: Client) -> ClientInfo:
        return cls(
            client_id=row.id,
            name=row.name,
            client_type=row.client_type,
            tier=row.tier,
            permissions=tuple(row.permissions),
            metadata=dict(row.client_metadata or {}),
            created_at=row.created_at,
            last_active_at=row.last_active_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True)
class RegisteredClient:
    """What registration returns: the only time the plaintext key exists outside the caller."""

    client: ClientInfo
    api_key: str = field(repr=False)

    @property
    def client_id(self) -> str:
        return self.client.client_id


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    client_id: str
    status: str
    created_at: datetime
    last_activity_at: datetime
    request_count: int
    metadata: dict[str, Any]
    closed_at: datetime | None

    @classmethod
    def from_row(cls, row: Session) -> SessionInfo:
        return cls(
            session_id=row.id,
            client_id=row.client_id,
            status=row.status,
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
            request_count=row.request_count,
            metadata=dict(row.session_metadata or {}),
            closed_at=row.closed_at,
        )


@dataclass(frozen=True)
class ExecutionRecord:
    execution_id: str
    session_id: str | None
    client_id: str
    tool_name: str
    status: str
    result: dict[str, Any] | None
    error_message: str | None
    duration_ms: float
    started_at: datetime
    finished_at: datetime

    @classmethod
    def from_row(cls, row: ToolExecution) -> ExecutionRecord:
        return cls(
            execution_id=row.id,
            session_id=row.session_id,
            client_id=row.client_id,
            tool_name=row.tool_name,
            status=row.status,
            result=row.result,
            error_message=row.error_message,
            duration_ms=row.duration_ms,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )
