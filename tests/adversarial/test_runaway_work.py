"""Work that would never end: stopped at its deadline, by cancellation, or by SIGTERM.

Before: an FTS5 query answered 19 s after its 10 s timeout, one ran 11 minutes at
99 % CPU after its call was abandoned, and SIGTERM did not end the process. The
tools here run a statement that would take hours on either engine
(tests/adversarial/runaway_tools.py).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService, ToolTimeoutError
from mcp_service.db import sqlite_file
from mcp_service.limits import READ_PLACES
from tests.adversarial import runaway_tools
from tests.adversarial.conftest import ENVELOPE, Register, StartServer, headers, rpc
from tests.adversarial.leaks import mcp_client
from tests.integration.conftest import fetch_all, fetch_value, make_settings
from tests.toolkit import Step, text_of, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

RUNAWAY_MODULE = "tests.adversarial.runaway_tools"


@pytest.fixture
async def runaway_service(database_url: str) -> AsyncIterator[MCPService]:
    """A service whose tools include the runaway ones, with a half-second deadline."""
    service = MCPService(make_settings(database_url, tool_timeout=0.5))
    for tool in runaway_tools.TOOLS:
        service.tools.register(tool)
    await service.initialize()
    yield service
    await service.shutdown()


async def statement_is_running(database_url: str, raw_db: AsyncEngine) -> bool:
    """Whether the runaway statement still runs: on PostgreSQL its backend is active; on
    SQLite a writer would wait for its lock (a connection that never waits tries)."""
    path = sqlite_file(database_url)
    if path is None:
        active = await fetch_value(
            raw_db,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE :q "
            "AND datname = current_database()",  # not another run's, on the same server
            q=f"%-- {runaway_tools.MARKER}",
        )
        return bool(active)
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


@pytest.mark.parametrize("tool", ["runaway_read", "runaway_write"])
async def test_a_statement_past_its_deadline_is_stopped(
    runaway_service: MCPService, raw_db: AsyncEngine, database_url: str, tool: str, step: Step
) -> None:
    service = runaway_service
    client = (await service.register_client(f"deadline {tool}", "basic")).client
    session = await service.create_session(client.client_id)
    with pytest.raises(ToolTimeoutError) as stopped:
        await service.execute_tool(session.session_id, tool, {}, client_id=client.client_id)
    assert stopped.value.message == f"tool {tool} timed out after 0.5 s"
    # The statement is over when the call returns: on SQLite the write lock is free at once.
    assert not await statement_is_running(database_url, raw_db)
    rows = await fetch_all(
        raw_db, "SELECT status FROM tool_executions WHERE client_id = :c", c=client.client_id
    )
    assert [r.status for r in rows] == ["timeout"]
    echoed = await service.execute_tool(
        session.session_id, "echo", {"message": "next"}, client_id=client.client_id
    )
    assert echoed.status == "success"
    step(f"{tool}: stopped at its deadline, recorded as a timeout; the next call ran")


@pytest.mark.parametrize("tool", ["runaway_read", "runaway_write"])
async def test_a_cancelled_call_stops_its_statement(
    database_url: str, raw_db: AsyncEngine, tmp_path: Path, tool: str, step: Step
) -> None:
    service = MCPService(make_settings(database_url, tool_timeout=3600))
    for registered in runaway_tools.TOOLS:
        service.tools.register(registered)
    await service.initialize()
    try:
        client = (await service.register_client(f"cancel {tool}", "basic")).client
        session = await service.create_session(client.client_id)
        marker = tmp_path / "started"
        runaway_tools.MARK_FILE = marker
        call = asyncio.create_task(
            service.execute_tool(session.session_id, tool, {}, client_id=client.client_id)
        )
        await until(marker.exists, "the statement to start")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert not await statement_is_running(database_url, raw_db)
        rows = await fetch_all(
            raw_db,
            "SELECT status, error_message FROM tool_executions WHERE client_id = :c",
            c=client.client_id,
        )
        assert [tuple(r) for r in rows] == [("error", "cancelled")]
        assert (await service.get_session(session.session_id)).request_count == 1
    finally:
        runaway_tools.MARK_FILE = None
        await service.shutdown()
    step(f"{tool}: a cancelled call's statement stopped with it; one row, counted once")


async def test_another_client_is_served_while_a_runaway_statement_runs(
    register: Register, serve: StartServer, tmp_path: Path, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("runaway abuser"), await register("victim", "readonly")
    marker = tmp_path / "started"
    server = serve(
        MCP_TOOL_MODULES=RUNAWAY_MODULE, MCP_TOOL_TIMEOUT="5", MCP_TEST_MARKER=str(marker)
    )
    async with (
        mcp_client(server.url, abuser.api_key) as bad,
        mcp_client(server.url, victim.api_key) as good,
    ):
        attack = asyncio.create_task(bad.call_tool("runaway_read", {}))
        await until(marker.exists, "the runaway statement to start")
        echoed = await good.call_tool("echo", {"message": "served"})
        assert not attack.done(), "the victim was answered only after the runaway call"
        stopped = await attack
    assert echoed.structured_content == {"message": "served", "length": 6}
    assert stopped.is_error
    assert text_of(stopped) == "timeout: tool runaway_read timed out after 5 s"
    statuses = await fetch_all(
        raw_db, "SELECT status FROM tool_executions WHERE client_id = :c", c=abuser.client_id
    )
    assert [s.status for s in statuses] == ["timeout"]
    step("A runaway statement ran; the victim was answered; the runaway stopped at 5 s")


@pytest.mark.parametrize("tool", ["runaway_read", "runaway_write"])
async def test_sigterm_during_a_runaway_statement_ends_the_server_with_exact_counts(
    register: Register,
    serve: StartServer,
    tmp_path: Path,
    raw_db: AsyncEngine,
    tool: str,
    step: Step,
) -> None:
    abuser = await register(f"sigterm {tool}", "basic")
    marker = tmp_path / "started"
    server = serve(
        MCP_TOOL_MODULES=RUNAWAY_MODULE, MCP_TOOL_TIMEOUT="3600", MCP_TEST_MARKER=str(marker)
    )
    with pytest.raises(BaseException):  # noqa: B017 - the server goes away under the call
        async with mcp_client(server.url, abuser.api_key, read_timeout=120) as client:
            for n in range(5):
                assert not (await client.call_tool("echo", {"message": str(n)})).is_error
            attack = asyncio.create_task(client.call_tool(tool, {}))
            await until(marker.exists, "the runaway statement to start")
            server.process.terminate()
            await attack
    assert server.wait() == 0
    step(f"SIGTERM during {tool} (deadline an hour away): the server exited with status 0")

    rows = await fetch_all(
        raw_db,
        "SELECT status, error_message, session_id FROM tool_executions WHERE client_id = :c",
        c=abuser.client_id,
    )
    assert sorted((r.status, r.error_message) for r in rows) == sorted(
        [("success", None)] * 5 + [("error", "cancelled")]
    )
    [session] = await fetch_all(
        raw_db,
        "SELECT id, status, request_count FROM sessions WHERE client_id = :c",
        c=abuser.client_id,
    )
    assert (session.status, session.request_count) == ("closed", 6)
    assert {r.session_id for r in rows} == {session.id}
    step("6 rows (the cancelled one too), all counted by the session closed after them")


@pytest.mark.sqlite_only  # PostgreSQL has no single write lock to queue on
async def test_one_clients_writes_queue_behind_each_other_not_ahead_of_other_clients(
    register: Register,
    serve: StartServer,
    tmp_path: Path,
    raw_db: AsyncEngine,
    step: Step,
) -> None:
    """SQLite has one write lock for every client; one client holds one place in its queue.

    Before: a basic key with 8 `corpus_add` calls in flight kept 8 transactions in
    the queue ahead of every other client's execution row (another client's echo:
    8 ms p50 idle, 49 ms p50 and 171 ms p99 under it). Here the abuser's first
    writing call holds the lock until the test opens a gate; its two other calls
    and the victim's echo row arrive meanwhile.
    """
    abuser, victim = await register("write hog"), await register("victim", "readonly")
    report, gate = tmp_path / "queue.json", tmp_path / "gate"
    server = serve(
        MCP_TOOL_MODULES="tests.adversarial.write_queue_tools",
        MCP_TOOL_TIMEOUT="120",
        MCP_TEST_QUEUE=str(report),
        MCP_TEST_GATE=str(gate),
    )

    def queue() -> dict[str, int]:
        return json.loads(report.read_text()) if report.exists() else {"queued": 0, "turn": 0}

    async with (
        mcp_client(server.url, abuser.api_key, read_timeout=120) as bad,
        mcp_client(server.url, victim.api_key, read_timeout=120) as good,
    ):
        first = asyncio.create_task(bad.call_tool("gated_write", {}))
        await until(report.exists, "the first writing call to hold the write lock")
        more = [asyncio.create_task(bad.call_tool("gated_write", {})) for _ in range(2)]
        echo = asyncio.create_task(good.call_tool("echo", {"message": "served"}))
        # Everyone has arrived: the abuser's two calls (in the lock's queue, or waiting for
        # the abuser's turn) and the victim's row (in the lock's queue).
        await until(
            lambda: queue()["queued"] + max(queue()["turn"] - 1, 0) == 3,
            "two more writing calls and the victim's row to wait",
        )
        assert queue() == {"queued": 1, "turn": 3}
        step("While one writing call held the lock: only the victim's row queued for it")
        gate.touch()
        echoed = await echo
        done = [await first, *[await call for call in more]]
    assert echoed.structured_content == {"message": "served", "length": 6}
    assert [result.structured_content for result in done] == [{"held": True}] * 3
    # In commit order (rowid): the first call, the victim's echo, then the other two.
    rows = await fetch_all(
        raw_db,
        "SELECT tool_name FROM tool_executions WHERE client_id IN (:a, :v) ORDER BY rowid",
        a=abuser.client_id,
        v=victim.client_id,
    )
    assert [r.tool_name for r in rows] == ["gated_write", "echo", "gated_write", "gated_write"]
    step("The victim's row committed right after the call holding the lock")


async def test_clients_hanging_up_mid_write_leave_clean_rollbacks(
    register: Register, serve: StartServer, tmp_path: Path, raw_db: AsyncEngine, step: Step
) -> None:
    """A client that closes its connection while its writing call holds a transaction.

    The MCP SDK cancels the request's scope, and anyio cancels again at every
    await while it is cancelled. Before, that cut the rollback short: each hang-up
    logged SQLAlchemy's "Exception during reset" traceback and asyncio's "Task was
    destroyed but it is pending!" for the dropped connection's close, and under a
    flood of them another client's echo went from 24 ms to 530 ms at p99.
    """
    abuser, victim = await register("hang-up"), await register("victim", "readonly")
    report, gate = tmp_path / "queue.json", tmp_path / "gate"
    server = serve(
        MCP_TOOL_MODULES="tests.adversarial.write_queue_tools",
        MCP_TEST_QUEUE=str(report),
        MCP_TEST_GATE=str(gate),
    )
    call = {"name": "gated_write", "arguments": {}, "_meta": ENVELOPE}
    body = json.dumps(rpc("tools/call", call))
    address = httpx2.URL(server.url)
    hang_ups = 3
    for n in range(hang_ups):
        report.unlink(missing_ok=True)
        _reader, writer = await asyncio.open_connection(address.host, address.port)
        head = [
            f"POST {address.path} HTTP/1.1",
            f"host: {address.host}:{address.port}",
            *(f"{k}: {v}" for k, v in headers(abuser.api_key, modern=True).items()),
            "mcp-method: tools/call",
            "mcp-name: gated_write",
            f"content-length: {len(body)}",
        ]
        writer.write(("\r\n".join([*head, "", ""]) + body).encode())
        await until(report.exists, f"call {n + 1} to hold its transaction")
        writer.close()  # hang up: the call is cancelled inside its transaction

        async def recorded(count: int = n + 1) -> bool:
            rows = await fetch_all(
                raw_db, "SELECT 1 FROM tool_executions WHERE client_id = :c", c=abuser.client_id
            )
            return len(rows) == count

        await until(recorded, f"call {n + 1} to be recorded")
    step(f"{hang_ups} clients hung up while their writing call held a transaction")
    async with mcp_client(server.url, victim.api_key) as good:
        echoed = await good.call_tool("echo", {"message": "served"})
    assert echoed.structured_content == {"message": "served", "length": 6}
    rows = await fetch_all(
        raw_db,
        "SELECT status, error_message FROM tool_executions WHERE client_id = :c",
        c=abuser.client_id,
    )
    assert [tuple(r) for r in rows] == [("error", "cancelled")] * hang_ups
    log = server.log_text()
    for noise in ("Traceback", "Exception during reset", "Task was destroyed"):
        assert noise not in log, log
    step("Each was rolled back and recorded once as cancelled; nothing in the log")


async def test_one_clients_database_reads_run_two_at_a_time(
    register: Register, serve: StartServer, tmp_path: Path, raw_db: AsyncEngine, step: Step
) -> None:
    """Reads share the CPU and the connection pool: a client runs READ_PLACES of them at once.

    Before: a basic key keeping 8 searches of 100 long documents in flight on
    PostgreSQL put another client's echo at 11x its idle p50 and 10x its p99.
    """
    abuser, victim = await register("read hog"), await register("victim", "readonly")
    report, gate = tmp_path / "queue.json", tmp_path / "gate"
    server = serve(
        MCP_TOOL_MODULES="tests.adversarial.write_queue_tools",
        MCP_TOOL_TIMEOUT="120",
        MCP_TEST_QUEUE=str(report),
        MCP_TEST_GATE=str(gate),
    )

    def state() -> dict[str, int]:
        return json.loads(report.read_text()) if report.exists() else {"running": 0, "turn": 0}

    async with (
        mcp_client(server.url, abuser.api_key, read_timeout=120) as bad,
        mcp_client(server.url, victim.api_key, read_timeout=120) as good,
    ):
        reads = [asyncio.create_task(bad.call_tool("gated_read", {})) for _ in range(4)]

        # Four in the turn and the allowed ones running (a read counts itself as running a
        # moment after its turn is granted: waiting for the turn alone raced that moment).
        def arrived() -> bool:
            now = state()
            return now["turn"] == 4 and now["running"] >= READ_PLACES

        await until(arrived, "the 4 reads to arrive and the allowed ones to run")
        assert state() == {"running": READ_PLACES, "turn": 4}
        step(f"4 reads of one client: {READ_PLACES} run, the others wait for its turn")
        listed = await good.call_tool("list_executions", {})
        assert not any(read.done() for read in reads)
        step("Another client's database read was served meanwhile")
        gate.touch()
        done = [await read for read in reads]
    assert listed.structured_content["executions"] == []
    assert [result.structured_content for result in done] == [{"held": True}] * 4
    rows = await fetch_all(
        raw_db, "SELECT status FROM tool_executions WHERE client_id = :c", c=abuser.client_id
    )
    assert [r.status for r in rows] == ["success"] * 4
