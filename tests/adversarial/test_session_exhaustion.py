"""One client must not take every client's sessions, and revoking it must give them back.

Before: one readonly client opened the SDK's 10,000 sessions in 54 s; every other
client's `initialize` got 503 for 30 minutes; revoking the abuser freed nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.adversarial.conftest import Register, StartServer, headers, rpc
from tests.adversarial.leaks import http_client, mcp_client
from tests.faults.processes import cli
from tests.integration.conftest import fetch_all
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

INITIALIZE = rpc(
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
)


async def initialize(url: str, key: str) -> httpx2.Response:
    """One handshake `initialize`, as any MCP client opens a session."""
    async with http_client() as http:
        return await http.post(url, headers=headers(key), content=json.dumps(INITIALIZE))


@contextlib.asynccontextmanager
async def held_sessions(url: str, key: str, count: int) -> AsyncIterator[None]:
    """`count` live handshake sessions of one client (real SDK clients), closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(count):
            client = await stack.enter_async_context(mcp_client(url, key))
            assert not (await client.call_tool("echo", {"message": "mine"})).is_error
        yield


async def test_a_client_over_its_session_limit_gets_429_and_others_are_served(
    register: Register, serve: StartServer, step: Step
) -> None:
    abuser, victim = await register("hoarder", "readonly"), await register("victim", "readonly")
    server = serve(MCP_LIMITS_READONLY="sessions=5")
    async with held_sessions(server.url, abuser.api_key, 5):
        refused = await initialize(server.url, abuser.api_key)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "30")
        assert refused.json()["error"]["message"] == (
            "this client already has 5 open sessions, the limit of its tier"
        )
        welcomed = await initialize(server.url, victim.api_key)
        assert welcomed.status_code == 200
    step("The 6th session of a readonly client: 429 with Retry-After; another client: 200")
    reopened = await initialize(server.url, abuser.api_key)
    assert reopened.status_code == 200
    step("Its sessions closed, the client could open one again")


async def test_revoking_a_hoarder_in_another_process_frees_the_server_for_others(
    register: Register,
    serve: StartServer,
    database_url: str,
    raw_db: AsyncEngine,
    step: Step,
) -> None:
    first, second = await register("hoarder 1", "readonly"), await register("hoarder 2", "readonly")
    victim = await register("victim", "readonly")
    server = serve(
        MCP_LIMITS_READONLY="sessions=3",
        MCP_HTTP_MAX_SESSIONS="6",
        MCP_REVOCATION_CHECK_INTERVAL="0.2",
    )
    async with (
        held_sessions(server.url, first.api_key, 3),
        held_sessions(server.url, second.api_key, 3),
    ):
        full = await initialize(server.url, victim.api_key)
        assert full.status_code == 503
        step("Two clients at their limit fill the server's 6 sessions: a third client gets 503")

        revoked = cli(database_url, "revoke-client", first.client_id)
        assert revoked.returncode == 0, revoked.stderr
        answers: list[int] = []

        async def victim_gets_in() -> bool:
            answers.append((await initialize(server.url, victim.api_key)).status_code)
            return answers[-1] == 200

        await until(victim_gets_in, "the revoked client's sessions to end")
        assert set(answers) <= {503, 200}
    step("Revoked by the CLI (another process): its sessions ended and the victim got in")
    rows = await fetch_all(
        raw_db, "SELECT status FROM sessions WHERE client_id = :c", c=first.client_id
    )
    assert [r.status for r in rows] == ["closed"] * 3


async def test_revoking_a_client_through_this_server_ends_its_sessions_at_once(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    hoarder, admin = await register("hoarder", "readonly"), await register("admin", "admin")
    victim = await register("victim", "readonly")
    server = serve(MCP_LIMITS_READONLY="sessions=4", MCP_HTTP_MAX_SESSIONS="5")
    async with (
        held_sessions(server.url, hoarder.api_key, 4),
        mcp_client(server.url, admin.api_key) as boss,
    ):
        assert (await initialize(server.url, victim.api_key)).status_code == 503
        done = await boss.call_tool("revoke_client", {"client_id": hoarder.client_id})
        assert not done.is_error
        statuses: list[int] = []

        async def victim_gets_in() -> bool:
            statuses.append((await initialize(server.url, victim.api_key)).status_code)
            return statuses[-1] == 200

        await until(victim_gets_in, "the revoked client's sessions to end")
        assert set(statuses) <= {503, 200}
    step("revoke_client through the same server ended the hoarder's 4 sessions")
    rows = await fetch_all(
        raw_db, "SELECT status FROM sessions WHERE client_id = :c", c=hoarder.client_id
    )
    assert [r.status for r in rows] == ["closed"] * 4


async def test_shutdown_with_many_sessions_closes_every_row(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    crowd = await register("crowd", "admin")
    server = serve(MCP_LIMITS_ADMIN="sessions=1000")
    opened = []
    for _ in range(300):
        response = await initialize(server.url, crowd.api_key)
        assert response.status_code == 200
        opened.append(response.headers["mcp-session-id"])
    assert len(set(opened)) == 300
    assert server.stop() == 0
    rows = await fetch_all(
        raw_db, "SELECT status FROM sessions WHERE client_id = :c", c=crowd.client_id
    )
    assert [r.status for r in rows] == ["closed"] * 300
    step("300 live sessions at SIGTERM: the server exited 0 with all 300 rows closed")
