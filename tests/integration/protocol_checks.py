"""The scenario every MCP front must pass, and the database checks behind it.

Shared by the subprocess tests (test_mcp_protocol_realistic.py: real transports,
signals) and the in-memory ones (test_protocol_in_memory.py: the SDK's `Client(server)`
on the same protocol logic, without a process).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service.tools import default_registry
from tests.integration.conftest import fetch_all, fetch_value
from tests.integration.mcp_peers import Seen, progress_recorder
from tests.toolkit import text_of, until

TOOLS = {tool.name: tool for tool in default_registry()}
SAMPLES = [{"latency_ms": float(i % 97), "cost": 0.01} for i in range(600)]


# -- database checks -------------------------------------------------------------------------


async def executions(db: AsyncEngine, client_id: str) -> list[tuple[str, str, str | None]]:
    rows = await fetch_all(
        db,
        "SELECT tool_name, status, session_id FROM tool_executions WHERE client_id = :c "
        "ORDER BY started_at, id",
        c=client_id,
    )
    return [(r.tool_name, r.status, r.session_id) for r in rows]


async def sessions(db: AsyncEngine, client_id: str) -> list[Any]:
    return await fetch_all(
        db,
        "SELECT id, status, request_count, metadata FROM sessions WHERE client_id = :c "
        "ORDER BY created_at, id",
        c=client_id,
    )


async def sessions_closed(db: AsyncEngine, client_id: str, count: int) -> list[Any]:
    """The client's `count` session rows, once all are closed (another process closes them)."""
    rows: list[Any] = []

    async def closed() -> bool:
        rows[:] = await sessions(db, client_id)
        return len(rows) == count and all(r.status == "closed" for r in rows)

    await until(closed, f"{count} closed session(s) of {client_id}")
    return rows


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for sub in error.exceptions for leaf in leaves(sub)]
    return [error]


def assert_no_key(text: str, *keys: str) -> None:
    for key in keys:
        assert key not in text
        assert key.split("_", 2)[2] not in text  # nor the secret part alone


# -- the scenario every transport and mode must pass -------------------------------------------


async def exercise_every_tool(client: Client, victim_id: str, seen: Seen) -> list[str]:
    """List the tools, call each one for real, then a schema violation and an unknown tool.

    Returns the tool names the execution rows must show, in order."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(listed) == sorted(TOOLS)
    for name, tool in TOOLS.items():
        assert listed[name].input_schema == tool.input_schema
        assert listed[name].description == tool.description
        assert listed[name].meta == {"mcp-service/permission": tool.permission.value}

    echo = await client.call_tool("echo", {"message": "héllo"})
    assert not echo.is_error
    assert echo.structured_content == {"message": "héllo", "length": 5}
    assert json.loads(text_of(echo)) == {"message": "héllo", "length": 5}

    stats = await client.call_tool(
        "analyze_workload", {"samples": [{"latency_ms": 10}, {"latency_ms": 20, "cost": 0.5}]}
    )
    assert stats.structured_content["count"] == 2
    assert stats.structured_content["p50_latency_ms"] == 15.0
    assert stats.structured_content["total_cost"] == 0.5

    batches = await client.call_tool(
        "analyze_workload_batches",
        {"samples": SAMPLES, "batch_size": 100},
        progress_callback=progress_recorder(seen),
    )
    assert not batches.is_error, batches
    assert batches.structured_content["overall"]["count"] == 600
    assert [b["count"] for b in batches.structured_content["batches"]] == [100] * 6
    assert seen.progress == [(float(i), 6.0, f"batch {i}/6") for i in range(1, 7)]
    assert seen.logs[0] == "analyzing 600 samples in 6 batches"
    assert seen.logs[1].startswith("done: p95 ")

    added = await client.call_tool(
        "corpus_add", {"title": "Rate limits", "body": "Token bucket limits for the gateway"}
    )
    document_id = added.structured_content["document_id"]
    found = await client.call_tool("corpus_search", {"query": "bucket gateway"})
    assert found.structured_content["total"] == 1
    assert found.structured_content["results"][0]["document_id"] == document_id

    history = await client.call_tool("list_executions", {"limit": 4})
    assert [e["tool"] for e in history.structured_content["executions"]] == [
        "corpus_search",
        "corpus_add",
        "analyze_workload_batches",
        "analyze_workload",
    ]

    revoked = await client.call_tool("revoke_client", {"client_id": victim_id})
    assert revoked.structured_content == {
        "client_id": victim_id,
        "revoked": True,
        "already_revoked": False,
    }

    bad = await client.call_tool("echo", {"message": 5})
    assert bad.is_error
    assert text_of(bad) == (
        'invalid_input: invalid arguments for echo: message: 5 is not of type "string"'
    )
    assert bad.structured_content["error"] == "invalid_input"
    # An unknown tool is the request's own mistake: JSON-RPC invalid params, as the spec asks.
    with pytest.raises(MCPError) as unknown:
        await client.call_tool("no_such_tool", {})
    assert unknown.value.code == INVALID_PARAMS
    assert unknown.value.message.startswith("unknown tool 'no_such_tool'; available: ")
    return [
        "echo",
        "analyze_workload",
        "analyze_workload_batches",
        "corpus_add",
        "corpus_search",
        "list_executions",
        "revoke_client",
        "echo",
        "no_such_tool",
    ]


async def readonly_is_denied(client: Client) -> str:
    denied = await client.call_tool("corpus_add", {"title": "t", "body": "b"})
    assert denied.is_error
    assert denied.structured_content["error"] == "permission_denied"
    assert "lacks the write permission" in text_of(denied)
    allowed = await client.call_tool("echo", {"message": "still fine"})
    assert not allowed.is_error
    return str(denied.structured_content["execution_id"])


async def check_rows(
    db: AsyncEngine, admin_id: str, reader_id: str, expected_tools: list[str], denied_id: str
) -> None:
    rows = await executions(db, admin_id)
    assert [tool for tool, _, _ in rows] == expected_tools
    assert [status for _, status, _ in rows] == ["success"] * 7 + ["error", "error"]
    assert len({session for _, _, session in rows}) == 1
    reader_rows = await executions(db, reader_id)
    assert [(tool, status) for tool, status, _ in reader_rows] == [
        ("corpus_add", "denied"),
        ("echo", "success"),
    ]
    assert await fetch_value(
        db, "SELECT status FROM tool_executions WHERE id = :i", i=denied_id
    ) == ("denied")
    assert (
        await fetch_value(db, "SELECT count(*) FROM documents WHERE client_id = :c", c=reader_id)
        == 0
    )
