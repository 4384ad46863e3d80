"""The fast tool pipeline under load: exact counts, failures, revocation, threads, storage.

On SQLite the pipeline reads the caller on the event loop thread's own
connection and writes execution rows from a writer thread, with statements run
straight on pysqlite's cursor (mcp_service/db.py, statements.py). These tests
pin what that must not change: one row per call under heavy concurrency, a
failed group commit reaching every caller in it, a revocation made by another
connection stopping the very next call, a busy database never waited for on
the event loop, no thread left after shutdown, and rows stored exactly as
SQLAlchemy Core stores them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, insert, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService, PermissionDeniedError
from mcp_service.clients import client_by_key_id
from mcp_service.db import sqlite_file
from mcp_service.group_commit import Entry, write_entries
from mcp_service.models import Client, ToolExecution, table_of
from mcp_service.permissions import Permission
from mcp_service.pipeline import load_caller
from mcp_service.tools import Tool, ToolContext
from tests.integration.conftest import fetch_all, fetch_value, make_settings
from tests.toolkit import Step, result_of, until

pytestmark = pytest.mark.integration


def placeholders(ids: list[str]) -> tuple[str, dict[str, str]]:
    return ", ".join(f":p{i}" for i in range(len(ids))), {f"p{i}": v for i, v in enumerate(ids)}


@pytest.mark.critical_path("tools")
async def test_thousand_concurrent_calls_over_twenty_sessions_exact_counts(
    load_service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
) -> None:
    service = load_service
    clients = [(await service.register_client(f"{tag} c{i}", "basic")).client for i in range(4)]
    sessions = [await service.create_session(c.client_id) for c in clients for _ in range(5)]
    step("4 clients opened 20 sessions")

    calls = [
        service.execute_tool(s.session_id, "echo", {"message": f"call {i}"}, client_id=s.client_id)
        for i in range(1000)
        for s in [sessions[i % 20]]
    ]
    records = await asyncio.gather(*calls)
    assert [r.status for r in records] == ["success"] * 1000
    assert [result_of(r)["message"] for r in records] == [f"call {i}" for i in range(1000)]
    assert len({r.execution_id for r in records}) == 1000
    step("1,000 concurrent echo calls: 1,000 successes, 1,000 distinct execution ids")

    marks, params = placeholders([s.session_id for s in sessions])
    per_session = dict(
        await fetch_all(
            raw_db,
            f"SELECT session_id, count(*) FROM tool_executions WHERE session_id IN ({marks}) "
            "GROUP BY session_id",
            **params,
        )
    )
    assert per_session == {s.session_id: 50 for s in sessions}
    counts = dict(
        await fetch_all(
            raw_db, f"SELECT id, request_count FROM sessions WHERE id IN ({marks})", **params
        )
    )
    assert counts == {s.session_id: 50 for s in sessions}
    assert sum(counts.values()) == 1000
    stored = {
        r[0]
        for r in await fetch_all(
            raw_db, f"SELECT id FROM tool_executions WHERE session_id IN ({marks})", **params
        )
    }
    assert stored == {r.execution_id for r in records}
    for client in clients:
        # Batches commit in the order calls finished: the last one carries the latest time.
        latest = max(r.finished_at for r in records if r.client_id == client.client_id)
        assert (await service.clients.get(client.client_id)).last_active_at == latest
    step("Exactly 1,000 rows, 50 per session, request counts summing to exactly 1,000")


@pytest.mark.critical_path("resilience")
async def test_a_failed_group_commit_reaches_every_waiting_caller_and_commits_nothing(
    load_service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
) -> None:
    service = load_service
    client = (await service.register_client(f"{tag} batch", "basic")).client
    doomed = await service.create_session(client.client_id)
    healthy = await service.create_session(client.client_id)
    entered = 0
    gate = asyncio.Event()

    async def gated(_ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
        nonlocal entered
        entered += 1
        await gate.wait()
        return {"released": True}

    name = f"gate_{tag}"
    service.tools.register(
        Tool(
            name=name,
            description="Waits for the test.",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            permission=Permission.READ,
            handler=gated,
        )
    )
    calls = [
        asyncio.create_task(
            service.execute_tool(s.session_id, name, {}, client_id=client.client_id)
        )
        for s in [doomed, healthy] * 10
    ]
    await until(lambda: entered == 20, "all 20 calls inside the tool")
    # Rows naming a session that no longer exists break the foreign key: the whole batch fails.
    async with raw_db.begin() as conn:
        await conn.execute(text("DELETE FROM sessions WHERE id = :id"), {"id": doomed.session_id})
    gate.set()  # all 20 finish in the same loop turn, so they share one group commit
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(o) for o in outcomes] == [IntegrityError] * 20
    assert "foreign key" in str(outcomes[0]).lower()
    step("20 callers in one failed batch: all 20 got the database error")

    assert (
        await fetch_value(
            raw_db, "SELECT count(*) FROM tool_executions WHERE tool_name = :t", t=name
        )
        == 0
    )
    assert (await service.get_session(healthy.session_id)).request_count == 0
    step("Nothing of the failed batch was committed, request counts untouched")

    after = await service.execute_tool(
        healthy.session_id, "echo", {"message": "next"}, client_id=client.client_id
    )
    assert after.status == "success"
    assert (await service.get_session(healthy.session_id)).request_count == 1
    assert (
        await fetch_value(
            raw_db, "SELECT count(*) FROM tool_executions WHERE id = :i", i=after.execution_id
        )
        == 1
    )
    step("The writer recovered: the next call committed its row")


@pytest.mark.critical_path("permissions")
async def test_revocation_by_another_connection_stops_the_very_next_call(
    service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
) -> None:
    client = (await service.register_client(f"{tag} victim", "basic")).client
    session = await service.create_session(client.client_id)
    ok = await service.execute_tool(
        session.session_id, "echo", {"message": "before"}, client_id=client.client_id
    )
    assert ok.status == "success"

    # Another process (the CLI, a second server) revokes through its own connection.
    async with raw_db.begin() as conn:
        await conn.execute(
            update(table_of(Client))
            .where(table_of(Client).c.id == client.client_id)
            .values(revoked_at=datetime.now(UTC))
        )
    with pytest.raises(PermissionDeniedError, match="revoked"):
        await service.execute_tool(
            session.session_id, "echo", {"message": "after"}, client_id=client.client_id
        )
    rows = await fetch_all(
        raw_db,
        "SELECT status FROM tool_executions WHERE client_id = :c ORDER BY started_at",
        c=client.client_id,
    )
    assert [r.status for r in rows] == ["success", "denied"]
    step("A revocation written by another connection denied the very next call")


@pytest.mark.sqlite_only
@pytest.mark.critical_path("resilience")
async def test_a_busy_database_is_waited_for_off_the_event_loop(
    service: MCPService, database_url: str, step: Step
) -> None:
    path = sqlite_file(database_url)
    assert path is not None
    threads: list[tuple[int, str]] = []

    def probe(conn: Connection) -> str:
        # Taking the write lock is the one reliable way to meet SQLITE_BUSY in WAL mode.
        threads.append((threading.get_ident(), threading.current_thread().name))
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return "got the lock"

    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(service.database.read_now(probe))
        ticks = 0
        for _ in range(15):
            await asyncio.sleep(0.02)
            ticks += 1
        assert not task.done()
        assert ticks == 15
        holder.execute("ROLLBACK")
        assert await asyncio.wait_for(task, 30) == "got the lock"
    finally:
        holder.close()
    loop_thread = threading.get_ident()
    assert len(threads) == 2
    assert threads[0][0] == loop_thread
    assert threads[1][0] != loop_thread and threads[1][1].startswith("mcp-sqlite-reader")
    step("Busy at once on the loop, then waited for in a reader thread while the loop ran")

    client = (await service.register_client("after busy", "readonly")).client
    session = await service.create_session(client.client_id)
    record = await service.execute_tool(
        session.session_id, "echo", {"message": "ok"}, client_id=client.client_id
    )
    assert record.status == "success"
    step("Both connections usable afterwards")


@pytest.mark.sqlite_only
@pytest.mark.critical_path("tools")
async def test_a_lone_row_waits_for_a_busy_database_off_the_event_loop(
    service: MCPService, database_url: str, step: Step
) -> None:
    """A lone execution row commits on the loop thread only when SQLite's write lock is free
    at once; while another process holds it, the row waits in the writer thread."""
    path = sqlite_file(database_url)
    assert path is not None
    client = (await service.register_client("lone row", "readonly")).client
    session = await service.create_session(client.client_id)
    first = await service.execute_tool(
        session.session_id, "echo", {"message": "first"}, client_id=client.client_id
    )
    assert first.status == "success"  # the loop's writer connection is open now
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        call = asyncio.create_task(
            service.execute_tool(
                session.session_id, "echo", {"message": "wait"}, client_id=client.client_id
            )
        )
        ticks = 0
        for _ in range(15):
            await asyncio.sleep(0.02)
            ticks += 1
        assert (call.done(), ticks) == (False, 15)
        step("Another process holds the write lock: the call waits, the loop keeps running")
        holder.execute("ROLLBACK")
        record = await call
    finally:
        holder.close()
    assert record.status == "success"
    assert (await service.get_session(session.session_id)).request_count == 2
    step("The lock released, the row was committed and counted once")


@pytest.mark.critical_path("lifecycle")
async def test_shutdown_stops_every_database_thread(database_url: str, step: Step) -> None:
    before = set(threading.enumerate())
    service = MCPService(make_settings(database_url))
    await service.initialize()
    client = (await service.register_client("threads", "readonly")).client
    session = await service.create_session(client.client_id)
    # Calls that finish together share a batch, written by the writer thread (a lone row
    # may commit on the loop thread instead).
    await asyncio.gather(
        *(
            service.execute_tool(
                session.session_id, "echo", {"message": str(n)}, client_id=client.client_id
            )
            for n in range(4)
        )
    )
    started = [t for t in set(threading.enumerate()) - before if t.name.startswith("mcp-sqlite")]
    if sqlite_file(database_url) is not None:
        assert [t.name for t in started if "writer" in t.name] == ["mcp-sqlite-writer_0"]
    await service.shutdown()
    assert [t.name for t in started if t.is_alive()] == []
    step("shutdown() joined the writer and reader threads")


@pytest.mark.sqlite_only
@pytest.mark.critical_path("tools")
async def test_prepared_statements_store_and_read_exactly_what_core_does(
    service: MCPService, raw_db: AsyncEngine, database_url: str, tag: str, step: Step
) -> None:
    path = sqlite_file(database_url)  # the pysqlite path exists on SQLite only
    assert path is not None
    registered = await service.register_client(f"{tag} prepared", "basic", metadata={"k": [1]})
    client_id = registered.client_id
    session = await service.create_session(client_id)
    key_id = registered.api_key.split("_")[1]

    # Read: the pysqlite path (the loop's connection) and the Core path (aiosqlite, run_sync).
    fast = await service.database.read_now(load_caller, client_id, session.session_id)
    async with raw_db.connect() as conn:
        core = await conn.run_sync(load_caller, client_id, session.session_id)
        core_client = await conn.run_sync(client_by_key_id, key_id)
    assert fast == core and fast is not None and fast.session_status == "open"
    assert await service.database.read_now(client_by_key_id, key_id) == core_client
    step("load_caller and client_by_key_id read the same through both paths")

    now = datetime.now(UTC)

    def entry(execution_id: str) -> Entry:
        row = {
            "id": execution_id,
            "session_id": session.session_id,
            "client_id": client_id,
            "tool_name": "echo",
            "arguments": {"message": "é", "n": 1.5},
            "result": None,
            "status": "error",
            "error_message": None,
            "duration_ms": 1.25,
            "started_at": now,
            "finished_at": now,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
        }
        return Entry(row, True)

    await service.database.run_write(write_entries, [entry(f"{tag}-fast")])
    async with raw_db.begin() as conn:
        await conn.run_sync(write_entries, [entry(f"{tag}-core")])
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as reference:  # plain Core, as a reference
            reference.execute(insert(table_of(ToolExecution)), [entry(f"{tag}-ref").row])
    finally:
        engine.dispose()
    rows = await fetch_all(
        raw_db,
        "SELECT id, session_id, client_id, tool_name, arguments, typeof(result), result, status, "
        "error_message, duration_ms, started_at, finished_at FROM tool_executions "
        "WHERE id IN (:a, :b, :c) ORDER BY id",
        a=f"{tag}-core",
        b=f"{tag}-fast",
        c=f"{tag}-ref",
    )
    assert [r[0] for r in rows] == [f"{tag}-core", f"{tag}-fast", f"{tag}-ref"]
    assert tuple(rows[0])[1:] == tuple(rows[1])[1:] == tuple(rows[2])[1:]
    assert (await service.get_session(session.session_id)).request_count == 2
    step("Rows written through pysqlite are byte-for-byte what Core writes")
