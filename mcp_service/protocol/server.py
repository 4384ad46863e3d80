"""The MCP server: the SDK's MCPServer, with the service's tool registry behind it.

`tools/list` is the registry, schemas and descriptions as the pipeline checks
them. `tools/call` is one `MCPService.execute_tool` call: session, permission,
schema validation, timeout and the execution row all happen there, and nowhere
else. Whatever the service raises comes back as an `isError` result with a
one-line message and the execution id, except a tool name the registry does not
have: that is the caller's mistake in the request itself, a JSON-RPC error
-32602 (invalid params) as the MCP spec asks, still recorded as a refused call.

`logging/setLevel` (handshake protocols) sets the least severe level a
connection is sent; the tools' log lines below it are dropped here. On the
stateless 2026-07-28 protocol the request's own `_meta` level does that, in the SDK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from typing import Any, get_args

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import SessionMessage
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    EmptyResult,
    LoggingLevel,
    SetLevelRequestParams,
    TextContent,
    ToolAnnotations,
)
from mcp.types import Tool as MCPTool

from mcp_service import __version__
from mcp_service.errors import (
    MCPServiceError,
    NotFoundError,
    RateLimitedError,
    SessionClosedError,
    SessionExpiredError,
)
from mcp_service.failures import describe_failure
from mcp_service.protocol.resources import ResourceFront
from mcp_service.protocol.session_router import SessionMiddleware, SessionRouter, connection_of
from mcp_service.protocol.stdio_input import forward_lenient
from mcp_service.service import SERVER_NAME, MCPService
from mcp_service.validation import storable

log = logging.getLogger(__name__)

# Log notifications are deprecated by the 2026-07-28 protocol, yet the handshake
# protocol still has them and clients still show them: send them, without a warning per call.
warnings.filterwarnings(
    "ignore", "The logging capability is deprecated", category=MCPDeprecationWarning
)

INSTRUCTIONS = (
    "Tools of the mcp-service: every call is checked against your API key's tier "
    "(readonly, basic, admin) and the tool's JSON Schema, and recorded."
)
META_PERMISSION = "mcp-service/permission"
META_EXECUTION = "mcp-service/execution_id"
# RFC 5424 severities, least severe first, as `logging/setLevel` orders them.
LOG_LEVELS: tuple[LoggingLevel, ...] = get_args(LoggingLevel)
_LOG_LEVEL_KEY = "mcp_service.log_level"  # in the connection's state: its setLevel level


def success_result(execution_id: str, result: dict[str, Any]) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(result, ensure_ascii=False))],
        structured_content=result,
        _meta={META_EXECUTION: execution_id},
    )


def error_result(error: MCPServiceError) -> CallToolResult:
    payload: dict[str, Any] = {
        "error": error.code,
        "message": error.message,
        "execution_id": error.execution_id,
    }
    if isinstance(error, RateLimitedError):
        payload["retry_after"] = round(error.retry_after, 3)
    return CallToolResult(
        content=[TextContent(type="text", text=f"{error.code}: {error.message}")],
        structured_content=payload,
        is_error=True,
    )


def internal_error_result() -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text="internal_error: the server failed; see its log")],
        structured_content={"error": "internal_error", "message": "the server failed"},
        is_error=True,
    )


def unknown_tool_error(error: NotFoundError) -> MCPError:
    """A call to a tool nobody registered: invalid params, with the refused call's row."""
    return MCPError(INVALID_PARAMS, error.message, data={"execution_id": error.execution_id})


async def set_log_level(
    ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
) -> EmptyResult:
    """`logging/setLevel`: this connection is sent log lines at `params.level` and above."""
    connection = connection_of(ctx)
    if connection is not None:
        connection.state[_LOG_LEVEL_KEY] = params.level
    return EmptyResult()


def log_level_allows(ctx: ServerRequestContext[Any, Any], level: LoggingLevel) -> bool:
    """Whether the connection's setLevel level (all levels until one is set) admits `level`."""
    connection = connection_of(ctx)
    floor = connection.state.get(_LOG_LEVEL_KEY) if connection is not None else None
    if floor not in LOG_LEVELS:
        return True
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(floor)


class _ClientReporter:
    """Relays a tool's progress and log lines to the calling client, best effort."""

    def __init__(self, context: Context[Any, Any]) -> None:
        self._context = context

    async def progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        try:
            await self._context.report_progress(done, total, message)
        except Exception:  # the client went away: the tool carries on
            log.debug("progress notification dropped", exc_info=True)

    async def log(self, level: str, message: str) -> None:
        known = next((name for name in LOG_LEVELS if name == level), None)
        if known is None or not log_level_allows(self._context.request_context, known):
            return  # no such level (a tool's typo) or below the connection's
        try:
            await self._context.log(known, message, logger_name=SERVER_NAME)
        except Exception:
            log.debug("log notification dropped", exc_info=True)


class ServiceMCPServer(MCPServer[Any]):
    """MCPServer whose tools are the service's registry and whose calls run its pipeline."""

    def __init__(self, service: MCPService, router: SessionRouter, **kwargs: Any) -> None:
        kwargs.setdefault("log_level", "WARNING")
        super().__init__(SERVER_NAME, version=__version__, instructions=INSTRUCTIONS, **kwargs)
        self.service = service
        self.router = router
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.middleware.append(SessionMiddleware(router))
        # Serving the method is what advertises the `logging` capability (lowlevel Server).
        self._lowlevel_server.add_request_handler(
            "logging/setLevel", SetLevelRequestParams, set_log_level
        )
        # Resources, subscriptions and listen streams: one client's own (protocol/resources.py).
        self.resources = ResourceFront(service, router)
        self.resources.install(self._lowlevel_server)
        self._listed = [
            MCPTool(
                name=tool.name,
                description=tool.description,
                input_schema=tool.input_schema,
                annotations=ToolAnnotations(read_only_hint=not tool.writes),
                _meta={META_PERMISSION: tool.permission.value},
            )
            for tool in service.tools
        ]

    async def run_stdio_async(self) -> None:
        """The SDK's stdio loop, with the lines its parser refuses answered (stdio_input.py).

        mcp 2.3 exposes no hook between its stdio transport and its server loop, so
        this reaches the loop through `_lowlevel_server`, as its own
        `run_stdio_async` does.
        """
        lowlevel = self._lowlevel_server
        async with stdio_server() as (read_stream, write_stream):
            send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            async with anyio.create_task_group() as group:
                group.start_soon(forward_lenient, read_stream, send, write_stream)
                await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
                group.cancel_scope.cancel()

    async def list_tools(self) -> list[MCPTool]:
        return [tool.model_copy() for tool in self._listed]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        if context is None:
            raise RuntimeError("tools are called through an MCP request")
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._call(name, arguments, context)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until no call is in flight (for shutdown); False if `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _call(
        self,
        name: str,
        arguments: dict[str, Any],
        context: Context[Any, Any],
        *,
        again: bool = True,
    ) -> CallToolResult:
        binding = session_id = None
        # Known before the call: the registry is fixed while the server runs.
        unknown = self.service.tools.find(name) is None
        try:
            binding = self.router.binding(context.request_context)
            session_id = await self.router.session_for(binding)
            record = await self.service.execute_tool(
                session_id,
                name,
                arguments,
                client_id=binding.client_id,
                reporter=_ClientReporter(context),
            )
        except SessionClosedError as exc:
            if binding is not None and session_id is not None:
                binding.forget(session_id)
                if again and isinstance(exc, SessionExpiredError):
                    # Its key in Redis went away (Redis lost its data: the connection rolls
                    # its row before it idles out otherwise). The client can do nothing about
                    # a row it never sees: the call runs again on a new one (this refusal
                    # is recorded, `denied`; the tool had not run).
                    return await self._call(name, arguments, context, again=False)
            return error_result(exc)
        except NotFoundError as exc:
            # The pipeline checks the client and its session before the name, so a call
            # that names no tool and lost its session also answers -32602, saying so.
            if unknown:
                raise unknown_tool_error(exc) from None
            return error_result(exc)
        except MCPServiceError as exc:
            return error_result(exc)
        except Exception as exc:
            # Unexpected (a database failure, a bug): logged here without internals (the
            # formatter hides database text), never detailed to the client.
            log.error("tools/call %s failed: %s", storable(name)[:100], describe_failure(exc))
            log.debug("tools/call failure", exc_info=True)
            return internal_error_result()
        return success_result(record.execution_id, record.result or {})


def build_server(service: MCPService, transport: str, **kwargs: Any) -> ServiceMCPServer:
    return ServiceMCPServer(service, SessionRouter(service, transport), **kwargs)
