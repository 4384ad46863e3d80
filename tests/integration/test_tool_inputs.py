"""Each tool's input validation through the real pipeline: rejected, recorded once, no writes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from mcp_service import MCPService, NotFoundError, ToolExecutionError, ValidationError
from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext
from tests.integration.conftest import fetch_all, fetch_value

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("tools")]

INVALID_ARGUMENTS: list[tuple[str, Any, str]] = [
    ("echo", {}, "'message' is a required property"),
    ("echo", {"message": None}, "None is not of type 'string'"),
    ("echo", {"message": "x" * 10_001}, "is too long"),
    ("echo", {"message": "hi", "shout": True}, "Additional properties"),
    ("echo", "hello", "must be an object"),
    ("analyze_workload", {"samples": []}, "should be non-empty"),
    ("analyze_workload", {"samples": "1,2,3"}, "is not of type 'array'"),
    ("analyze_workload", {"samples": [{"latency_ms": -0.5}]}, "less than the minimum"),
    ("analyze_workload", {"samples": [{"latency_ms": True}]}, "is not of type 'number'"),
    ("analyze_workload", {"samples": [{"cost": 1}]}, "'latency_ms' is a required property"),
    ("analyze_workload", {"samples": [{"latency_ms": float("inf")}]}, "plain JSON"),
    ("corpus_add", {"title": "t"}, "'body' is a required property"),
    ("corpus_add", {"title": "t" * 201, "body": "b"}, "is too long"),
    ("corpus_add", {"title": "t", "body": "b", "tags": ["a", "a"]}, "non-unique"),
    # PostgreSQL text cannot hold NUL: refused on every engine alike, before any write.
    ("corpus_add", {"title": "t", "body": "a\x00b"}, "body must not contain NUL"),
    ("corpus_search", {"query": ""}, "should be non-empty"),
    ("corpus_search", {"query": "x", "limit": 101}, "greater than the maximum"),
    ("corpus_search", {"query": "x", "limit": "10"}, "is not of type 'integer'"),
    ("corpus_search", {"query": "-- ; ' \""}, "no searchable words"),
    ("list_executions", {"limit": -1}, "less than the minimum"),
    ("list_executions", {"status": "ok"}, "is not one of"),
    ("revoke_client", {}, "'client_id' is a required property"),
    ("revoke_client", {"client_id": 7}, "is not of type 'string'"),
]


@pytest.fixture
async def admin(service: MCPService, tag: str) -> tuple[str, str]:
    client = (await service.register_client(f"{tag} admin", "admin")).client
    session = await service.create_session(client.client_id)
    return client.client_id, session.session_id


@pytest.mark.parametrize(("tool", "arguments", "message"), INVALID_ARGUMENTS)
async def test_invalid_arguments_are_rejected_and_recorded(
    service: MCPService,
    raw_db: Any,
    admin: tuple[str, str],
    tool: str,
    arguments: Any,
    message: str,
) -> None:
    client_id, session_id = admin
    with pytest.raises(ValidationError, match=message) as caught:
        await service.execute_tool(session_id, tool, arguments, client_id=client_id)
    rows = await fetch_all(
        raw_db,
        "SELECT id, tool_name, status, error_message FROM tool_executions WHERE client_id = :c",
        c=client_id,
    )
    assert [(r.tool_name, r.status) for r in rows] == [(tool, "error")]
    assert rows[0].id == caught.value.execution_id
    assert message in rows[0].error_message
    assert (
        await fetch_value(
            raw_db, "SELECT count(*) FROM documents WHERE client_id = :c", c=client_id
        )
        == 0
    )
    assert (await service.get_session(session_id)).request_count == 1


async def test_revoking_an_unknown_client_is_a_recorded_error(
    service: MCPService, raw_db: Any, admin: tuple[str, str]
) -> None:
    client_id, session_id = admin
    with pytest.raises(NotFoundError, match="client 'nobody' not found"):
        await service.execute_tool(
            session_id, "revoke_client", {"client_id": "nobody"}, client_id=client_id
        )
    with pytest.raises(ValidationError, match="cannot revoke itself"):
        await service.execute_tool(
            session_id, "revoke_client", {"client_id": client_id}, client_id=client_id
        )
    statuses = await fetch_all(
        raw_db, "SELECT status FROM tool_executions WHERE client_id = :c", c=client_id
    )
    assert [s[0] for s in statuses] == ["error", "error"]


async def test_unicode_and_limits_round_trip(service: MCPService, admin: tuple[str, str]) -> None:
    client_id, session_id = admin
    prefix = "naïve café 🚀 "
    message = prefix + "x" * (10_000 - len(prefix))
    assert len(message) == 10_000
    echoed = await service.execute_tool(
        session_id, "echo", {"message": message}, client_id=client_id
    )
    assert echoed.result == {"message": message, "length": 10_000}

    for title in ("Größe Übersicht", "東京 ガイド", "smörgåsbord"):
        await service.execute_tool(
            session_id, "corpus_add", {"title": title, "body": f"{title} body"}, client_id=client_id
        )
    found = await service.execute_tool(
        session_id, "corpus_search", {"query": "東京"}, client_id=client_id
    )
    assert [r["title"] for r in found.result["results"]] == ["東京 ガイド"]


async def test_search_limit_total_and_like_fallback(
    service: MCPService, admin: tuple[str, str]
) -> None:
    client_id, session_id = admin
    for i in range(12):
        await service.execute_tool(
            session_id,
            "corpus_add",
            {"title": f"Note {i}", "body": f"latency budget note number {i}"},
            client_id=client_id,
        )
    fts = await service.execute_tool(
        session_id, "corpus_search", {"query": "Latency BUDGET", "limit": 5}, client_id=client_id
    )
    assert (fts.result["total"], len(fts.result["results"])) == (12, 5)
    assert service.database.has_fts is True

    # The portable LIKE search (used where FTS5 is missing, e.g. PostgreSQL) finds the same set.
    service.database.has_fts = False
    like = await service.execute_tool(
        session_id, "corpus_search", {"query": "latency budget", "limit": 100}, client_id=client_id
    )
    assert like.result["total"] == 12
    assert {r["title"] for r in like.result["results"]} == {f"Note {i}" for i in range(12)}
    percent = await service.execute_tool(
        session_id, "corpus_search", {"query": "100% budget"}, client_id=client_id
    )
    assert percent.result["total"] == 0


async def test_a_database_error_in_a_tool_reaches_the_caller_without_its_sql(
    service: MCPService, tag: str, step: Any
) -> None:
    async def broken(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
        await ctx.db.execute(text("SELECT * FROM no_such_table WHERE v = :v"), {"v": "SENTINEL"})
        return {}

    name = f"broken_{tag}"
    service.tools.register(
        Tool(
            name=name,
            description="Runs a statement that fails.",
            input_schema={"type": "object"},
            permission=Permission.WRITE,
            handler=broken,
            writes=True,
        )
    )
    client = (await service.register_client(f"{tag} sql", "basic")).client
    session = await service.create_session(client.client_id)
    with pytest.raises(ToolExecutionError) as failed:
        await service.execute_tool(session.session_id, name, {}, client_id=client.client_id)
    message = failed.value.message
    assert message.startswith(f"tool {name} failed: ProgrammingError") or message.startswith(
        f"tool {name} failed: OperationalError"
    )
    assert "no_such_table" in message
    assert "SELECT" not in message
    assert "SENTINEL" not in message
    step("A failing statement is named by the driver's message, without the SQL or its values")
