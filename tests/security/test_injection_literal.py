"""SQL-looking input is data: stored and returned literally everywhere, and searchable.

Why: every value a client controls reaches SQL somewhere — client names and
types (the CLI), client and session metadata (JSON columns), tool arguments
(the execution row), corpus documents and search queries (FTS5 MATCH), the
list_executions filter and revoke_client's id (WHERE clauses). Each must be
bound, never spliced, so these strings change nothing and come back unchanged.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from mcp_service import MCPService
from mcp_service.config import Settings
from tests.faults.processes import cli, mcp_client, new_database, register, start_server

DROP = "Robert'); DROP TABLE clients; --"
TRUE = '" OR 1=1 --'
QUOTE = "' OR '1'='1"
FTS = 'title:x* OR NEAR("a" b) AND -body ^c'  # FTS5 query syntax, meant as plain words
TABLES = {"clients", "sessions", "tool_executions", "documents"}


def tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows} & TABLES


async def test_sql_looking_input_is_stored_literally_everywhere(tmp_path: Path) -> None:
    url = new_database(tmp_path / "service.db")
    admin = register(url, DROP, "admin")  # the CLI: name through argv
    typed = cli(url, "register-client", "--name", TRUE, "--tier", "basic", "--type", QUOTE)
    assert typed.returncode == 0, typed.stderr
    listed = json.loads(cli(url, "clients", "--json").stdout)
    assert sorted((c["name"], c["type"]) for c in listed) == sorted(
        [(DROP, "generic"), (TRUE, QUOTE)]
    )

    service = MCPService(Settings(database_url=url, expiry_interval=3600.0))
    await service.initialize()
    try:
        meta = {DROP: TRUE, "nested": [QUOTE, {FTS: DROP}]}
        by_api = await service.register_client(QUOTE, "readonly", DROP, metadata=meta)
        session = await service.create_session(by_api.client_id, metadata={TRUE: [DROP]})
    finally:
        await service.shutdown()

    server = start_server(url, tmp_path / "server.log")
    try:
        async with mcp_client(server.url, admin.api_key) as client:

            async def call(name: str, arguments: dict[str, object]) -> dict[str, Any]:
                result = await client.call_tool(name, arguments)
                assert not result.is_error, result
                assert result.structured_content is not None
                return dict(result.structured_content)

            assert await call("echo", {"message": DROP}) == {"message": DROP, "length": len(DROP)}
            added = await call("corpus_add", {"title": DROP, "body": TRUE, "tags": [QUOTE, FTS]})
            await call("corpus_add", {"title": "plain", "body": "nothing to see"})
            for query in (DROP, TRUE, "robert drop table"):
                found = await call("corpus_search", {"query": query})
                assert found["total"] == 1, query  # all its words are in that one document
                assert found["results"][0]["document_id"] == added["document_id"]
                assert found["results"][0]["title"] == DROP
            none = await call("corpus_search", {"query": FTS})
            assert none == {"query": FTS, "total": 0, "results": []}  # no OR, NEAR, prefix…
            filtered = await call("list_executions", {"tool": TRUE})
            assert filtered == {"executions": []}  # not every row
            echoes = await call("list_executions", {"tool": "echo"})
            assert len(echoes["executions"]) == 1
            refused = await client.call_tool("revoke_client", {"client_id": QUOTE})
            assert refused.is_error and refused.structured_content["error"] == "not_found"
    finally:
        assert server.stop() == 0

    db = sqlite3.connect(tmp_path / "service.db")
    try:
        assert tables(db) == TABLES
        assert db.execute("SELECT count(*) FROM clients").fetchone() == (3,)
        assert db.execute("SELECT count(*) FROM clients WHERE revoked_at IS NULL").fetchone() == (
            3,
        )
        row = db.execute(
            "SELECT name, client_type, metadata FROM clients WHERE id = ?", (by_api.client_id,)
        ).fetchone()
        assert (row[0], row[1], json.loads(row[2])) == (QUOTE, DROP, meta)
        [(session_meta,)] = db.execute(
            "SELECT metadata FROM sessions WHERE id = ?", (session.session_id,)
        ).fetchall()
        assert json.loads(session_meta) == {TRUE: [DROP]}
        [(title, body, tags)] = db.execute(
            "SELECT title, body, tags FROM documents WHERE id = ?", (added["document_id"],)
        ).fetchall()
        assert (title, body, json.loads(tags)) == (DROP, TRUE, [QUOTE, FTS])
        stored = db.execute(
            "SELECT tool_name, arguments FROM tool_executions WHERE client_id = ? "
            "ORDER BY started_at, id",
            (admin.client_id,),
        ).fetchall()
        assert [(name, json.loads(arguments)) for name, arguments in stored] == [
            ("echo", {"message": DROP}),
            ("corpus_add", {"title": DROP, "body": TRUE, "tags": [QUOTE, FTS]}),
            ("corpus_add", {"title": "plain", "body": "nothing to see"}),
            ("corpus_search", {"query": DROP}),
            ("corpus_search", {"query": TRUE}),
            ("corpus_search", {"query": "robert drop table"}),
            ("corpus_search", {"query": FTS}),
            ("list_executions", {"tool": TRUE}),
            ("list_executions", {"tool": "echo"}),
            ("revoke_client", {"client_id": QUOTE}),
        ]
    finally:
        db.close()
