"""The MCP protocol front, driven by the official SDK client against real `mcp-service serve`.

Every server is a real subprocess (`python -m mcp_service.cli serve`) on a real
SQLite file; every client is `mcp.Client` over stdio or streamable HTTP, in
`mode="legacy"` (the initialize handshake, `Mcp-Session-Id`, JSON-RPC framing)
and in the default mode (the stateless 2026-07-28 protocol). Assertions are
exact and read back from the database file; tests create their own clients and
filter by their ids, so a database shared with other runs is fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_dashboard.db_views.postgres import sync_url
from mcp_service import MCPService
from tests.integration.conftest import fetch_all, stored_json
from tests.integration.mcp_peers import (
    MODES,
    ROOT,
    SERVE,
    UNLIMITED,
    HttpServer,
    http_client,
    new_seen,
    start_http_server,
    stdio_mcp_client,
    stop,
)
from tests.integration.protocol_checks import (
    assert_no_key,
    check_rows,
    executions,
    exercise_every_tool,
    leaves,
    readonly_is_denied,
    sessions,
    sessions_closed,
)
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("protocol")]


# -- fixtures: one database file and one HTTP server per module ------------------------------


@pytest.fixture(scope="module")
def db_url(database_url: str) -> str:
    """The suite's database (conftest.py): the servers started here write to it too."""
    return database_url


@pytest.fixture
def db(raw_db: AsyncEngine) -> AsyncEngine:
    return raw_db


@pytest.fixture(scope="module")
def http_server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    server = start_http_server(db_url, tmp_path_factory.mktemp("http") / "server.log", **UNLIMITED)
    yield server
    if server.process.poll() is None:
        stop(server)


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_over_stdio(
    mode: str, service: MCPService, db: AsyncEngine, db_url: str, tmp_path: Path, step: Step
) -> None:
    admin = await service.register_client(f"stdio {mode} admin", "admin", client_type="ide")
    reader = await service.register_client(f"stdio {mode} reader", "readonly")
    victim = await service.register_client(f"stdio {mode} victim", "basic")
    seen = new_seen()
    logs = [tmp_path / "admin.log", tmp_path / "reader.log"]

    async def admin_run() -> list[str]:
        async with stdio_mcp_client(db_url, admin.api_key, mode, logs[0], seen) as client:
            assert client.server_info is not None
            assert client.server_info.name == "mcp-service"
            [row] = await sessions(db, admin.client_id)
            assert row.status == "open"
            assert stored_json(row.metadata)["transport"] == "stdio"
            return await exercise_every_tool(client, victim.client_id, seen)

    async def reader_run() -> str:
        async with stdio_mcp_client(db_url, reader.api_key, mode, logs[1]) as client:
            return await readonly_is_denied(client)

    expected, denied_id = await asyncio.gather(admin_run(), reader_run())
    step(f"stdio {mode}: 7 tools listed with their schemas, each called, progress received")
    await check_rows(db, admin.client_id, reader.client_id, expected, denied_id)
    step("Exact rows: 7 success, a schema error, an unknown tool; readonly write denied")

    [admin_session] = await sessions_closed(db, admin.client_id, 1)
    assert admin_session.request_count == 9
    [reader_session] = await sessions_closed(db, reader.client_id, 1)
    assert reader_session.request_count == 2
    step("One session row per stdio process, closed when the client disconnected")
    for log in logs:
        assert_no_key(log.read_text(), admin.api_key, reader.api_key)


@pytest.mark.parametrize("mode", MODES)
async def test_every_tool_over_http(
    mode: str, service: MCPService, db: AsyncEngine, http_server: HttpServer, step: Step
) -> None:
    admin = await service.register_client(f"http {mode} admin", "admin", client_type="agent")
    reader = await service.register_client(f"http {mode} reader", "readonly")
    victim = await service.register_client(f"http {mode} victim", "basic")
    seen = new_seen()

    async def admin_run() -> list[str]:
        async with http_client(http_server.url, admin.api_key, mode, seen) as client:
            expected = await exercise_every_tool(client, victim.client_id, seen)
            [row] = await sessions(db, admin.client_id)
            assert row.status == "open"
            meta = stored_json(row.metadata)
            assert meta["transport"] == "streamable-http"
            assert ("mcp_session_id" in meta) is (mode == "legacy")
            return expected

    async def reader_run() -> str:
        async with http_client(http_server.url, reader.api_key, mode) as client:
            return await readonly_is_denied(client)

    expected, denied_id = await asyncio.gather(admin_run(), reader_run())
    step(f"http {mode}: 7 tools listed, each called through the pipeline, progress received")
    await check_rows(db, admin.client_id, reader.client_id, expected, denied_id)
    step("Exact rows: 7 success, a schema error, an unknown tool; readonly write denied")

    if mode == "legacy":
        [row] = await sessions_closed(db, admin.client_id, 1)
        assert row.request_count == 9
        step("Legacy: one session row per Mcp-Session-Id, closed on the client's DELETE")
    else:
        [row] = await sessions(db, admin.client_id)
        assert (row.status, row.request_count) == ("open", 9)
        step("Stateless 2026-07-28: the client's calls grouped in one open session row")
    assert_no_key(http_server.log.read_text(), admin.api_key, reader.api_key)


async def test_http_auth_missing_wrong_and_revoked_keys(
    service: MCPService, db: AsyncEngine, http_server: HttpServer, step: Step
) -> None:
    good = await service.register_client("http auth", "basic")
    forged = good.api_key[:-4] + ("AAAA" if not good.api_key.endswith("AAAA") else "BBBB")
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient() as http:
        for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Basic x"}):
            response = await http.post(http_server.url, json=listing, headers=headers)
            assert response.status_code == 401
            assert response.json() == {
                "error": "invalid_token",
                "error_description": "Authentication required",
            }
            assert response.headers["www-authenticate"].endswith(
                f'resource_metadata="{http_server.base}/.well-known/oauth-protected-resource/mcp"'
            )
            assert_no_key(response.text, good.api_key)
        metadata = await http.get(f"{http_server.base}/.well-known/oauth-protected-resource/mcp")
        assert metadata.status_code == 200
        assert metadata.json()["resource"] == http_server.url
    step("No key, a forged key, a non-bearer header: 401 with the protected-resource metadata")

    for mode in MODES:
        with pytest.raises((MCPError, ExceptionGroup)) as refused:
            async with http_client(http_server.url, forged, mode):
                pass
        assert any(isinstance(leaf, MCPError) for leaf in leaves(refused.value))
    step("The SDK client cannot connect with a wrong key, in either mode")

    for mode in MODES:
        victim = await service.register_client(f"http revoked {mode}", "basic")
        with pytest.raises((MCPError, ExceptionGroup)) as after_revoke:
            async with http_client(http_server.url, victim.api_key, mode) as client:
                assert not (await client.call_tool("echo", {"message": "before"})).is_error
                assert await service.revoke_client(victim.client_id) is True
                await client.call_tool("echo", {"message": "after"})
        assert any(isinstance(leaf, MCPError) for leaf in leaves(after_revoke.value))
        assert [(t, s) for t, s, _ in await executions(db, victim.client_id)] == [
            ("echo", "success")
        ]
        assert [r.status for r in await sessions(db, victim.client_id)] == ["closed"]
    step("A revoked key is refused on its very next call; the refused call left no row")


async def test_stdio_refuses_to_start_without_a_valid_key(
    service: MCPService, db: AsyncEngine, db_url: str, step: Step
) -> None:
    revoked = await service.register_client("stdio revoked", "basic")
    await service.revoke_client(revoked.client_id)
    wrong = revoked.api_key[:-4] + ("AAAA" if not revoked.api_key.endswith("AAAA") else "BBBB")
    base_env = {k: v for k, v in os.environ.items() if k != "MCP_API_KEY"}
    base_env["MCP_DATABASE_URL"] = db_url
    cases = {
        "missing": (None, "MCP_API_KEY is not set"),
        "wrong": (wrong, "MCP_API_KEY was refused: invalid API key"),
        "revoked": (
            revoked.api_key,
            f"MCP_API_KEY was refused: client {revoked.client_id} has been revoked",
        ),
    }
    processes = {
        name: subprocess.Popen(
            SERVE,
            cwd=ROOT,
            env=base_env if key is None else {**base_env, "MCP_API_KEY": key},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, (key, _) in cases.items()
    }
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    for name, process in processes.items():
        out, err = process.communicate(json.dumps(initialize).encode() + b"\n", timeout=60)
        assert process.returncode == 2, name
        assert out == b"", name  # nothing served: not even the initialize answer
        lines = err.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"mcp-service: error: {cases[name][1]}")
        assert_no_key(err.decode(), revoked.api_key, wrong)
    assert await sessions(db, revoked.client_id) == []
    step("Missing, wrong and revoked MCP_API_KEY: exit 2, one clear line on stderr, no session")


async def test_concurrent_clients_exact_counts(
    service: MCPService,
    db: AsyncEngine,
    db_url: str,
    http_server: HttpServer,
    tmp_path: Path,
    step: Step,
) -> None:
    calls = 25
    plan = (
        [("http", "legacy")] * 3 + [("http", "auto")] * 3 + [("stdio", "legacy"), ("stdio", "auto")]
    )
    clients = [
        await service.register_client(f"concurrent {i} {transport} {mode}", "basic")
        for i, (transport, mode) in enumerate(plan)
    ]

    async def run(index: int) -> None:
        transport, mode = plan[index]
        key = clients[index].api_key
        if transport == "http":
            connect = http_client(http_server.url, key, mode)
        else:
            connect = stdio_mcp_client(
                db_url, key, mode, tmp_path / f"stdio-{index}.log", env_extra=UNLIMITED
            )
        async with connect as client:
            results = await asyncio.gather(
                *(client.call_tool("echo", {"message": f"{index}:{n}"}) for n in range(calls))
            )
            assert [r.structured_content["message"] for r in results] == [
                f"{index}:{n}" for n in range(calls)
            ]

    await asyncio.gather(*(run(i) for i in range(len(plan))))
    step(f"{len(plan)} clients over stdio and HTTP, {calls} concurrent calls each, all answered")
    for registered in clients:
        rows = await executions(db, registered.client_id)
        assert [(t, s) for t, s, _ in rows] == [("echo", "success")] * calls
    for registered in clients:
        [row] = await sessions(db, registered.client_id)
        assert row.request_count == calls
    step(f"Exactly {calls} success rows per client and one session row each, counting {calls}")
    keys = [c.api_key for c in clients]
    assert_no_key(http_server.log.read_text(), *keys)


async def test_stateless_sessions_close_at_server_shutdown(
    service: MCPService, db: AsyncEngine, db_url: str, tmp_path: Path, step: Step
) -> None:
    server = start_http_server(db_url, tmp_path / "server.log")
    try:
        modern = await service.register_client("stateless grouping", "basic")
        legacy = await service.register_client("legacy per connection", "basic")
        for _ in range(2):
            async with http_client(server.url, modern.api_key, "auto") as client:
                await client.call_tool("echo", {"message": "a"})
            async with http_client(server.url, legacy.api_key, "legacy") as client:
                await client.call_tool("echo", {"message": "b"})
        [group] = await sessions(db, modern.client_id)
        assert (group.status, group.request_count) == ("open", 2)
        assert stored_json(group.metadata)["stateless"] is True
        per_connection = await sessions_closed(db, legacy.client_id, 2)
        assert [r.request_count for r in per_connection] == [1, 1]
        step("Stateless calls of one client share one row; each legacy connection has its own")
    finally:
        code = stop(server)
    assert code == 0
    [group] = await sessions(db, modern.client_id)
    assert group.status == "closed"
    step("SIGTERM: clean exit 0, the stateless session closed by the server")
    assert_no_key(server.log.read_text(), modern.api_key, legacy.api_key)


async def test_idle_sessions_expire_and_the_next_call_opens_a_new_one(
    service: MCPService, db: AsyncEngine, db_url: str, tmp_path: Path, step: Step
) -> None:
    server = start_http_server(
        db_url, tmp_path / "server.log", MCP_SESSION_IDLE_TIMEOUT="1", MCP_EXPIRY_INTERVAL="0.1"
    )
    try:

        async def idle_then_call(mode: str) -> str:
            registered = await service.register_client(f"idle {mode}", "basic")
            async with http_client(server.url, registered.api_key, mode) as client:
                assert not (await client.call_tool("echo", {"message": "1"})).is_error

                async def expired() -> bool:
                    rows = await sessions(db, registered.client_id)
                    return [r.status for r in rows] == ["expired"]

                await until(expired, f"the {mode} session to expire")
                second = await client.call_tool("echo", {"message": "2"})
                assert not second.is_error, second
            rows = await sessions(db, registered.client_id)
            assert [(r.status, r.request_count) for r in rows[:1]] == [("expired", 1)]
            assert rows[1].request_count == 1
            assert [(t, s) for t, s, _ in await executions(db, registered.client_id)] == [
                ("echo", "success")
            ] * 2
            return registered.client_id

        legacy_id, _ = await asyncio.gather(idle_then_call("legacy"), idle_then_call("auto"))
        await sessions_closed_after_expiry(db, legacy_id)
        step("An idle session expires; the same connection's next call opens a new row")
    finally:
        assert stop(server) == 0


async def sessions_closed_after_expiry(db: AsyncEngine, client_id: str) -> None:
    async def check() -> bool:
        return [r.status for r in await sessions(db, client_id)] == ["expired", "closed"]

    await until(check, "the legacy connection's second row to close")


async def test_stdio_sigterm_cancels_the_call_in_flight_and_closes_the_session(
    service: MCPService, db: AsyncEngine, db_url: str, tmp_path: Path, step: Step
) -> None:
    registered = await service.register_client("stdio sigterm", "basic")
    samples = [{"latency_ms": float(i % 50)} for i in range(10_000)]
    signalled: list[float] = []
    server_pid = 0

    async def kill_on_first_progress(
        progress: float, total: float | None, message: str | None
    ) -> None:
        signalled.append(progress)
        if len(signalled) == 1:  # progress callbacks may overlap: only the first one signals
            os.kill(server_pid, signal.SIGTERM)

    with pytest.raises((MCPError, ExceptionGroup)):
        async with stdio_mcp_client(db_url, registered.api_key, "legacy", tmp_path / "e") as client:
            [row] = await sessions(db, registered.client_id)
            server_pid = stored_json(row.metadata)["pid"]
            await client.call_tool(
                "analyze_workload_batches",
                {"samples": samples, "batch_size": 10},
                progress_callback=kill_on_first_progress,
            )
    assert 1 <= len(signalled) < 1000  # the call was stopped part-way
    rows = await fetch_all(
        db,
        "SELECT tool_name, status, error_message FROM tool_executions WHERE client_id = :c",
        c=registered.client_id,
    )
    assert [tuple(r) for r in rows] == [("analyze_workload_batches", "error", "cancelled")]
    [row] = await sessions(db, registered.client_id)
    assert (row.status, row.request_count) == ("closed", 1)
    step("SIGTERM mid-call: the call recorded as cancelled, the session closed, exit without hang")


@contextlib.contextmanager
def session_row_locked(db_url: str, session_id: str) -> Iterator[None]:
    """Another connection holds what closing this session needs: SQLite's write lock,
    or the session's row on PostgreSQL."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        with contextlib.closing(sqlite3.connect(url.database, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        return
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(
                text("SELECT 1 FROM sessions WHERE id = :id FOR UPDATE"), {"id": session_id}
            )
            yield
            conn.rollback()
    finally:
        engine.dispose()


async def test_stdio_sigterm_then_stdin_closing_still_closes_the_session(
    service: MCPService, db: AsyncEngine, db_url: str
) -> None:
    """A client leaves (closes stdin) while SIGTERM's session close is still waiting
    for the database: the server must finish closing before it exits, not be cut off."""
    registered = await service.register_client("stdio sigterm eof", "basic")
    env = {**os.environ, "MCP_DATABASE_URL": db_url, "MCP_API_KEY": registered.api_key}
    server = subprocess.Popen(
        [*SERVE, "--transport", "stdio"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stderr is not None
    try:
        assert "serving MCP over stdio" in server.stderr.readline()
        [row] = await sessions(db, registered.client_id)
        with session_row_locked(db_url, row.id):
            server.send_signal(signal.SIGTERM)
            server.stdin.close()
            # Before the fix the server died here, its close cancelled (exit status 1).
            with pytest.raises(subprocess.TimeoutExpired):
                server.wait(timeout=2)
        assert server.wait(timeout=30) == 0, server.stderr.read()[-2000:]
    finally:
        server.kill()
    [row] = await sessions(db, registered.client_id)
    assert row.status == "closed"


def test_serve_bad_arguments_exit_non_zero(http_server: HttpServer, db_url: str) -> None:
    taken = http_server.url.rsplit(":", 1)[1].removesuffix("/mcp")
    cases = {
        ("--transport", "http", "--port", "70000"): "port must be 0-65535",
        ("--transport", "ftp"): "invalid choice: 'ftp'",
        ("--port", "9000"): "--host and --port apply to --transport http only",
        ("--transport", "http", "--port", taken): f"cannot listen on 127.0.0.1:{taken}",
    }
    processes = {
        args: subprocess.Popen(
            [*SERVE, *args],
            cwd=ROOT,
            env={**os.environ, "MCP_DATABASE_URL": db_url},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for args in cases
    }
    for args, process in processes.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 2, args
        assert cases[args] in err.decode(), err.decode()
        assert out == b""
