"""The tool execution pipeline: every call is checked, run with a deadline and recorded once.

Order: caller and session are loaded; the caller must be within its limits
(limits.py); the session must be open and the caller's; the tool must exist; the
caller must hold its permission; the arguments must be plain, bounded JSON that
matches its schema (tools/arguments.py). Only then does the tool run. Whatever
happens, exactly one tool_executions row records the call (success, error,
denied, timeout or rate_limited), and the session's request count and the
client's last-active time move with it in the same transaction.

One deadline covers the checks and the tool: large arguments are checked in a
worker thread inside it, and the database honours it (deadlines.py), so a call
that runs out of time stops its statements instead of leaving them running.

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
import contextlib
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from opentelemetry.trace import Span
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession

from mcp_service.db import Database
from mcp_service.deadlines import CURRENT, Deadline
from mcp_service.errors import (
    MCPServiceError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RedisUnavailableError,
    SessionClosedError,
    SessionExpiredError,
    ToolExecutionError,
    ToolTimeoutError,
    ValidationError,
)
from mcp_service.failures import describe_failure
from mcp_service.group_commit import Entry, ExecutionRecorder, write_entries
from mcp_service.limits import READ_PLACES, CallAdmission, CallLimiter, ClientTurns
from mcp_service.models import (
    Client,
    ExecutionStatus,
    Session,
    SessionStatus,
    new_id,
    table_of,
    utcnow,
)
from mcp_service.permissions import require_permission
from mcp_service.snapshots import ExecutionRecord
from mcp_service.statements import Prepared
from mcp_service.tools.arguments import unchecked_record
from mcp_service.tools.registry import SILENT, Tool, ToolContext, ToolRegistry, ToolReporter
from mcp_service.tracing import current_ids, record_execution, shared_work, tool_call_span
from mcp_service.validation import is_lookup_text, storable

if TYPE_CHECKING:
    from mcp_service.service import MCPService

_OPEN = SessionStatus.OPEN.value
# How long after its deadline a tool whose statement was stopped has to unwind.
UNWIND_GRACE = 0.25


@dataclass(frozen=True, slots=True)
class Caller:
    """What admission needs of the caller's client row and of the named session's row."""

    client_id: str
    tier: str
    permissions: tuple[str, ...]
    revoked: bool
    session_id: str | None  # None: no session row has the id the call named
    session_client_id: str | None
    session_status: str | None


_CLIENTS = table_of(Client)
_SESSIONS = table_of(Session)
_LOAD_CALLER = Prepared(
    select(
        _CLIENTS.c.id,
        _CLIENTS.c.tier,
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
    cid, tier, permissions, revoked, sid, session_client_id, status = row
    return Caller(cid, tier, tuple(permissions), bool(revoked), sid, session_client_id, status)


def _write_in_session(session: OrmSession, entries: list[Entry]) -> None:
    """`write_entries` inside a writing tool's own transaction."""
    write_entries(session.connection(), entries)


def _json_safe(value: object) -> None:
    """A tool's result must be plain JSON (the protocol and the row both need it)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"the tool's result is not plain JSON: {exc}") from None


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
        "session_id",
        "session_open",
        "span",
        "span_id",
        "started_at",
        "tool_name",
        "trace_id",
    )

    def __init__(self, caller: Caller, tool_name: str, span: Span) -> None:
        self.client_id = caller.client_id
        owned = caller.session_id is not None and caller.session_client_id == caller.client_id
        self.session_id = caller.session_id if owned else None
        self.session_open = owned and caller.session_status == _OPEN
        self.tool_name = tool_name
        self.span = span
        # What the row keeps of the arguments: set once they have been looked at.
        self.arguments: dict[str, Any] | None = None
        self.started_at: datetime = utcnow()
        # The caller's trace (tracing.py): the row says which test or request made it. When
        # spans are exported, the span is the call's own (`tool_call_span`).
        self.trace_id, self.span_id = current_ids()
        self._t0 = time.perf_counter()

    def row(
        self, status: ExecutionStatus, result: Any = None, error: str | None = None
    ) -> dict[str, Any]:
        execution_id = new_id()
        record_execution(self.span, execution_id, status.value, self.session_id, self.client_id)
        return {
            "id": execution_id,
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
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }


# Refusals before the tool runs, and the status each is recorded with.
_DENIED = (PermissionDeniedError, SessionClosedError)


class ToolPipeline:
    def __init__(
        self, db: Database, registry: ToolRegistry, timeout: float, services: MCPService
    ) -> None:
        self._db = db
        self.recorder = ExecutionRecorder(db)
        self._registry = registry
        self.timeout = timeout
        self._services = services
        # Counted in Redis when the service has one (shared by every process), else here.
        self.limiter: CallAdmission = services.shared_limiter or CallLimiter(
            services.settings.limits
        )
        # Work every client shares: each client queues its own calls for it (limits.ClientTurns).
        # SQLite has one writer for all; every engine has one CPU and one pool for all readers.
        fair = services.settings.limits.enabled
        self.write_turns = ClientTurns(1) if fair and db.is_sqlite else None
        self.read_turns = ClientTurns(READ_PLACES) if fair else None

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
        # Stored even when no tool has the name: as text any engine accepts (validation.py).
        name = storable(str(tool_name)[:100])
        with tool_call_span(name) as span:
            caller = None
            if is_lookup_text(client_id):
                # An id no row can have (not text, a NUL, a lone surrogate) names no session.
                named = session_id if is_lookup_text(session_id) else None
                caller = await self._db.read_now(load_caller, client_id, named)
            if caller is None:
                # No caller to attribute a row to: nothing is recorded.
                raise NotFoundError(f"client {client_id!r} not found")
            call = _Call(caller, name, span)
            deadline = Deadline.after(self.timeout if timeout is None else timeout)
            live = call.session_id if call.session_open else None
            try:
                ticket = await self.limiter.admit(caller.client_id, caller.tier, live)
            except RateLimitedError as exc:
                await self._refuse(call, arguments, ExecutionStatus.RATE_LIMITED, exc)
            except SessionExpiredError as exc:
                assert live is not None
                await self._services.sessions.mark_expired(live)
                call.session_open = False  # not counted against it: it is over
                await self._refuse(call, arguments, ExecutionStatus.DENIED, exc)
            except RedisUnavailableError as exc:
                await self._refuse(call, arguments, ExecutionStatus.ERROR, exc)
            try:
                return await self._admitted(
                    call, caller, session_id, tool_name, arguments, deadline, reporter
                )
            finally:
                released = self.limiter.release(caller.client_id, ticket)
                if released is not None:  # shielded: cancelled here, it still completes
                    await asyncio.shield(released)

    async def _admitted(
        self,
        call: _Call,
        caller: Caller,
        session_id: object,
        tool_name: object,
        arguments: object,
        deadline: Deadline,
        reporter: ToolReporter,
    ) -> ExecutionRecord:
        try:
            tool = self._admit(call, caller, session_id, tool_name)
        except MCPServiceError as exc:
            denied = isinstance(exc, _DENIED) or (
                isinstance(exc, NotFoundError) and call.session_id is None
            )
            status = ExecutionStatus.DENIED if denied else ExecutionStatus.ERROR
            await self._refuse(call, arguments, status, exc)
        try:
            checked = await self._check_arguments(tool, arguments, deadline)
        except TimeoutError:
            await self._refuse(call, arguments, ExecutionStatus.TIMEOUT, _timed_out(tool, deadline))
        except ValidationError as exc:
            await self._refuse(call, arguments, ExecutionStatus.ERROR, exc)
        except asyncio.CancelledError:
            call.arguments = unchecked_record(arguments)
            await _until_done(self._record(call, ExecutionStatus.ERROR, error="cancelled"))
            raise
        call.arguments = checked
        assert isinstance(arguments, dict)
        return await self._run(call, tool, arguments, deadline, reporter)

    def _admit(self, call: _Call, caller: Caller, session_id: object, tool_name: object) -> Tool:
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
        return tool

    async def _check_arguments(
        self, tool: Tool, arguments: object, deadline: Deadline
    ) -> dict[str, Any]:
        """The bounds walk and the schema: inline when small, else in a thread, by the deadline."""
        if not tool.checker.in_thread(arguments):
            return tool.checker.check(arguments).record
        async with asyncio.timeout_at(deadline.at):
            inspection = await asyncio.to_thread(tool.checker.check, arguments, deadline.at)
        return inspection.record

    async def _run(
        self,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        deadline: Deadline,
        reporter: ToolReporter,
    ) -> ExecutionRecord:
        try:
            if tool.writes:
                async with self._turn(self.write_turns, call.client_id, deadline):
                    row = await _outlast(
                        self._db.transaction(
                            self._invoke_writing, call, tool, arguments, deadline, reporter
                        ),
                        deadline,
                    )
                return _record_of(row)
            if not tool.uses_database:  # no session to open and close
                result = await self._invoke(call, tool, arguments, None, deadline, reporter)
            else:
                turn = self._turn(self.read_turns, call.client_id, deadline)
                async with turn, self._db.read() as db:
                    result = await self._invoke(call, tool, arguments, db, deadline, reporter)
        except TimeoutError:
            await self._fail(call, ExecutionStatus.TIMEOUT, _timed_out(tool, deadline))
        except asyncio.CancelledError:
            deadline.expire()  # stop its statements too
            await _until_done(self._record(call, ExecutionStatus.ERROR, error="cancelled"))
            raise
        except MCPServiceError as exc:
            if deadline.passed:  # the database stopped the tool at its deadline
                await self._fail(call, ExecutionStatus.TIMEOUT, _timed_out(tool, deadline))
            await self._fail(call, ExecutionStatus.ERROR, exc)
        except Exception as exc:
            if deadline.passed:
                await self._fail(call, ExecutionStatus.TIMEOUT, _timed_out(tool, deadline))
            message = f"tool {tool.name} failed: {describe_failure(exc)}"
            await self._fail(call, ExecutionStatus.ERROR, ToolExecutionError(message), cause=exc)
        return await self._record(call, ExecutionStatus.SUCCESS, result=result)

    @staticmethod
    def _turn(
        turns: ClientTurns | None, client_id: str, deadline: Deadline
    ) -> contextlib.AbstractAsyncContextManager[None]:
        if turns is None:
            return contextlib.nullcontext()
        return turns.turn(client_id, deadline.at)

    async def _invoke_writing(
        self,
        db: AsyncSession,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        deadline: Deadline,
        reporter: ToolReporter,
    ) -> dict[str, Any]:
        """A writing tool and its execution row, in one transaction: both commit or neither."""
        result = await self._invoke(call, tool, arguments, db, deadline, reporter)
        # The tool is done: its row must not be stopped by the deadline the tool ran under.
        await self._db.lift_deadline(db)
        row = call.row(ExecutionStatus.SUCCESS, result)
        await db.run_sync(_write_in_session, [Entry(row, call.session_open)])
        return row

    async def _invoke(
        self,
        call: _Call,
        tool: Tool,
        arguments: dict[str, Any],
        db: AsyncSession | None,
        deadline: Deadline,
        reporter: ToolReporter,
    ) -> dict[str, Any]:
        assert call.session_id is not None
        ctx = ToolContext(
            client_id=call.client_id,
            session_id=call.session_id,
            session=db,
            services=self._services,
            reporter=reporter,
            deadline=deadline,
        )
        if tool.uses_database:
            # Transactions the tool begins take its deadline (deadlines.py).
            token = CURRENT.set(deadline)
            try:
                result = await _run_to_deadline(tool.handler(ctx, arguments), deadline)
            finally:
                CURRENT.reset(token)
        else:
            # Nothing to stop but the await: the tool runs in this task (no task per call).
            async with asyncio.timeout_at(deadline.at):
                result = await tool.handler(ctx, arguments)
        _json_safe(result)
        return result

    async def _refuse(
        self, call: _Call, arguments: object, status: ExecutionStatus, error: MCPServiceError
    ) -> NoReturn:
        """A call refused before its arguments passed: the row keeps what is cheap to keep."""
        call.arguments = unchecked_record(arguments)
        await self._fail(call, status, error)

    async def _fail(
        self,
        call: _Call,
        status: ExecutionStatus,
        error: MCPServiceError,
        cause: BaseException | None = None,
    ) -> NoReturn:
        record = await self._record(call, status, error=error.message)
        error.execution_id = record.execution_id
        if cause is None:
            raise error
        raise error from cause

    async def _record(
        self, call: _Call, status: ExecutionStatus, *, result: Any = None, error: str | None = None
    ) -> ExecutionRecord:
        row = call.row(status, result, None if error is None else storable(error))
        with shared_work(call.span):  # the row joins a batch of other calls' rows
            await self.recorder.record(Entry(row, call.session_open))
        return _record_of(row)


async def _run_to_deadline(work: Awaitable[dict[str, Any]], deadline: Deadline) -> dict[str, Any]:
    """Run a database tool so that its deadline, or a cancellation, stops it cleanly.

    At the deadline the database stops the tool's statement (deadlines.py), which
    fails like any other error: its transaction rolls back normally and `_run`
    records a timeout. The tool is never cancelled in the middle of a database
    await if that can be helped: SQLAlchemy then drops the connection
    mid-transaction, and on SQLite the dropped connection held the write lock for
    30 s here. So the tool runs in its own task; a cancellation of this call
    expires the deadline first and gives the tool UNWIND_GRACE to stop, and only
    a tool still running after that (a long non-database await) is cancelled.
    """
    task = asyncio.ensure_future(work)
    # However this call ends, the tool's own failure is looked at (never "never retrieved").
    task.add_done_callback(_look_at)
    try:
        async with asyncio.timeout_at(deadline.at + UNWIND_GRACE):
            return await asyncio.shield(task)
    except (TimeoutError, asyncio.CancelledError):
        deadline.expire()
        await _settle(task, UNWIND_GRACE)
        raise


async def _outlast(work: Awaitable[dict[str, Any]], deadline: Deadline) -> dict[str, Any]:
    """Run a writing tool's transaction in a task of its own, which cancelling the call cannot cut.

    The MCP SDK cancels a call whose client hung up, and anyio cancels again at
    every await while the scope is cancelled: an await inside SQLAlchemy cut
    that way invalidates the connection mid-statement, and its close was left
    pending ("Task was destroyed but it is pending!", 14 in 10 s of 8 clients
    hanging up mid corpus_add). So a cancellation expires the deadline (the
    tool's statements stop) and the transaction is awaited to its end. Rolled
    back, the cancellation goes on (`_run` records it); committed, the call's
    own row already says it succeeded, and the row is returned.

    The task is cancelled once, as a plain asyncio cancellation: the tool stops
    (on PostgreSQL only a cancel stops a running statement), and nothing cuts
    the rollback that follows.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.done():
            raise  # the transaction itself was cancelled
        deadline.expire()
        # Once, not at every await: the tool stops (PostgreSQL cancels its statement, which
        # an expired deadline alone does not) and the rollback runs to its end.
        task.cancel()
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        if task.cancelled() or task.exception() is not None:
            raise
        return task.result()


async def _settle(task: asyncio.Future[Any], grace: float) -> None:
    """Give `task` `grace` seconds to end, then cancel it; return once it has ended.

    Waits through further cancellations of the caller: anyio (the MCP SDK's task
    groups) cancels a task again at every await while its scope is cancelled, and
    a wait cut short would leave the tool holding SQLite's write lock while the
    caller records its cancellation.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + grace
    while not task.done() and loop.time() < end:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task], timeout=end - loop.time())
    if not task.done():
        task.cancel()
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task])


def _look_at(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _timed_out(tool: Tool, deadline: Deadline) -> ToolTimeoutError:
    return ToolTimeoutError(f"tool {tool.name} timed out after {deadline.seconds:g} s")


async def _until_done(recording: Any) -> None:
    """Await a recording to the end even if this task is cancelled again meanwhile.

    A call cancelled by shutdown must still commit its row (and its session's
    count) before the shutdown closes the session; a second cancellation must not
    leave the recording half-awaited.
    """
    task = asyncio.ensure_future(recording)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
    task.result()
