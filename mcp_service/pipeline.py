"""The tool execution pipeline: every call is checked, run with a timeout and recorded once.

Order: caller and session are loaded; the session must be open and the caller's;
the tool must exist; the caller must hold its permission; the arguments must
match its schema. Only then does the tool run. Whatever happens, exactly one
tool_executions row records the call (success, error, denied or timeout), and
the session's request count and the client's last-active time move with it in
the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mcp_service.db import Database
from mcp_service.errors import (
    MCPServiceError,
    NotFoundError,
    PermissionDeniedError,
    SessionClosedError,
    ToolExecutionError,
    ToolTimeoutError,
    ValidationError,
)
from mcp_service.models import (
    Client,
    ExecutionStatus,
    Session,
    SessionStatus,
    ToolExecution,
    utcnow,
)
from mcp_service.permissions import require_permission
from mcp_service.recorder import Entry, ExecutionRecorder, write_entries
from mcp_service.records import ExecutionRecord
from mcp_service.tools.registry import SILENT, Tool, ToolContext, ToolRegistry, ToolReporter

MAX_RECORDED_ARGUMENT_BYTES = 65_536


def _json_safe(arguments: object) -> str:
    """JSON text of the arguments; NaN, infinity and non-JSON types are refused."""
    try:
        return json.dumps(arguments, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"arguments must be plain JSON: {exc}") from None


def _recordable(arguments: object) -> dict[str, Any] | None:
    """What the execution row keeps of the arguments: bounded, and always valid JSON."""
    try:
        encoded = json.dumps(arguments, allow_nan=False)
    except (TypeError, ValueError):
        return {"_unrecordable": type(arguments).__name__}
    if len(encoded) > MAX_RECORDED_ARGUMENT_BYTES:
        return {"_truncated": True, "bytes": len(encoded)}
    return json.loads(encoded) if isinstance(arguments, dict) else {"_value": arguments}


class _Call:
    """One call's bookkeeping, so every exit path records the same way."""

    def __init__(
        self, client: Client, session: Session | None, tool_name: object, arguments: object
    ):
        self.client_id = client.id
        owned = session is not None and session.client_id == client.id
        self.session_id = session.id if owned else None
        self.session_open = owned and session.status == SessionStatus.OPEN.value
        self.tool_name = str(tool_name)[:100]
        self.arguments = _recordable(arguments)
        self.started_at: datetime = utcnow()
        self._t0 = time.perf_counter()

    def row(
        self, status: ExecutionStatus, result: Any = None, error: str | None = None
    ) -> ToolExecution:
        return ToolExecution(
            session_id=self.session_id,
            client_id=self.client_id,
            tool_name=self.tool_name,
            arguments=self.arguments,
            result=result,
            status=status.value,
            error_message=error,
            duration_ms=(time.perf_counter() - self._t0) * 1000,
            started_at=self.started_at,
            finished_at=utcnow(),
        )


class ToolPipeline:
    def __init__(self, db: Database, registry: ToolRegistry, timeout: float, services: Any) -> None:
        self._db = db
        self.recorder = ExecutionRecorder(db)
        self._registry = registry
        self.timeout = timeout
        self._services = services

    async def execute(
        self,
        session_id: str,
        tool_name: str,
        arguments: dict[str, Any] | None,
        *,
        client_id: str,
        timeout: float | None = None,
        reporter: ToolReporter = SILENT,
    ) -> ExecutionRecord:
        arguments = {} if arguments is None else arguments
        async with self._db.read() as db:
            client = await db.get(Client, client_id) if isinstance(client_id, str) else None
            session = await db.get(Session, session_id) if isinstance(session_id, str) else None
        if client is None:
            # No caller to attribute a row to: nothing is recorded.
            raise NotFoundError(f"client {client_id!r} not found")
        call = _Call(client, session, tool_name, arguments)
        try:
            tool = self._admit(call, client, session, session_id, tool_name, arguments)
        except MCPServiceError as exc:
            denied = isinstance(exc, PermissionDeniedError | SessionClosedError) or (
                isinstance(exc, NotFoundError) and call.session_id is None
            )
            status = ExecutionStatus.DENIED if denied else ExecutionStatus.ERROR
            await self._fail(call, status, exc)
        limit = self.timeout if timeout is None else timeout
        return await self._run(call, tool, arguments, limit, reporter)

    def _admit(
        self,
        call: _Call,
        client: Client,
        session: Session | None,
        session_id: object,
        tool_name: object,
        arguments: object,
    ) -> Tool:
        if session is None:
            raise NotFoundError(f"session {session_id!r} not found")
        if call.session_id is None:
            raise PermissionDeniedError(
                f"session {session.id} does not belong to client {client.id}"
            )
        if client.is_revoked:
            raise PermissionDeniedError(f"client {client.id} has been revoked")
        if not call.session_open:
            raise SessionClosedError(f"session {session.id} is {session.status}")
        tool = self._registry.get(tool_name)
        require_permission(client.permissions, tool.permission, who=client.id)
        _json_safe(arguments)
        tool.validate(arguments)
        return tool

    async def _run(
        self,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        timeout: float,
        reporter: ToolReporter,
    ) -> ExecutionRecord:
        try:
            if tool.writes:
                async with self._db.write() as db:
                    result = await self._invoke(call, tool, arguments, db, timeout, reporter)
                    row = call.row(ExecutionStatus.SUCCESS, result)
                    await write_entries(db, [Entry(row, call.session_open)])
                return ExecutionRecord.from_row(row)
            async with self._db.read() as db:
                result = await self._invoke(call, tool, arguments, db, timeout, reporter)
        except TimeoutError:
            await self._fail(
                call,
                ExecutionStatus.TIMEOUT,
                ToolTimeoutError(f"tool {tool.name} timed out after {timeout:g} s"),
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._record(call, ExecutionStatus.ERROR, error="cancelled"))
            raise
        except MCPServiceError as exc:
            await self._fail(call, ExecutionStatus.ERROR, exc)
        except Exception as exc:
            message = f"tool {tool.name} failed: {type(exc).__name__}: {exc}"
            await self._fail(call, ExecutionStatus.ERROR, ToolExecutionError(message), cause=exc)
        return await self._record(call, ExecutionStatus.SUCCESS, result=result)

    async def _invoke(
        self,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        db: AsyncSession,
        timeout: float,
        reporter: ToolReporter,
    ) -> dict[str, Any]:
        assert call.session_id is not None
        ctx = ToolContext(
            client_id=call.client_id,
            session_id=call.session_id,
            db=db,
            services=self._services,
            reporter=reporter,
        )
        result = await asyncio.wait_for(tool.handler(ctx, arguments), timeout)
        _json_safe(result)
        return result

    async def _fail(
        self,
        call: _Call,
        status: ExecutionStatus,
        error: MCPServiceError,
        cause: BaseException | None = None,
    ) -> None:
        record = await self._record(call, status, error=error.message)
        error.execution_id = record.execution_id
        if cause is None:
            raise error
        raise error from cause

    async def _record(
        self, call: _Call, status: ExecutionStatus, *, result: Any = None, error: str | None = None
    ) -> ExecutionRecord:
        row = call.row(status, result, error)
        await self.recorder.record(Entry(row, call.session_open))
        return ExecutionRecord.from_row(row)
