"""A client's `sessions` limit holds across server processes when they share a Redis.

Without Redis each process counts the sessions it holds, so a client behind a
load balancer could open its limit on every process. With MCP_REDIS_URL the
count is one sorted set per client, and a handshake takes its place there
atomically before it is served.
"""

from __future__ import annotations

import pytest

from tests.adversarial.conftest import Register, StartServer
from tests.adversarial.test_session_exhaustion import held_sessions, initialize
from tests.toolkit import Step

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]


async def test_two_processes_on_one_redis_count_a_clients_sessions_together(
    register: Register, serve: StartServer, redis_url: str, step: Step
) -> None:
    hoarder, victim = (
        await register("two-door hoarder", "readonly"),
        await register("v", "readonly"),
    )
    limits = {"MCP_LIMITS_READONLY": "sessions=3", "MCP_REDIS_URL": redis_url}
    first, second = serve(**limits), serve(**limits)
    async with (
        held_sessions(first.url, hoarder.api_key, 2),
        held_sessions(second.url, hoarder.api_key, 1),
    ):
        for server in (first, second):
            refused = await initialize(server.url, hoarder.api_key)
            assert (refused.status_code, refused.headers["retry-after"]) == (429, "30")
        assert (await initialize(second.url, victim.api_key)).status_code == 200
        step("2 sessions on one process, 1 on the other: the 4th is refused by both (limit 3)")
    assert (await initialize(second.url, hoarder.api_key)).status_code == 200
    step("Its sessions closed, either process lets the client open one again")


async def test_without_redis_each_process_counts_only_its_own(
    register: Register, serve: StartServer, step: Step
) -> None:
    hoarder = await register("per-process hoarder", "readonly")
    first, second = serve(MCP_LIMITS_READONLY="sessions=2"), serve(MCP_LIMITS_READONLY="sessions=2")
    async with held_sessions(first.url, hoarder.api_key, 2):
        assert (await initialize(first.url, hoarder.api_key)).status_code == 429
        assert (await initialize(second.url, hoarder.api_key)).status_code == 200
    step("Without Redis the other process admits a client already at its limit (what Redis fixes)")
