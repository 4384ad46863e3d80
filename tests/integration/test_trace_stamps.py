"""Rows carry the trace they were made in: in this process, and in a server reached over HTTP.

The trace is made the way mcp-dashboard's plugin makes one per test (`TestSpans`);
the official client sends it in each request's `_meta`, the SDK's middleware makes it
current in the server, and the service stamps its rows from there.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry import context
from opentelemetry.context import Context
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_dashboard.tracing import TRACEPARENT, TestSpans, TraceIds
from mcp_service import MCPService
from tests.integration.conftest import fetch_all
from tests.integration.mcp_peers import (
    UNLIMITED,
    HttpServer,
    http_client,
    start_http_server,
    stdio_mcp_client,
    stop,
)
from tests.toolkit import Step

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("tracing")]


@pytest.fixture
def http_server(database_url: str, tmp_path: Path) -> Iterator[HttpServer]:
    server = start_http_server(database_url, tmp_path / "server.log", **UNLIMITED)
    yield server
    if server.process.poll() is None:
        stop(server)


@contextmanager
def outside_any_trace() -> Iterator[None]:
    """No current span and no TRACEPARENT for the block, even when this test runs in a
    trace of its own (mcp-dashboard's plugin makes every test one)."""
    token = context.attach(Context())
    inherited = os.environ.pop(TRACEPARENT, None)
    try:
        yield
    finally:
        context.detach(token)
        if inherited is not None:
            os.environ[TRACEPARENT] = inherited


async def stamps(db: AsyncEngine, table: str, client_id: str) -> list[tuple[str | None, ...]]:
    column = "id" if table == "clients" else "client_id"
    extra = ", span_id" if table == "tool_executions" else ""
    order = "started_at, id" if table == "tool_executions" else "created_at, id"
    rows = await fetch_all(
        db,
        f"SELECT trace_id{extra} FROM {table} WHERE {column} = :c ORDER BY {order}",
        c=client_id,
    )
    return [tuple(row) for row in rows]


async def test_rows_made_in_process_carry_the_callers_trace_and_untraced_ones_none(
    service: MCPService, raw_db: AsyncEngine, step: Step
) -> None:
    spans = TestSpans()
    traced = spans.begin_test("tests/x.py::test_traced")
    try:
        client = (await service.register_client("traced", "basic")).client
        session = await service.create_session(client.client_id)
        for n in range(3):
            await service.execute_tool(
                session.session_id, "echo", {"message": str(n)}, client_id=client.client_id
            )
    finally:
        spans.end_test()
    with outside_any_trace():
        plain = (await service.register_client("untraced", "basic")).client
        plain_session = await service.create_session(plain.client_id)
        await service.execute_tool(
            plain_session.session_id, "echo", {"message": "-"}, client_id=plain.client_id
        )

    assert await stamps(raw_db, "clients", client.client_id) == [(traced.trace_id,)]
    assert await stamps(raw_db, "sessions", client.client_id) == [(traced.trace_id,)]
    assert (
        await stamps(raw_db, "tool_executions", client.client_id)
        == [(traced.trace_id, traced.span_id)] * 3
    )
    step("A client, its session and its 3 calls made in a trace carry its ids")
    assert await stamps(raw_db, "clients", plain.client_id) == [(None,)]
    assert await stamps(raw_db, "sessions", plain.client_id) == [(None,)]
    assert await stamps(raw_db, "tool_executions", plain.client_id) == [(None, None)]
    step("The same work outside any trace leaves NULL")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_calls_over_http_carry_each_callers_own_trace_into_the_server(
    mode: str, service: MCPService, raw_db: AsyncEngine, http_server: HttpServer, step: Step
) -> None:
    clients = [(await service.register_client(f"http trace {n}", "basic")) for n in range(2)]

    async def traced_calls(key: str, calls: int) -> TraceIds:
        spans = TestSpans()  # each task its own trace, as two tests in two workers would
        ids = spans.begin_test("tests/x.py::test_http")
        try:
            async with http_client(http_server.url, key, mode) as client:
                for n in range(calls):
                    assert not (await client.call_tool("echo", {"message": str(n)})).is_error
        finally:
            spans.end_test()
        return ids

    first, second = await asyncio.gather(
        traced_calls(clients[0].api_key, 3), traced_calls(clients[1].api_key, 2)
    )
    assert first.trace_id != second.trace_id
    for registered, ids, calls in ((clients[0], first, 3), (clients[1], second, 2)):
        rows = await stamps(raw_db, "tool_executions", registered.client_id)
        assert rows == [(ids.trace_id, ids.span_id)] * calls
        if mode == "legacy":  # the handshake opened the session inside the trace too
            assert await stamps(raw_db, "sessions", registered.client_id) == [(ids.trace_id,)]
    step(f"{mode}: two concurrent callers, 3 and 2 calls: each row carries its caller's trace")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_stdio_server_started_in_a_trace_opens_its_session_in_it(
    mode: str,
    service: MCPService,
    raw_db: AsyncEngine,
    database_url: str,
    tmp_path: Path,
    step: Step,
) -> None:
    traced = await service.register_client(f"stdio trace {mode}", "basic")
    plain = await service.register_client(f"stdio plain {mode}", "basic")
    spans = TestSpans()
    ids = spans.begin_test("tests/x.py::test_stdio")
    try:
        # The SDK starts the server with the environment it is given: the test passes
        # TRACEPARENT on, as it would any variable the server needs.
        env = {TRACEPARENT: ids.traceparent}
        async with stdio_mcp_client(
            database_url, traced.api_key, mode, tmp_path / "traced.log", env_extra=env
        ) as client:
            for n in range(2):
                assert not (await client.call_tool("echo", {"message": str(n)})).is_error
    finally:
        spans.end_test()
    with outside_any_trace():
        async with stdio_mcp_client(
            database_url, plain.api_key, mode, tmp_path / "plain.log"
        ) as client:
            assert not (await client.call_tool("echo", {"message": "-"})).is_error

    assert await stamps(raw_db, "sessions", traced.client_id) == [(ids.trace_id,)]
    assert (
        await stamps(raw_db, "tool_executions", traced.client_id)
        == [(ids.trace_id, ids.span_id)] * 2
    )
    step(f"{mode}: the session from TRACEPARENT at start, each call from its request's _meta")
    assert await stamps(raw_db, "sessions", plain.client_id) == [(None,)]
    assert await stamps(raw_db, "tool_executions", plain.client_id) == [(None, None)]
    step("A server started outside any trace, called outside one: NULL")


async def test_a_cli_command_started_in_a_trace_stamps_its_rows_with_it(
    service: MCPService, raw_db: AsyncEngine, database_url: str, step: Step
) -> None:
    """`mcp-service register-client` run by a traced test (or script) belongs to its trace;
    run outside one, its client row has none."""
    ids = TraceIds("ab" * 16, "cd" * 8)
    made = []
    for name, traceparent in (("cli traced", ids.traceparent), ("cli plain", None)):
        env = {k: v for k, v in os.environ.items() if k != TRACEPARENT}
        env["MCP_DATABASE_URL"] = database_url
        if traceparent is not None:
            env[TRACEPARENT] = traceparent
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *(
                "-m",
                "mcp_service.cli",
                "register-client",
                "--name",
                name,
                "--tier",
                "basic",
                "--json",
            ),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        made.append(json.loads(out)["client_id"])
    assert await stamps(raw_db, "clients", made[0]) == [(ids.trace_id,)]
    step("register-client with TRACEPARENT: the client row carries its trace")
    assert await stamps(raw_db, "clients", made[1]) == [(None,)]
    step("without it: NULL")
