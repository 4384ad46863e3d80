"""Per-client limits kept in Redis hold exactly across server processes (issue 16).

Two services on one database and one Redis stand for two server processes behind
a load balancer: a client's burst of calls per second and its calls in flight
are counted once for both. Without Redis each process counts its own, and the
same client gets twice its share (the control case below). A Redis that goes
away refuses calls instead of letting them through unlimited.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from mcp_service.errors import RateLimitedError, RedisUnavailableError, SessionExpiredError
from mcp_service.limits import DEFAULT_LIMITS, Limits, TierLimits
from mcp_service.permissions import Permission
from mcp_service.shared_limits import RedisCallLimiter
from mcp_service.tools import Tool, ToolContext, default_registry
from tests.integration.conftest import fetch_all, make_settings
from tests.redis_server import free_port, private_redis
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("shared limits")]

SLOW = TierLimits(calls_per_second=0.001, burst=10, in_flight=16, sessions=32)
NARROW = TierLimits(calls_per_second=1000, burst=1000, in_flight=2, sessions=32)


class Gate:
    """A tool that holds its calls until the test opens the gate."""

    def __init__(self) -> None:
        self.inside = 0
        self.open = asyncio.Event()
        self.tool = Tool(
            name="hold",
            description="Waits until the test lets it finish.",
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
            permission=Permission.READ,
            handler=self._hold,
        )

    async def _hold(self, _ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
        self.inside += 1
        await self.open.wait()
        return {}


@asynccontextmanager
async def services(
    database_url: str, redis_url: str | None, tier: TierLimits, gate: Gate | None = None
) -> AsyncIterator[tuple[MCPService, MCPService]]:
    """Two services (two server processes' worth) on one database and, if given, one Redis."""
    limits = Limits({**DEFAULT_LIMITS, "basic": tier})
    async with AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            tools = default_registry()
            if gate is not None:
                tools.register(gate.tool)
            service = MCPService(
                make_settings(database_url, limits=limits, redis_url=redis_url), tools=tools
            )
            await service.initialize()
            stack.push_async_callback(service.shutdown)
            pair.append(service)
        yield pair[0], pair[1]


async def statuses(raw_db: AsyncEngine, client_id: str) -> list[str]:
    rows = await fetch_all(
        raw_db, "SELECT status FROM tool_executions WHERE client_id = :c", c=client_id
    )
    return sorted(r[0] for r in rows)


async def calls_alternating(a: MCPService, b: MCPService, client_id: str, n: int) -> list[str]:
    """`n` echo calls, one at a time, taking turns between the two services: their outcomes."""
    sessions = [(await s.create_session(client_id)).session_id for s in (a, b)]
    outcomes = []
    for i in range(n):
        service, session = ((a, sessions[0]), (b, sessions[1]))[i % 2]
        try:
            await service.execute_tool(session, "echo", {"message": str(i)}, client_id=client_id)
            outcomes.append("success")
        except RateLimitedError:
            outcomes.append("rate_limited")
    return outcomes


async def test_a_clients_burst_is_shared_by_every_process_on_one_redis(
    database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    async with services(database_url, redis_url, SLOW) as (a, b):
        client = await a.register_client("shared burst", "basic")
        outcomes = await calls_alternating(a, b, client.client_id, 30)
    assert outcomes == ["success"] * 10 + ["rate_limited"] * 20
    assert await statuses(raw_db, client.client_id) == ["rate_limited"] * 20 + ["success"] * 10
    step("30 calls across two processes: exactly the burst of 10 admitted, 20 rows rate_limited")


async def test_without_redis_each_process_counts_its_own_burst(
    database_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    async with services(database_url, None, SLOW) as (a, b):
        client = await a.register_client("own burst", "basic")
        outcomes = await calls_alternating(a, b, client.client_id, 30)
    assert outcomes.count("success") == 20
    step("Without Redis two processes admit the burst twice: 20 of 30 (what Redis fixes)")


async def test_calls_in_flight_are_counted_across_processes(
    database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    gate = Gate()
    async with services(database_url, redis_url, NARROW, gate) as (a, b):
        client = await a.register_client("shared in flight", "basic")
        cid = client.client_id
        on_a = (await a.create_session(cid)).session_id
        on_b = (await b.create_session(cid)).session_id
        held = [asyncio.create_task(a.execute_tool(on_a, "hold", {}, client_id=cid)) for _ in "12"]
        await until(lambda: gate.inside == 2, "two calls held on the first process")
        with pytest.raises(RateLimitedError, match="2 calls in flight"):
            await b.execute_tool(on_b, "echo", {"message": "third"}, client_id=cid)
        step("Two calls held on one process: the second process refuses the third")
        gate.open.set()
        await asyncio.gather(*held)
        await b.execute_tool(on_b, "echo", {"message": "after"}, client_id=cid)
    assert await statuses(raw_db, cid) == ["rate_limited", "success", "success", "success"]
    step("Once they finish, the second process admits the client again")


async def test_a_dead_processs_places_lapse_by_themselves(redis_url: str, step: Step) -> None:
    limits = Limits({**DEFAULT_LIMITS, "basic": TierLimits(1000, 1000, in_flight=1, sessions=1)})
    redis = Redis.from_url(redis_url)
    try:
        died = RedisCallLimiter(limits, redis, call_timeout=0.2, grace=0)
        alive = RedisCallLimiter(limits, redis, call_timeout=10)
        client_id = f"lapse-{free_port()}"
        assert await died.admit(client_id, "basic") is not None  # never released: it "died"
        with pytest.raises(RateLimitedError, match="has 1 call in flight;"):
            await alive.admit(client_id, "basic")

        async def admitted() -> bool:
            try:
                alive.release(client_id, await alive.admit(client_id, "basic"))
            except RateLimitedError:
                return False
            return True

        await until(admitted, "the dead call's place to lapse")
        await alive.wait_idle()
    finally:
        await redis.aclose()
    step("A call whose process died holds its place only until its deadline")


async def served_once(service: MCPService, name: str) -> tuple[str, str]:
    """A new basic client with a session and one echo served: its id and the session's."""
    cid = (await service.register_client(name, "basic")).client_id
    session = (await service.create_session(cid)).session_id
    await service.execute_tool(session, "echo", {"message": "up"}, client_id=cid)
    return cid, session


async def test_calls_are_refused_with_a_row_while_redis_is_away(
    database_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    with ExitStack() as redis_server:
        url = redis_server.enter_context(private_redis())
        service = MCPService(make_settings(database_url, redis_url=url))
        await service.initialize()
        try:
            cid, session = await served_once(service, "redis away")
            redis_server.close()  # the Redis stops; the service runs on
            with pytest.raises(RedisUnavailableError) as refused:
                await service.execute_tool(session, "echo", {"message": "down"}, client_id=cid)
        finally:
            await service.shutdown()
    assert (
        refused.value.message
        == "the per-client limits cannot be checked now (Redis does not answer)"
    )
    assert refused.value.execution_id is not None
    assert await statuses(raw_db, cid) == ["error", "success"]
    step("Redis stopped: the next call is refused (redis_unavailable) and recorded")


async def test_an_unreachable_redis_stops_the_service_at_start_without_its_password(
    database_url: str, step: Step
) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    service = MCPService(make_settings(database_url, redis_url=url))
    with pytest.raises(RedisUnavailableError) as refused:
        await service.initialize()
    assert "does not answer" in refused.value.message
    assert "hunter2" not in refused.value.message
    assert not service.is_initialized
    step("A Redis that does not answer stops the start with one line, no password in it")


async def test_the_first_call_after_a_redis_restart_is_served(
    database_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    """The pooled connection the old server closed is replaced, not reported as Redis away:
    the new, empty Redis answers that the session's key is gone, and a new session works."""
    port = free_port()
    with ExitStack() as redis_server:
        url = redis_server.enter_context(private_redis(port))
        service = MCPService(make_settings(database_url, redis_url=url))
        await service.initialize()
        try:
            cid, session = await served_once(service, "redis restart")
            redis_server.close()
            redis_server.enter_context(private_redis(port))  # back where it was, empty
            with pytest.raises(SessionExpiredError):
                await service.execute_tool(session, "echo", {"message": "old"}, client_id=cid)
            again = (await service.create_session(cid)).session_id
            await service.execute_tool(again, "echo", {"message": "new"}, client_id=cid)
        finally:
            await service.shutdown()
    assert await statuses(raw_db, cid) == ["denied", "success", "success"]
    step("Redis restarted between two calls: the next call is answered, on a new connection")


async def test_a_redis_that_refuses_is_told_apart_from_one_that_does_not_answer(
    redis_url: str, database_url: str, step: Step
) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/99"  # a database the server does not have
    service = MCPService(make_settings(database_url, redis_url=url))
    with pytest.raises(RedisUnavailableError) as refused:
        await service.initialize()
    assert refused.value.message == f"Redis at {url} refused: DB index is out of range"
    assert not service.is_initialized
    step("A Redis that answers but refuses says what it said, not that it does not answer")


def test_serve_with_an_unreachable_redis_exits_with_one_line(tmp_path: Path, step: Step) -> None:
    env = {
        **os.environ,
        "MCP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "MCP_REDIS_URL": f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mcp_service.cli", "serve", "--transport", "http", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "mcp-service: error: Redis at redis://127.0.0.1:"
    )
    assert "hunter2" not in done.stderr
    step("serve with an unreachable MCP_REDIS_URL: exit 2 and one line, no password in it")
