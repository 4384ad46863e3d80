"""The tool execution pipeline: every call is checked, run with a timeout and recorded once.

Order: caller and session are loaded; the session must be open and the caller's;
the tool must exist; the caller must hold its permission; the arguments must
match its schema. Only then does the tool run. Whatever happens, exactly one
tool_executions row records the call (success, error, denied or timeout), and
the session's request count and the client's last-active time move with it in
the same transaction.

Cost: this is the path every tools/call takes, and through aiosqlite and the
ORM it cost ~27 thread hops. Now a call reads once and writes once (db.py,
statements.py): one prepared SELECT joins the caller's client row and the named
session — on SQLite on the event loop thread, without a hop; the client row is
read on every call, so a revocation stops the very next one — and the execution
row joins the recorder's next group commit, one hop to the writer thread per
batch. Rows are plain dicts written with Core statements: no ORM object, no
unit of work.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession

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
from mcp_service.models import Client, ExecutionStatus, Session, SessionStatus, new_id, utcnow
from mcp_service.permissions import require_permission
from mcp_service.recorder import Entry, ExecutionRecorder, write_entries
from mcp_service.records import ExecutionRecord
from mcp_service.statements import Prepared
from mcp_service.tools.registry import SILENT, Tool, ToolContext, ToolRegistry, ToolReporter
from mcp_service.validation import is_lookup_text, storable

MAX_RECORDED_ARGUMENT_BYTES = 65_536
_OPEN = SessionStatus.OPEN.value


@dataclass(frozen=True, slots=True)
class Caller:
    """What admission needs of the caller's client row and of the named session's row."""

    client_id: str
    permissions: tuple[str, ...]
    revoked: bool
    session_id: str | None  # None: no session row has the id the call named
    session_client_id: str | None
    session_status: str | None


_CLIENTS = Client.__table__
_SESSIONS = Session.__table__
_LOAD_CALLER = Prepared(
    select(
        _CLIENTS.c.id,
        _CLIENTS.c.permissions,
        _CLIENTS.c.revoked_at.is_not(None).label("revoked"),
        _SESSIONS.c.id.label("session_id"),
        _SESSIONS.c.client_id.label("session_client_id"),
        _SESSIONS.c.status.label("session_status"),
    )
    .select_from(_CLIENTS.outerjoin(_SESSIONS, _SESSIONS.c.id == bindparam("session_id")))
    .where(_CLIENTS.c.id == bindparam("client_id"))
)


def load_caller(conn: Connection, client_id: str, session_id: str | None) -> Caller | None:
    """The client and the session named by a call, in one statement (one consistent snapshot).

    None when the client does not exist; the session fields are None when no
    session has that id.
    """
    row = _LOAD_CALLER.first(conn, {"client_id": client_id, "session_id": session_id})
    if row is None:
        return None
    cid, permissions, revoked, sid, session_client_id, status = row
    return Caller(cid, tuple(permissions), bool(revoked), sid, session_client_id, status)


def _write_in_session(session: OrmSession, entries: list[Entry]) -> None:
    """`write_entries` inside a writing tool's own transaction."""
    write_entries(session.connection(), entries)


def _encode(arguments: object) -> tuple[str | None, str | None]:
    """The arguments as JSON text, or the reason they are not plain JSON (NaN, infinity, types)."""
    try:
        return json.dumps(arguments, allow_nan=False), None
    except (TypeError, ValueError) as exc:
        return None, str(exc)
    except RecursionError:
        return None, "nested too deeply"


def _json_safe(value: object) -> None:
    problem = _encode(value)[1]
    if problem is not None:
        raise ValidationError(f"arguments must be plain JSON: {problem}")


def _recordable(arguments: object, encoded: str | None) -> dict[str, Any] | None:
    """What the execution row keeps of the arguments: bounded, and always valid JSON."""
    if encoded is None:
        return {"_unrecordable": type(arguments).__name__}
    if len(encoded) > MAX_RECORDED_ARGUMENT_BYTES:
        return {"_truncated": True, "bytes": len(encoded)}
    # A copy taken now: the row shows what was called even if the tool changes its arguments.
    return json.loads(encoded) if isinstance(arguments, dict) else {"_value": arguments}


def _describe(exc: Exception) -> str:
    """What failed, for the caller and the row: a database error without its SQL and values."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc).__name__}: {exc.orig}".splitlines()[0]
    return f"{type(exc).__name__}: {exc}"


def _record_of(row: dict[str, Any]) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=row["id"],
        session_id=row["session_id"],
        client_id=row["client_id"],
        tool_name=row["tool_name"],
        status=row["status"],
        result=row["result"],
        error_message=row["error_message"],
        duration_ms=row["duration_ms"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


class _Call:
    """One call's bookkeeping, so every exit path records the same way."""

    __slots__ = (
        "_t0",
        "arguments",
        "client_id",
        "json_error",
        "session_id",
        "session_open",
        "started_at",
        "tool_name",
    )

    def __init__(self, caller: Caller, tool_name: object, arguments: object) -> None:
        self.client_id = caller.client_id
        owned = caller.session_id is not None and caller.session_client_id == caller.client_id
        self.session_id = caller.session_id if owned else None
        self.session_open = owned and caller.session_status == _OPEN
        # Stored even when no tool has the name: as text any engine accepts (validation.py).
        self.tool_name = storable(str(tool_name)[:100])
        encoded, self.json_error = _encode(arguments)
        self.arguments = _recordable(arguments, encoded)
        self.started_at: datetime = utcnow()
        self._t0 = time.perf_counter()

    def row(
        self, status: ExecutionStatus, result: Any = None, error: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "session_id": self.session_id,
            "client_id": self.client_id,
            "tool_name": self.tool_name,
            "arguments": self.arguments,
            "result": result,
            "status": status.value,
            "error_message": error,
            "duration_ms": (time.perf_counter() - self._t0) * 1000,
            "started_at": self.started_at,
            "finished_at": utcnow(),
        }


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
        caller = None
        if is_lookup_text(client_id):
            # An id no row can have (not text, a NUL, a lone surrogate) names no session.
            named = session_id if is_lookup_text(session_id) else None
            caller = await self._db.read_now(load_caller, client_id, named)
        if caller is None:
            # No caller to attribute a row to: nothing is recorded.
            raise NotFoundError(f"client {client_id!r} not found")
        call = _Call(caller, tool_name, arguments)
        try:
            tool = self._admit(call, caller, session_id, tool_name, arguments)
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
        caller: Caller,
        session_id: object,
        tool_name: object,
        arguments: object,
    ) -> Tool:
        if caller.session_id is None:
            raise NotFoundError(f"session {session_id!r} not found")
        if call.session_id is None:
            raise PermissionDeniedError(
                f"session {caller.session_id} does not belong to client {caller.client_id}"
            )
        if caller.revoked:
            raise PermissionDeniedError(f"client {caller.client_id} has been revoked")
        if not call.session_open:
            raise SessionClosedError(f"session {caller.session_id} is {caller.session_status}")
        tool = self._registry.get(tool_name)
        require_permission(caller.permissions, tool.permission, who=caller.client_id)
        if call.json_error is not None:
            raise ValidationError(f"arguments must be plain JSON: {call.json_error}")
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
                row = await self._db.transaction(
                    self._invoke_writing, call, tool, arguments, timeout, reporter
                )
                return _record_of(row)
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
            message = f"tool {tool.name} failed: {_describe(exc)}"
            await self._fail(call, ExecutionStatus.ERROR, ToolExecutionError(message), cause=exc)
        return await self._record(call, ExecutionStatus.SUCCESS, result=result)

    async def _invoke_writing(
        self,
        db: AsyncSession,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        timeout: float,
        reporter: ToolReporter,
    ) -> dict[str, Any]:
        """A writing tool and its execution row, in one transaction: both commit or neither."""
        result = await self._invoke(call, tool, arguments, db, timeout, reporter)
        row = call.row(ExecutionStatus.SUCCESS, result)
        await db.run_sync(_write_in_session, [Entry(row, call.session_open)])
        return row

    async def _invoke(
        self,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        db: Any,
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
        # asyncio.timeout runs the tool in this task: no extra task per call, as wait_for makes.
        async with asyncio.timeout(timeout):
            result = await tool.handler(ctx, arguments)
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
        row = call.row(status, result, None if error is None else storable(error))
        await self.recorder.record(Entry(row, call.session_open))
        return _record_of(row)
