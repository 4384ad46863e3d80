"""Each tool's input validation through the real pipeline: rejected, recorded once, no writes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService, NotFoundError, ToolExecutionError, ValidationError
from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext
from tests.integration.conftest import fetch_all, fetch_value
from tests.toolkit import Step, result_of

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("tools")]

# Each refusal's exact message: the first problem found, where it is, in the schema's terms.
INVALID_ARGUMENTS: list[tuple[str, Any, str]] = [
    ("echo", {}, '(root): "message" is a required property'),
    ("echo", {"message": None}, 'message: null is not of type "string"'),
    ("echo", {"message": "x" * 10_001}, "message: 10001 characters; the limit is 10000"),
    (
        "echo",
        {"message": "hi", "shout": True},
        "(root): Additional properties are not allowed (shout was unexpected)",
    ),
    ("echo", "hello", "arguments must be an object, got str"),
    ("analyze_workload", {"samples": []}, "samples: [] has less than 1 item"),
    ("analyze_workload", {"samples": "1,2,3"}, 'samples: "1,2,3" is not of type "array"'),
    (
        "analyze_workload",
        {"samples": [{"latency_ms": -0.5}]},
        "samples/0/latency_ms: -0.5 is less than the minimum of 0",
    ),
    (
        "analyze_workload",
        {"samples": [{"latency_ms": True}]},
        'samples/0/latency_ms: true is not of type "number"',
    ),
    (
        "analyze_workload",
        {"samples": [{"cost": 1}]},
        'samples/0: "latency_ms" is a required property',
    ),
    (
        "analyze_workload",
        {"samples": [{"latency_ms": float("inf")}]},
        "arguments must be plain JSON: samples/0/latency_ms is inf, not a JSON number",
    ),
    (
        "analyze_workload",
        {"samples": [{"latency_ms": 1}] * 10_001},
        "samples: 10001 items; the limit is 10000",
    ),
    ("corpus_add", {"title": "t"}, '(root): "body" is a required property'),
    ("corpus_add", {"title": "t" * 201, "body": "b"}, "title: 201 characters; the limit is 200"),
    (
        "corpus_add",
        {"title": "t", "body": "b", "tags": ["a", "a"]},
        'tags: ["a","a"] has non-unique elements',
    ),
    # The attack that held the event loop for 10 s: refused after one len().
    (
        "corpus_add",
        {"title": "t", "body": "b", "tags": [{"k": i} for i in range(2_500)]},
        "tags: 2500 items; the limit is 20",
    ),
    # PostgreSQL text cannot hold NUL, no database a lone surrogate: refused before any write.
    (
        "corpus_add",
        {"title": "t", "body": "a\x00b"},
        "body: text must be valid Unicode without NUL (a NUL character)",
    ),
    (
        "echo",
        {"message": "a\ud800b"},
        "message: text must be valid Unicode without NUL (a lone surrogate)",
    ),
    ("corpus_search", {"query": ""}, 'query: "" is shorter than 1 character'),
    (
        "corpus_search",
        {"query": "x", "limit": 101},
        "limit: 101 is greater than the maximum of 100",
    ),
    ("corpus_search", {"query": "x", "limit": "10"}, 'limit: "10" is not of type "integer"'),
    ("list_executions", {"limit": -1}, "limit: -1 is less than the minimum of 1"),
    (
        "list_executions",
        {"status": "ok"},
        'status: "ok" is not one of "success", "error" or 3 other candidates',
    ),
    ("revoke_client", {}, '(root): "client_id" is a required property'),
    ("revoke_client", {"client_id": 7}, 'client_id: 7 is not of type "string"'),
]


@pytest.fixture
async def admin(service: MCPService, tag: str) -> tuple[str, str]:
    client = (await service.register_client(f"{tag} admin", "admin")).client
    session = await service.create_session(client.client_id)
    return client.client_id, session.session_id


@pytest.mark.parametrize(("tool", "arguments", "message"), INVALID_ARGUMENTS)
async def test_invalid_arguments_are_rejected_and_recorded(
    service: MCPService,
    raw_db: AsyncEngine,
    admin: tuple[str, str],
    tool: str,
    arguments: Any,
    message: str,
) -> None:
    client_id, session_id = admin
    with pytest.raises(ValidationError) as caught:
        await service.execute_tool(session_id, tool, arguments, client_id=client_id)
    assert caught.value.message == f"invalid arguments for {tool}: {message}"
    rows = await fetch_all(
        raw_db,
        "SELECT id, tool_name, status, error_message FROM tool_executions WHERE client_id = :c",
        c=client_id,
    )
    assert [(r.tool_name, r.status) for r in rows] == [(tool, "error")]
    assert rows[0].id == caught.value.execution_id
    assert rows[0].error_message == caught.value.message
    assert (
        await fetch_value(
            raw_db, "SELECT count(*) FROM documents WHERE client_id = :c", c=client_id
        )
        == 0
    )
    assert (await service.get_session(session_id)).request_count == 1


async def test_a_query_without_searchable_words_is_a_recorded_error(
    service: MCPService, raw_db: AsyncEngine, admin: tuple[str, str]
) -> None:
    client_id, session_id = admin
    with pytest.raises(ValidationError) as caught:
        await service.execute_tool(
            session_id, "corpus_search", {"query": "-- ; ' \""}, client_id=client_id
        )
    assert caught.value.message == "query has no searchable words"
    statuses = await fetch_all(
        raw_db,
        "SELECT status, error_message FROM tool_executions WHERE client_id = :c",
        c=client_id,
    )
    assert [tuple(s) for s in statuses] == [("error", "query has no searchable words")]


async def test_revoking_an_unknown_client_is_a_recorded_error(
    service: MCPService, raw_db: AsyncEngine, admin: tuple[str, str]
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
    assert [r["title"] for r in result_of(found)["results"]] == ["東京 ガイド"]


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
    assert (result_of(fts)["total"], len(result_of(fts)["results"])) == (12, 5)
    assert service.database.has_fts is True

    # The portable LIKE search (used where FTS5 is missing, e.g. PostgreSQL) finds the same set.
    service.database.has_fts = False
    like = await service.execute_tool(
        session_id, "corpus_search", {"query": "latency budget", "limit": 100}, client_id=client_id
    )
    assert result_of(like)["total"] == 12
    assert {r["title"] for r in result_of(like)["results"]} == {f"Note {i}" for i in range(12)}
    percent = await service.execute_tool(
        session_id, "corpus_search", {"query": "100% budget"}, client_id=client_id
    )
    assert result_of(percent)["total"] == 0


async def test_a_database_error_in_a_tool_reaches_the_caller_without_its_sql(
    service: MCPService, tag: str, step: Step
) -> None:
    async def broken(ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
        await ctx.db.execute(text("SELECT * FROM no_such_table WHERE v = :v"), {"v": "SENTINEL"})
        return {}

    name = f"broken_{tag}"
    service.tools.register(
        Tool(
            name=name,
            description="Runs a statement that fails.",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            permission=Permission.WRITE,
            handler=broken,
            writes=True,
        )
    )
    client = (await service.register_client(f"{tag} sql", "basic")).client
    session = await service.create_session(client.client_id)
    with pytest.raises(ToolExecutionError) as failed:
        await service.execute_tool(session.session_id, name, {}, client_id=client.client_id)
    # The service's own words and the error's class: no driver text (it names tables), no SQL.
    assert failed.value.message in {
        f"tool {name} failed: a database error occurred (OperationalError)",  # SQLite
        f"tool {name} failed: a database error occurred (ProgrammingError)",  # PostgreSQL
    }
    step("A failing statement is reported without driver text, SQL or values")
