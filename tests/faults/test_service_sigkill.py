"""A service process SIGKILLed with 200 tools/call in flight leaves a consistent database file.

Why: the pipeline promises exactly one complete execution row per call, a
session count that moves in the same transaction as the row, a writing tool's
document committed with its row, and an answer only after the row is
committed. A crash is where such promises break, so the server is killed with
no chance to clean up while four clients keep 50 calls each in flight, and the
SQLite file (its WAL recovered by the next opener) is checked row by row; then
a new server on the same file serves again.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_service import MCPService
from mcp_service.config import Settings
from tests.faults.processes import Registered, mcp_client, sqlite_url, start_server

CLIENTS = 4
IN_FLIGHT_PER_CLIENT = 50  # 200 calls in flight at every moment until the kill
MAX_CALLS_PER_CLIENT = 400  # a bound, never reached: the kill comes first
KILL_AFTER = 100  # answers received before the SIGKILL
WORD = "faultdoc"


def plan(client: int, n: int) -> tuple[str, dict[str, Any]]:
    """A mix: a writing tool, two reading tools and a schema error, so every row kind occurs."""
    kind = n % 4
    if kind == 0:
        return "corpus_add", {"title": f"{WORD} {client} {n}", "body": f"{WORD} body {n}"}
    if kind == 1:
        return "echo", {"message": f"{client}:{n}"}
    if kind == 2:
        return "analyze_workload", {"samples": [{"latency_ms": float(n)}, {"latency_ms": 1.0}]}
    return "echo", {"message": n}  # invalid: recorded as an error row


async def register_clients(database_url: str) -> list[Registered]:
    """Three basic clients and one readonly (its corpus_add calls are denied rows)."""
    service = MCPService(Settings(database_url=database_url, expiry_interval=3600.0))
    await service.initialize()
    try:
        tiers = ["basic"] * (CLIENTS - 1) + ["readonly"]
        made = [await service.register_client(f"sigkill {i}", tier) for i, tier in enumerate(tiers)]
    finally:
        await service.shutdown()
    return [Registered(r.client_id, r.api_key) for r in made]


def connection_lost_only(error: BaseException) -> bool:
    """What a client sees of a dead server: transport errors, or the SDK's dropped stream."""
    if isinstance(error, BaseExceptionGroup):
        return all(connection_lost_only(e) for e in error.exceptions)
    return isinstance(error, httpx2.TransportError | MCPError)


def check_consistency(
    db_file: Path, clients: list[Registered], answered: set[str], *, sessions_each: int = 1
) -> Counter[str]:
    """Every invariant the pipeline promises, read from the file the dead server left."""
    db = sqlite3.connect(db_file)  # opening recovers the WAL, as the next server would
    db.row_factory = sqlite3.Row
    try:
        assert db.execute("PRAGMA integrity_check").fetchall()[0][0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents_fts'").fetchone():
            # FTS5's own check that its index agrees with the documents table.
            db.execute("INSERT INTO documents_fts(documents_fts) VALUES ('integrity-check')")
        ids = [c.client_id for c in clients]
        marks = ",".join("?" * len(ids))
        query = f"SELECT * FROM tool_executions WHERE client_id IN ({marks})"
        rows = db.execute(query, ids).fetchall()
        statuses: Counter[str] = Counter()
        for row in rows:
            statuses[row["status"]] += 1
            assert row["session_id"] is not None and row["tool_name"]
            assert row["duration_ms"] >= 0
            assert row["started_at"] <= row["finished_at"]
            arguments = json.loads(row["arguments"])
            if row["status"] == "success":
                assert row["error_message"] is None
                result = json.loads(row["result"])
                if row["tool_name"] == "echo":  # the row is whole: its result is its call's
                    message = arguments["message"]
                    assert result == {"message": message, "length": len(message)}
            else:
                assert row["status"] in ("error", "denied") and row["error_message"]
        committed = {row["id"] for row in rows if row["status"] == "success"}
        assert answered <= committed, "an answered call's row was lost"

        for client in clients:
            sessions = db.execute(
                "SELECT id, request_count, status FROM sessions WHERE client_id = ?",
                (client.client_id,),
            ).fetchall()
            assert len(sessions) == sessions_each
            for session in sessions:
                counted = db.execute(
                    "SELECT count(*) FROM tool_executions WHERE session_id = ?", (session["id"],)
                ).fetchone()[0]
                assert session["request_count"] == counted
            documents = db.execute(
                "SELECT title FROM documents WHERE client_id = ? ORDER BY title",
                (client.client_id,),
            ).fetchall()
            added = db.execute(
                "SELECT arguments FROM tool_executions WHERE client_id = ? "
                "AND tool_name = 'corpus_add' AND status = 'success'",
                (client.client_id,),
            ).fetchall()
            assert sorted(d["title"] for d in documents) == sorted(
                json.loads(a["arguments"])["title"] for a in added
            )
        return statuses
    finally:
        db.close()


async def test_sigkill_mid_flight_leaves_complete_rows_and_a_restart_serves(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "service.db"
    url = sqlite_url(db_file)
    clients = await register_clients(url)
    # Sized for this load (50 calls in flight per client): the limits are not under test here.
    server = start_server(url, tmp_path / "server.log", MCP_LIMITS="off")
    answered: dict[int, set[str]] = {index: set() for index in range(CLIENTS)}
    started = [0] * CLIENTS

    async def slot(client: Client, index: int) -> None:
        """One of a client's in-flight calls: when it is answered, the next one starts."""
        while started[index] < MAX_CALLS_PER_CLIENT:
            n = started[index]
            started[index] += 1
            name, arguments = plan(index, n)
            result = await client.call_tool(name, arguments)
            if not result.is_error:
                assert result.meta is not None, result
                answered[index].add(result.meta["mcp-service/execution_id"])
            if sum(map(len, answered.values())) == KILL_AFTER:
                server.process.kill()  # SIGKILL, with 200 calls still in flight

    async def one_client(index: int) -> None:
        async with mcp_client(server.url, clients[index].api_key) as client:
            await asyncio.gather(*(slot(client, index) for _ in range(IN_FLIGHT_PER_CLIENT)))

    with pytest.raises(BaseExceptionGroup) as failed:
        async with asyncio.TaskGroup() as group:
            for index in range(CLIENTS):
                group.create_task(one_client(index))
    assert connection_lost_only(failed.value), failed.value
    assert server.wait() == -9
    every_answer = set().union(*answered.values())
    assert len(every_answer) >= KILL_AFTER

    statuses = check_consistency(db_file, clients, every_answer)
    assert len(every_answer) <= statuses["success"]
    assert statuses.total() < sum(started), "the kill came after every call was done"

    restarted = start_server(url, tmp_path / "restarted.log")
    try:
        async with mcp_client(restarted.url, clients[0].api_key) as client:
            echo = await client.call_tool("echo", {"message": "after the crash"})
            assert echo.structured_content == {"message": "after the crash", "length": 15}
            added = await client.call_tool("corpus_add", {"title": f"{WORD} new", "body": "x"})
            assert not added.is_error, added
            found = await client.call_tool("corpus_search", {"query": WORD, "limit": 100})
        db = sqlite3.connect(db_file)
        try:
            documents = db.execute(
                "SELECT count(*) FROM documents WHERE client_id = ?", (clients[0].client_id,)
            ).fetchone()[0]
        finally:
            db.close()
        # The full-text index survived the crash in step with the documents table.
        assert found.structured_content["total"] == documents
    finally:
        assert restarted.stop() == 0
    # The killed server's sessions stay open (nobody closed them); the new one is closed.
    check_consistency(db_file, clients[:1], answered[0], sessions_each=2)
