"""The protocol's logic through the SDK's in-memory client: no process, no socket.

`Client(server)` drives the real `ServiceMCPServer` in this process, over the
SDK's memory streams, in the legacy handshake and in the stateless protocol. The
server is bound to one client as `mcp-service serve --transport stdio` binds it
(`router.open_stdio`), and writes to the run's real database. Auth, permissions,
sessions and errors are asserted here, where a failure points at the logic; the
subprocess tests (test_mcp_protocol_realistic.py) keep transports and signals.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from mcp_service.limits import DEFAULT_LIMITS, Limits, TierLimits
from mcp_service.permissions import Permission
from mcp_service.protocol.auth import API_KEY_ENV, StartupError, authenticate_stdio
from mcp_service.protocol.server import build_server
from mcp_service.tools import Tool, ToolContext, default_registry
from tests.integration.conftest import fetch_all, make_settings
from tests.integration.mcp_peers import MODES, Seen, log_recorder, new_seen
from tests.integration.protocol_checks import (
    check_rows,
    executions,
    exercise_every_tool,
    readonly_is_denied,
    sessions,
)
from tests.toolkit import Step, text_of

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("protocol")]


async def broken(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    """A bug: a statement the database refuses, whose error names the SQL and a parameter."""
    await ctx.db.execute(text("SELECT secret_col FROM clients WHERE name = :n"), {"n": "hush"})
    return {}


BROKEN = Tool(
    name="broken",
    description="Fails as a bug would.",
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    permission=Permission.READ,
    handler=broken,
)


@asynccontextmanager
async def connected(
    service: MCPService, client_id: str, mode: str, seen: Seen | None = None
) -> AsyncIterator[Client]:
    """The SDK client on a server bound to `client_id`; its session closes on the way out."""
    server = build_server(service, "stdio")
    await server.router.open_stdio(client_id)
    logging_callback = log_recorder(seen or new_seen())
    try:
        async with Client(
            server, mode=mode, logging_callback=logging_callback, log_level="info"
        ) as client:
            yield client
    finally:
        await server.router.close_all()


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_and_the_readonly_refusal_through_the_in_memory_client(
    mode: str, service: MCPService, raw_db: AsyncEngine, step: Step
) -> None:
    admin = await service.register_client(f"memory {mode} admin", "admin")
    reader = await service.register_client(f"memory {mode} reader", "readonly")
    victim = await service.register_client(f"memory {mode} victim", "basic")
    seen = new_seen()
    async with connected(service, admin.client_id, mode, seen) as client:
        assert client.server_info is not None
        assert client.server_info.name == "mcp-service"
        expected = await exercise_every_tool(client, victim.client_id, seen)
    async with connected(service, reader.client_id, mode) as client:
        denied_id = await readonly_is_denied(client)
    step(f"{mode}: 7 tools listed and called, progress relayed, a write refused to readonly")

    await check_rows(raw_db, admin.client_id, reader.client_id, expected, denied_id)
    rows = await sessions(raw_db, admin.client_id) + await sessions(raw_db, reader.client_id)
    assert [(r.status, r.request_count) for r in rows] == [("closed", 9), ("closed", 2)]
    step("Exact rows: every call recorded in the client's one session, closed at the end")


async def test_the_stdio_key_check_names_what_is_wrong_and_never_echoes_the_key(
    service: MCPService, step: Step
) -> None:
    good = await service.register_client("memory key check", "basic")
    revoked = await service.register_client("memory revoked", "basic")
    assert await service.revoke_client(revoked.client_id)

    assert (await authenticate_stdio(service, {API_KEY_ENV: good.api_key})).client_id == (
        good.client_id
    )
    refusals: list[str] = []
    for env in (
        {},
        {API_KEY_ENV: "  "},
        {API_KEY_ENV: good.api_key[:-1] + ("A" if good.api_key[-1] != "A" else "B")},
        {API_KEY_ENV: revoked.api_key},
    ):
        with pytest.raises(StartupError) as refused:
            await authenticate_stdio(service, env)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    assert refusals[0].startswith(f"{API_KEY_ENV} is not set: a stdio server acts for one client")
    assert refusals[2] == f"{API_KEY_ENV} was refused: invalid API key"
    assert refusals[3] == f"{API_KEY_ENV} was refused: client {revoked.client_id} has been revoked"
    for refusal in refusals:
        assert good.api_key not in refusal and revoked.api_key not in refusal
    step("A missing, blank, wrong or revoked key is refused with one line naming why")


@pytest.mark.parametrize("mode", MODES)
async def test_a_key_revoked_mid_session_is_refused_on_its_next_call(
    mode: str, service: MCPService, raw_db: AsyncEngine, step: Step
) -> None:
    victim = await service.register_client(f"memory {mode} revoked later", "basic")
    async with connected(service, victim.client_id, mode) as client:
        assert not (await client.call_tool("echo", {"message": "before"})).is_error
        assert await service.revoke_client(victim.client_id)
        after = await client.call_tool("echo", {"message": "after"})
        assert after.is_error
        assert after.structured_content is not None
        assert text_of(after) == f"permission_denied: client {victim.client_id} has been revoked"
    step(f"{mode}: the call after revocation is refused, the one before it answered")

    assert [(t, s) for t, s, _ in await executions(raw_db, victim.client_id)] == [
        ("echo", "success"),
        ("echo", "denied"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_session_closed_under_a_client_is_replaced_by_a_new_one(
    mode: str, service: MCPService, raw_db: AsyncEngine, step: Step
) -> None:
    registered = await service.register_client(f"memory {mode} reopened", "basic")
    async with connected(service, registered.client_id, mode) as client:
        assert not (await client.call_tool("echo", {"message": "1"})).is_error
        [first] = await sessions(raw_db, registered.client_id)
        assert await service.close_session(first.id)
        refused = await client.call_tool("echo", {"message": "2"})
        assert refused.is_error
        assert refused.structured_content is not None
        assert text_of(refused) == f"session_closed: session {first.id} is closed"
        assert not (await client.call_tool("echo", {"message": "3"})).is_error
    step(f"{mode}: the call on a closed session is refused; the next one opens a new session")

    rows = await sessions(raw_db, registered.client_id)
    assert [(r.status, r.request_count) for r in rows] == [("closed", 1), ("closed", 1)]
    assert [(t, s) for t, s, _ in await executions(raw_db, registered.client_id)] == [
        ("echo", "success"),
        ("echo", "denied"),
        ("echo", "success"),
    ]


async def test_calls_over_the_tier_rate_are_refused_with_when_to_retry(
    database_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    slow = TierLimits(calls_per_second=0.001, burst=2, in_flight=4, sessions=4)
    limits = Limits({**DEFAULT_LIMITS, "basic": slow})
    service = MCPService(make_settings(database_url, limits=limits))
    await service.initialize()
    try:
        registered = await service.register_client("memory rate", "basic")
        async with connected(service, registered.client_id, "legacy") as client:
            answers = [await client.call_tool("echo", {"message": str(i)}) for i in range(3)]
    finally:
        await service.shutdown()
    assert [a.is_error for a in answers] == [False, False, True]
    refused = answers[2].structured_content
    assert refused is not None
    assert refused["error"] == "rate_limited"
    assert refused["retry_after"] > 0
    step("A burst of 2 is served, the third call is refused with retry_after")
    assert [(t, s) for t, s, _ in await executions(raw_db, registered.client_id)] == [
        ("echo", "success"),
        ("echo", "success"),
        ("echo", "rate_limited"),
    ]


async def test_a_statement_the_database_refuses_answers_its_class_and_logs_no_sql(
    database_url: str,
    database_backend: str,
    raw_db: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    step: Step,
) -> None:
    refusal = {"sqlite": "OperationalError", "postgresql": "ProgrammingError"}[database_backend]
    tools = default_registry()
    tools.register(BROKEN)
    service = MCPService(make_settings(database_url), tools=tools)
    await service.initialize()
    try:
        registered = await service.register_client("memory broken", "basic")
        with caplog.at_level(logging.DEBUG, logger="mcp_service"):
            async with connected(service, registered.client_id, "legacy") as client:
                answer = await client.call_tool("broken", {})
    finally:
        await service.shutdown()
    assert answer.is_error
    assert answer.structured_content is not None
    assert text_of(answer) == (
        f"tool_error: tool broken failed: a database error occurred ({refusal})"
    )
    assert answer.structured_content["error"] == "tool_error"
    for leak in ("secret_col", "hush", "SELECT"):
        assert leak not in str(answer.structured_content)
    step("A statement the database refuses reaches the client as its error class, no text")
    records = await fetch_all(
        raw_db,
        "SELECT status, error_message FROM tool_executions WHERE client_id = :c",
        c=registered.client_id,
    )
    assert [(r.status, r.error_message) for r in records] == [
        ("error", f"tool broken failed: a database error occurred ({refusal})")
    ]
    for leak in ("secret_col", "hush", "SELECT"):
        assert leak not in caplog.text
    step("The execution is recorded as an error; neither the row nor the log holds the text")


async def test_server_info_says_what_the_server_answers_initialize_with(
    service: MCPService, step: Step
) -> None:
    registered = await service.register_client("memory info", "basic")
    info = await service.get_server_info()
    async with connected(service, registered.client_id, "legacy") as client:
        offered = client.server_capabilities
        negotiated = client.protocol_version
    assert offered.resources is not None and offered.logging is not None
    assert info["capabilities"]["resources"] == {
        "subscribe": offered.resources.subscribe,
        "listChanged": offered.resources.list_changed,
    }
    assert negotiated in info["protocol_versions"]
    step("get_server_info and mcp-service info name the capabilities initialize offers")
