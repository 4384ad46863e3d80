"""A pytest plugin writing down each tool call each test makes: `-p tests.dashboard.call_counter`.

The count the attribution test compares the rows with, taken where the calls are
made, not from the rows. Two places see every call of the realistic suite:

- the pipeline's entry (`ToolPipeline.execute`) sees the calls made in this process,
  straight to the service or through an in-memory MCP client;
- the official client's `Client.call_tool` sees the calls it sends to a server in
  another process (stdio, streamable HTTP); in-memory clients are left to the first
  place, so no call is counted twice.

Both wrap the original and change nothing about it. Each call is one JSON line in
the file named by MCP_CALL_LOG: the test running when the call started, where it
went (`pipeline`, or the client's transport), and what came back: an execution id
(`answered`), an answer without one (`refused` before the pipeline recorded
anything), or an exception (`raised`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Literal, TypeVar

import pytest
from mcp import Client
from mcp.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from mcp_service.errors import MCPServiceError
from mcp_service.pipeline import ToolPipeline
from mcp_service.protocol.server import META_EXECUTION

CALL_LOG_ENV = "MCP_CALL_LOG"
# answered: with an execution id; refused: answered without one; raised: no answer at all.
Outcome = Literal["answered", "refused", "raised"]
R = TypeVar("R")

_running: list[str] = []  # the node id of the test this process runs, if any
_log: list[int] = []  # the call log's descriptor, once opened


def write_call(
    nodeid: str | None, via: str, tool: str, outcome: Outcome, execution_id: str | None
) -> None:
    if not _log:
        _log.append(os.open(os.environ[CALL_LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT))
    line = {
        "nodeid": nodeid,
        "via": via,
        "tool": tool,
        "outcome": outcome,
        "execution_id": execution_id,
    }
    os.write(_log[0], json.dumps(line).encode() + b"\n")  # one append per line: lands whole


def counted(
    via: Callable[[Any], str | None],
    call: Callable[..., Coroutine[Any, Any, R]],
    tool_of: Callable[..., str],
    execution_of: Callable[[R], str | None],
) -> Callable[..., Coroutine[Any, Any, R]]:
    """The method `call`, writing one line per call it makes: `via(self)` says where the
    call goes (None: not counted here), `tool_of(*args, **kwargs)` names its tool."""

    @functools.wraps(call)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> R:
        where = via(self)
        if where is None:
            return await call(self, *args, **kwargs)
        nodeid = _running[-1] if _running else None
        tool = tool_of(*args, **kwargs)
        outcome: Outcome = "raised"
        execution_id: str | None = None
        try:
            result = await call(self, *args, **kwargs)
            execution_id = execution_of(result)
            outcome = "answered" if execution_id else "refused"
            return result
        except MCPServiceError as exc:  # the service's answer: its id names the call's row
            execution_id = exc.execution_id
            outcome = "answered" if execution_id else "refused"
            raise
        except MCPError as exc:  # a JSON-RPC error (an unknown tool): its data names the row
            data = exc.error.data
            execution_id = data.get("execution_id") if isinstance(data, dict) else None
            outcome = "answered" if execution_id else "refused"
            raise
        finally:
            write_call(nodeid, where, tool, outcome, execution_id)

    return wrapper


def client_execution_id(result: Any) -> str | None:
    """The execution id our server puts in a result: `_meta` on success, the payload on error."""
    if result.is_error:
        payload = result.structured_content
        return payload.get("execution_id") if isinstance(payload, dict) else None
    return (result.meta or {}).get(META_EXECUTION)


def transport_of(client: Client) -> str | None:
    """`stdio_client` or `streamable_http_client` (the SDK function that opened the
    transport); None for an in-memory client, whose calls the pipeline counts."""
    server = client.server
    if isinstance(server, Server | MCPServer):
        return None
    generator = getattr(server, "gen", None)  # an @asynccontextmanager's: named as its function
    return str(getattr(generator, "__name__", type(server).__name__))


def pytest_configure(config: pytest.Config) -> None:
    if CALL_LOG_ENV not in os.environ:
        raise pytest.UsageError(f"{__name__} writes to the file named by {CALL_LOG_ENV}: set it")
    pipeline: Any = ToolPipeline
    pipeline.execute = counted(
        lambda _: "pipeline",
        ToolPipeline.execute,
        lambda _session, tool_name, *_, **__: str(tool_name),
        lambda record: record.execution_id,
    )
    client: Any = Client
    client.call_tool = counted(
        transport_of, Client.call_tool, lambda name, *_, **__: str(name), client_execution_id
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    _running.append(item.nodeid)
    try:
        return (yield)
    finally:
        _running.pop()
