"""`logging/setLevel` filters a connection's log lines; an unknown tool is JSON-RPC -32602.

In memory (`Client(server)`, the handshake protocol, where setLevel exists) and once
over streamable HTTP against a real `mcp-service serve` process. The unknown tool
is refused as invalid params, as the MCP spec asks, and still recorded as one
refused call in the client's session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from mcp_service.protocol.server import build_server
from mcp_service.tools import default_registry
from tests.integration.conftest import fetch_value, make_settings
from tests.integration.mcp_peers import (
    MODES,
    Seen,
    http_client,
    log_recorder,
    new_seen,
    start_http_server,
    stop,
)
from tests.integration.protocol_checks import executions, sessions
from tests.protocol.chatty_tools import CHATTY
from tests.toolkit import Step

pytestmark = [
    pytest.mark.integration,
    pytest.mark.critical_path("protocol"),
    # setLevel and log lines are deprecated by the 2026-07-28 protocol, not by the handshake one.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

EVERY_LINE = ["debug line", "info line", "warning line", "error line"]
# The registry's refusal: the name asked for, then every tool there is.
UNKNOWN = (
    "unknown tool 'no_such_tool'; available: analyze_workload, analyze_workload_batches, "
    "corpus_add, corpus_search, echo, list_executions, log_each_level, revoke_client"
)


@pytest.fixture
async def chatty_service(database_url: str) -> AsyncIterator[MCPService]:
    tools = default_registry()
    tools.register(CHATTY)
    service = MCPService(make_settings(database_url), tools=tools)
    await service.initialize()
    try:
        yield service
    finally:
        await service.shutdown()


@asynccontextmanager
async def connected(
    service: MCPService, client_id: str, mode: str, seen: Seen
) -> AsyncIterator[Client]:
    """The SDK client on a server bound to `client_id` (as `serve --transport stdio` binds it)."""
    server = build_server(service, "stdio")
    await server.router.open_stdio(client_id)
    try:
        async with Client(
            server, mode=mode, logging_callback=log_recorder(seen), log_level="debug"
        ) as client:
            yield client
    finally:
        await server.router.close_all()


async def logged_by_a_call(client: Client, seen: Seen) -> list[str]:
    """The log lines one call of log_each_level delivered (they precede its result)."""
    seen.logs.clear()
    answer = await client.call_tool("log_each_level", {})
    assert not answer.is_error
    return list(seen.logs)


async def test_set_level_drops_the_lines_below_it_in_memory(
    chatty_service: MCPService, step: Step
) -> None:
    registered = await chatty_service.register_client("set level memory", "basic")
    seen = new_seen()
    async with connected(chatty_service, registered.client_id, "legacy", seen) as client:
        caps = client.server_capabilities
        assert caps.logging is not None
        step("initialize advertises the logging capability")
        assert await logged_by_a_call(client, seen) == EVERY_LINE
        step("Before any setLevel every line is sent")
        await client.set_logging_level("error")
        assert await logged_by_a_call(client, seen) == ["error line"]
        await client.set_logging_level("warning")
        assert await logged_by_a_call(client, seen) == ["warning line", "error line"]
        await client.set_logging_level("debug")
        assert await logged_by_a_call(client, seen) == EVERY_LINE
        await client.set_logging_level("emergency")
        assert await logged_by_a_call(client, seen) == []
    step("error, warning, debug, emergency: exactly the lines at or above each are sent")


async def test_the_level_belongs_to_one_connection(chatty_service: MCPService, step: Step) -> None:
    registered = await chatty_service.register_client("set level two", "basic")
    quiet, loud = new_seen(), new_seen()
    async with (
        connected(chatty_service, registered.client_id, "legacy", quiet) as first,
        connected(chatty_service, registered.client_id, "legacy", loud) as second,
    ):
        await first.set_logging_level("error")
        assert await logged_by_a_call(first, quiet) == ["error line"]
        assert await logged_by_a_call(second, loud) == EVERY_LINE
    step("A level set on one connection leaves another connection's lines alone")


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_tool_is_invalid_params_and_one_refused_row(
    mode: str, chatty_service: MCPService, raw_db: AsyncEngine, step: Step
) -> None:
    registered = await chatty_service.register_client(f"unknown tool {mode}", "basic")
    async with connected(chatty_service, registered.client_id, mode, new_seen()) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("no_such_tool", {"x": 1})
        assert (refused.value.code, refused.value.message) == (INVALID_PARAMS, UNKNOWN)
        assert not (await client.call_tool("echo", {"message": "after"})).is_error
    step(f"{mode}: tools/call of an unknown name is JSON-RPC error -32602; the next call works")

    [session] = await sessions(raw_db, registered.client_id)
    rows = await executions(raw_db, registered.client_id)
    assert rows == [("no_such_tool", "error", session.id), ("echo", "success", session.id)]
    assert refused.value.data == {"execution_id": await refused_row_id(raw_db, session.id)}
    step("Exactly one refused row for it, whose id the error's data names")


async def refused_row_id(db: AsyncEngine, session_id: str) -> str:
    value = await fetch_value(
        db,
        "SELECT id FROM tool_executions WHERE session_id = :s AND tool_name = 'no_such_tool'",
        s=session_id,
    )
    assert isinstance(value, str)
    return value


async def test_set_level_and_unknown_tool_over_streamable_http(
    database_url: str, service: MCPService, raw_db: AsyncEngine, tmp_path: Path, step: Step
) -> None:
    server = start_http_server(
        database_url,
        tmp_path / "server.log",
        MCP_TOOL_MODULES="tests.protocol.chatty_tools",
    )
    try:
        registered = await service.register_client("set level http", "basic")
        seen = new_seen()
        async with http_client(server.url, registered.api_key, "legacy", seen) as client:
            assert client.server_capabilities.logging is not None
            assert await logged_by_a_call(client, seen) == EVERY_LINE
            await client.set_logging_level("error")
            assert await logged_by_a_call(client, seen) == ["error line"]
            await client.set_logging_level("debug")
            assert await logged_by_a_call(client, seen) == EVERY_LINE
            step("HTTP: setLevel error sends only the error line; debug sends all four")
            with pytest.raises(MCPError) as refused:
                await client.call_tool("no_such_tool", {})
            assert (refused.value.code, refused.value.message) == (INVALID_PARAMS, UNKNOWN)
    finally:
        assert stop(server) == 0
    [session] = await sessions(raw_db, registered.client_id)
    assert [(t, s) for t, s, _ in await executions(raw_db, registered.client_id)] == [
        ("log_each_level", "success"),
        ("log_each_level", "success"),
        ("log_each_level", "success"),
        ("no_such_tool", "error"),
    ]
    assert refused.value.data == {"execution_id": await refused_row_id(raw_db, session.id)}
    step("HTTP: the unknown tool is -32602 and one refused row, next to the three calls")
