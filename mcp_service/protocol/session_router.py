"""Which service session row an MCP call belongs to.

- stdio: the process is the connection. One row, opened at startup for the
  client of MCP_API_KEY, closed when stdin closes (the client disconnected).
- Streamable HTTP, handshake protocol (`Mcp-Session-Id`): one row per SDK
  session, opened when `initialize` succeeds, closed when the SDK session ends
  (the client's DELETE, the SDK's idle timeout, server shutdown).
- Streamable HTTP, stateless 2026-07-28 protocol: no connection exists, so the
  calls of one client to one server process are grouped into one rolling row,
  opened by the client's first call and expired by the service's idle sweep;
  the next call after that opens a new row. Server shutdown closes it.

In every case a row idle long enough to be swept is not reused: the next call
opens a fresh row for the same connection, so a call never lands on a row the
sweep is about to expire (which would record it as denied).

The router also knows every live handshake session by client, so a client's
sessions can be counted (the per-client limit, protocol/http_guard.py) and ended
at once when the client is revoked, here or in another process. At shutdown the
rows are closed together by the service (one UPDATE), not one transaction per
SDK session: with 10,000 sessions that took 19 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR
from sqlalchemy import Connection as DbConnection
from sqlalchemy import select

from mcp_service.errors import AuthenticationError, MCPServiceError, NotFoundError
from mcp_service.failures import database_words, describe_failure, is_database_error
from mcp_service.models import Client
from mcp_service.service import MCPService

log = logging.getLogger(__name__)

_STATE_KEY = "mcp_service.binding"
# A row this close to the idle timeout may be expired under the call: open a new one instead.
_IDLE_MARGIN = 5.0
# A handshake that failed: its SDK session ends this long after the error was answered.
_END_FAILED_AFTER = 1.0


@dataclass
class Binding:
    """One MCP connection (or stateless group) and the session row it currently uses."""

    client_id: str
    metadata: dict[str, Any]
    session_id: str | None = None
    last_used: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    sdk_session_id: str | None = None  # the SDK's Mcp-Session-Id, for handshake connections

    def forget(self, session_id: str) -> None:
        """The row is over (closed or expired elsewhere): the next call opens a new one."""
        if self.session_id == session_id:
            self.session_id = None


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    """The SDK's per-connection object (scratch `state`, teardown `exit_stack`).

    mcp 2.3 documents both for handlers and middleware but exposes the object
    only on the request's ServerSession; its own tests reach it the same way.
    """
    return getattr(ctx.session, "_connection", None)


def http_client_id(ctx: ServerRequestContext[Any, Any]) -> str:
    """The client the SDK's bearer middleware authenticated for this HTTP request."""
    user = getattr(ctx.request, "user", None)
    if not isinstance(user, AuthenticatedUser):  # unreachable behind RequireAuthMiddleware
        raise AuthenticationError("request is not authenticated")
    return user.access_token.client_id


def revoked_among(conn: DbConnection, client_ids: list[str]) -> list[str]:
    """Which of these clients are revoked (one indexed read)."""
    query = select(Client.id).where(Client.id.in_(client_ids), Client.revoked_at.is_not(None))
    return list(conn.execute(query).scalars())


class SessionRouter:
    def __init__(self, service: MCPService, transport: str) -> None:
        self._service = service
        self.transport = transport
        self._stdio: Binding | None = None
        self._stateless: dict[str, Binding] = {}
        # Live handshake sessions: client id -> SDK session id -> binding.
        self._live: dict[str, dict[str, Binding]] = {}
        self._manager: StreamableHTTPSessionManager | None = None
        self.closing = False  # shutdown has begun: rows are closed together, by the service
        self._background: set[asyncio.Task[None]] = set()

    def attach(self, manager: StreamableHTTPSessionManager) -> None:
        """The SDK's session manager, whose sessions `end_sessions_of` ends."""
        self._manager = manager
        self._service.clients.on_revoked.append(self._revoked_here)

    def live_sessions(self, client_id: str) -> int:
        return len(self._live.get(client_id, ()))

    @property
    def live_total(self) -> int:
        return sum(len(sessions) for sessions in self._live.values())

    # -- opening -------------------------------------------------------------------

    async def open_stdio(self, client_id: str) -> str:
        """The stdio process's row, opened before anything is served."""
        self._stdio = Binding(client_id, {"transport": "stdio", "pid": os.getpid()})
        return await self.session_for(self._stdio)

    async def on_initialize(self, ctx: ServerRequestContext[Any, Any]) -> None:
        """A handshake succeeded: an HTTP connection gets its row now, and closes it at its end."""
        connection = connection_of(ctx)
        if self.transport != "http" or connection is None or connection.session_id is None:
            return
        info = (ctx.params or {}).get("clientInfo") or {}
        binding = Binding(
            http_client_id(ctx),
            {
                "transport": "streamable-http",
                "pid": os.getpid(),  # which of several server processes holds the connection
                "protocol": (ctx.params or {}).get("protocolVersion"),
                "mcp_session_id": connection.session_id,
                "client_info": {k: info.get(k) for k in ("name", "version") if k in info},
            },
        )
        binding.sdk_session_id = connection.session_id
        connection.state[_STATE_KEY] = binding
        self._live.setdefault(binding.client_id, {})[connection.session_id] = binding
        connection.exit_stack.push_async_callback(self._connection_closed, binding)
        try:
            await self.session_for(binding)
        except Exception as exc:
            # Nothing half-made: the SDK session ends with the failed handshake, right after
            # the error is written (ending it now would drop the answer).
            self._forget_live(binding)
            self._later(self.end_sdk_session(binding), delay=_END_FAILED_AFTER)
            if isinstance(exc, MCPServiceError):
                what = exc.message
            elif is_database_error(exc):
                what = database_words(exc)
            else:
                what = "the service failed"
            log.error(
                "initialize failed for client %s: %s", binding.client_id, describe_failure(exc)
            )
            raise MCPError(INTERNAL_ERROR, f"could not open a session: {what}") from None

    def binding(self, ctx: ServerRequestContext[Any, Any]) -> Binding:
        """The binding a request belongs to (see the module docstring)."""
        if self._stdio is not None:
            return self._stdio
        connection = connection_of(ctx)
        bound = connection.state.get(_STATE_KEY) if connection is not None else None
        if isinstance(bound, Binding):
            return bound
        client_id = http_client_id(ctx)
        group = self._stateless.get(client_id)
        if group is None:
            group = Binding(
                client_id,
                {
                    "transport": "streamable-http",
                    "pid": os.getpid(),
                    "protocol": ctx.protocol_version,
                    "stateless": True,
                },
            )
            self._stateless[client_id] = group
        return group

    async def session_for(self, binding: Binding) -> str:
        """The binding's open row, opening a new one when it has none or it is about to expire."""
        async with binding.lock:
            now = time.monotonic()
            timeout = self._service.settings.session_idle_timeout
            stale = now - binding.last_used >= timeout - min(_IDLE_MARGIN, timeout / 10)
            if binding.session_id is None or stale:
                if binding.session_id is not None:
                    await self._service.close_session(binding.session_id)
                session = await self._service.create_session(binding.client_id, binding.metadata)
                binding.session_id = session.session_id
                log.info(
                    "session %s opened for client %s over %s",
                    session.session_id,
                    binding.client_id,
                    binding.metadata["transport"],
                )
            binding.last_used = now
            return binding.session_id

    # -- closing -------------------------------------------------------------------

    async def close(self, binding: Binding) -> None:
        session_id, binding.session_id = binding.session_id, None
        if session_id is None:
            return
        timeout = self._service.settings.session_idle_timeout
        if time.monotonic() - binding.last_used >= timeout:
            # Ended by the SDK's idle timeout: let the sweep mark it expired, not closed.
            await self._service.cleanup_inactive_sessions()
        try:
            if await self._service.close_session(session_id):
                log.info("session %s closed", session_id)
        except NotFoundError:  # deleted meanwhile: nothing left to close
            pass

    def _forget_live(self, binding: Binding) -> None:
        sessions = self._live.get(binding.client_id)
        if sessions is not None and binding.sdk_session_id is not None:
            sessions.pop(binding.sdk_session_id, None)
            if not sessions:
                del self._live[binding.client_id]

    def _later(self, work: Coroutine[Any, Any, object], *, delay: float = 0.0) -> None:
        """Run `work` in a task of its own (kept until done), after `delay` seconds."""

        async def run() -> None:
            if delay:
                await asyncio.sleep(delay)
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _connection_closed(self, binding: Binding) -> None:
        self._forget_live(binding)
        if self.closing:
            return  # the service closes every row it opened in one UPDATE at shutdown
        try:
            await self.close(binding)
        except Exception as exc:
            log.error("closing an ended connection's session failed: %s", describe_failure(exc))

    # -- ending SDK sessions ---------------------------------------------------------

    async def end_sdk_session(self, binding: Binding) -> None:
        """End a handshake session in the SDK now: its id answers 404 from here on.

        mcp 2.3 has no public call for it; its session manager keeps each
        session's transport by id, and terminating the transport ends the session
        (its exit stack then closes our row).
        """
        if self._manager is None or binding.sdk_session_id is None:
            return
        transport = self._manager._server_instances.get(binding.sdk_session_id)
        if transport is not None and not transport.is_terminated:
            await transport.terminate()

    async def end_sessions_of(self, client_ids: Iterable[str]) -> int:
        """End every live handshake session of these clients; returns how many."""
        bindings = [b for c in client_ids for b in list(self._live.get(c, {}).values())]
        for binding in bindings:
            await self.end_sdk_session(binding)
        if bindings:
            log.info("ended %d sessions of revoked clients", len(bindings))
        return len(bindings)

    def _revoked_here(self, client_id: str) -> None:
        """A revocation committed in this process: end the client's sessions at once."""
        if client_id in self._live:
            self._later(self.end_sessions_of([client_id]))

    async def watch_revocations(self, interval: float) -> None:
        """End the sessions of clients revoked by other processes (the CLI, another server)."""
        while True:
            await asyncio.sleep(interval)
            clients = list(self._live)
            if not clients:
                continue
            try:
                revoked: list[str] = []
                for start in range(0, len(clients), 500):
                    chunk = clients[start : start + 500]
                    revoked += await self._service.database.run_read(revoked_among, chunk)
                await self.end_sessions_of(revoked)
            except Exception as exc:
                log.warning("checking for revoked clients failed: %s", describe_failure(exc))

    async def close_all(self) -> None:
        """Server shutdown: close the stdio row and every stateless group."""
        bindings = [b for b in (self._stdio, *self._stateless.values()) if b is not None]
        self._stateless.clear()
        for binding in bindings:
            try:
                await self.close(binding)
            except Exception as exc:  # shutting down: say so, and go on with the rest
                log.error("closing a session at shutdown failed: %s", describe_failure(exc))


class SessionMiddleware:
    """Opens an HTTP connection's row once its `initialize` handshake has succeeded."""

    def __init__(self, router: SessionRouter) -> None:
        self._router = router

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method == "initialize":
            await self._router.on_initialize(ctx)
        return result
