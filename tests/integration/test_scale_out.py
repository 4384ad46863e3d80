"""Several `mcp-service serve` processes on one database: what a team behind a load balancer runs.

Three real server processes share the run's database (a SQLite file, or
PostgreSQL in the second run of `make test`). Six clients each hold one
connection to every process, half with the initialize handshake and half
stateless, and 1,000 tool calls are spread over the 18 connections at once.
Every call must succeed (no lock error reaches a client), and the database must
hold exactly one execution row per call and exact request counts per session.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from mcp import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from tests.integration.conftest import fetch_all, make_settings, stored_json
from tests.integration.mcp_peers import (
    UNLIMITED,
    HttpServer,
    http_client,
    start_http_server,
    stop,
)
from tests.toolkit import Step

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("end_to_end")]

PROCESSES = 3
CLIENTS = 6
CALLS = 1000
IN_FLIGHT = 48
WRITE_EVERY = 10  # every 10th call stores a document: writing tools race too
OURS = "(SELECT id FROM clients WHERE name LIKE :pattern)"


def start_servers(database_url: str, folder: Path) -> list[HttpServer]:
    with ThreadPoolExecutor(PROCESSES) as pool:
        return list(
            pool.map(
                lambda n: start_http_server(database_url, folder / f"server-{n}.log", **UNLIMITED),
                range(PROCESSES),
            )
        )


async def test_three_processes_serve_1000_calls_into_one_database(
    database_url: str, raw_db: AsyncEngine, tmp_path: Path, tag: str, step: Step
) -> None:
    service = MCPService(make_settings(database_url))
    await service.initialize()
    try:
        registered = [
            await service.register_client(f"{tag} scale {n}", "basic") for n in range(CLIENTS)
        ]
    finally:
        await service.shutdown()

    servers = start_servers(database_url, tmp_path)
    pids = {server.process.pid: n for n, server in enumerate(servers)}
    step(f"{PROCESSES} server processes started on one database")
    sent: Counter[tuple[str, int]] = Counter()  # (client id, server) -> calls sent
    try:
        async with AsyncExitStack() as stack:
            connections: list[tuple[str, int, Client]] = []
            for n, reg in enumerate(registered):
                mode = "legacy" if n % 2 == 0 else "auto"
                for s, server in enumerate(servers):
                    client = await stack.enter_async_context(
                        http_client(server.url, reg.api_key, mode)
                    )
                    connections.append((reg.client_id, s, client))
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def call(i: int) -> bool:
                client_id, s, client = connections[i % len(connections)]
                if i % WRITE_EVERY == 0:
                    tool, args = "corpus_add", {"title": f"{tag} {i}", "body": f"scale {i}"}
                else:
                    tool, args = "echo", {"message": f"{tag} {i}"}
                async with gate:
                    result = await client.call_tool(tool, args)
                sent[(client_id, s)] += 1
                if result.is_error:
                    raise AssertionError(f"call {i} on server {s}: {result.content}")
                return True

            outcomes = await asyncio.gather(*(call(i) for i in range(CALLS)))
        assert outcomes == [True] * CALLS
        step(f"{CALLS} concurrent calls over {len(connections)} connections: all succeeded")
    finally:
        codes = [stop(server) for server in servers]
    assert codes == [0] * PROCESSES
    for server in servers:
        log = server.log.read_text()
        assert "locked" not in log.lower()
        assert "Traceback" not in log

    rows = await fetch_all(
        raw_db,
        "SELECT e.status, e.session_id, e.client_id FROM tool_executions e "
        "WHERE e.client_id IN " + OURS,
        pattern=f"{tag} scale %",
    )
    assert len(rows) == CALLS
    assert Counter(r.status for r in rows) == {"success": CALLS}
    step(f"Exactly {CALLS} execution rows, all success")

    sessions = await fetch_all(
        raw_db,
        "SELECT id, client_id, status, request_count, metadata FROM sessions "
        "WHERE client_id IN " + OURS,
        pattern=f"{tag} scale %",
    )
    per_session_rows = Counter(r.session_id for r in rows)
    counted: dict[tuple[str, int], int] = {}
    for session in sessions:
        served_by = pids[stored_json(session.metadata)["pid"]]
        counted[(session.client_id, served_by)] = session.request_count
        assert per_session_rows[session.id] == session.request_count
        assert session.status == "closed"
    assert counted == dict(sent)
    assert len(sessions) == CLIENTS * PROCESSES
    step("One session per client per process; each request_count equals the calls it was sent")

    documents = await fetch_all(
        raw_db, "SELECT title FROM documents WHERE client_id IN " + OURS, pattern=f"{tag} scale %"
    )
    assert sorted(d.title for d in documents) == sorted(
        f"{tag} {i}" for i in range(0, CALLS, WRITE_EVERY)
    )
    step(f"{CALLS // WRITE_EVERY} documents stored exactly once each")
