"""With Redis, a session lives as long as its key: every process agrees on expiry (issue 16).

Each open session has a key whose time to live is its idle timeout, refreshed by
every call; when it expires the session is over for every process: a call on it
is refused and marks the row expired, and any process's sweep marks the rows of
sessions whose keys are gone. The database row stays the record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from mcp_service.errors import RedisUnavailableError, SessionClosedError
from mcp_service.shared_limits import session_key
from tests.integration.conftest import fetch_all, fetch_value, make_settings
from tests.integration.test_protocol_in_memory import connected
from tests.redis_server import private_redis
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("sessions")]


@asynccontextmanager
async def started(database_url: str, redis_url: str, **settings: Any) -> AsyncIterator[MCPService]:
    service = MCPService(make_settings(database_url, redis_url=redis_url, **settings))
    await service.initialize()
    try:
        yield service
    finally:
        await service.shutdown()


async def status_of(raw_db: AsyncEngine, session_id: str) -> str:
    found: str = await fetch_value(
        raw_db, "SELECT status FROM sessions WHERE id = :s", s=session_id
    )
    return found


async def test_a_session_has_a_key_living_its_idle_timeout_refreshed_by_each_call(
    database_url: str, redis_url: str, step: Step
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        async with started(database_url, redis_url, session_idle_timeout=60.0) as service:
            client = await service.register_client("liveness", "basic")
            cid = client.client_id
            session = (await service.create_session(cid)).session_id
            key = session_key(cid, session)
            assert int(await redis.get(key) or 0) == 60_000
            assert 0 < await redis.pttl(key) <= 60_000
            await redis.pexpire(key, 10_000)  # as if 50 s had passed idle
            await service.execute_tool(session, "echo", {"message": "x"}, client_id=cid)
            assert await redis.pttl(key) > 10_000  # refreshed to the whole timeout
            step("Opening sets the key to the idle timeout; a call refreshes it")
            assert await service.close_session(session) is True
            assert await redis.exists(key) == 0
            step("Closing the session removes its key")
    finally:
        await redis.aclose()


async def test_a_call_on_a_session_whose_key_expired_is_refused_and_ends_it(
    database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        async with started(database_url, redis_url) as service:
            client = await service.register_client("expired key", "basic")
            cid = client.client_id
            session = (await service.create_session(cid)).session_id
            await service.execute_tool(session, "echo", {"message": "before"}, client_id=cid)
            await redis.delete(session_key(cid, session))  # what expiry does
            with pytest.raises(SessionClosedError, match="expired") as refused:
                await service.execute_tool(session, "echo", {"message": "after"}, client_id=cid)
            assert refused.value.execution_id is not None
    finally:
        await redis.aclose()
    assert await status_of(raw_db, session) == "expired"
    rows = await fetch_all(
        raw_db, "SELECT status FROM tool_executions WHERE session_id = :s", s=session
    )
    assert sorted(r[0] for r in rows) == ["denied", "success"]
    count = await fetch_value(raw_db, "SELECT request_count FROM sessions WHERE id = :s", s=session)
    assert count == 1
    step("Key gone: the next call is refused (denied row), the session row says expired")


async def test_processes_with_other_timeouts_agree_on_expiry_through_the_keys(
    database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    async with AsyncExitStack() as stack:
        # `short` opens sessions that live 0.5 s and never sweeps; `long` sweeps often and its
        # own sessions live an hour: it expires short's session, and short never touches its.
        short = await stack.enter_async_context(
            started(database_url, redis_url, session_idle_timeout=0.5, expiry_interval=3600.0)
        )
        long = await stack.enter_async_context(
            started(database_url, redis_url, session_idle_timeout=3600.0, expiry_interval=0.05)
        )
        client = await short.register_client("agree", "basic")
        brief = (await short.create_session(client.client_id)).session_id
        lasting = (await long.create_session(client.client_id)).session_id

        async def brief_expired() -> bool:
            return await status_of(raw_db, brief) == "expired"

        await until(brief_expired, "the other process's sweep to expire the brief session")
        assert await status_of(raw_db, lasting) == "open"
        step("The 0.5 s session expired by the other process's sweep; the 1 h one stays open")


async def test_a_session_redis_cannot_keep_is_not_opened(
    database_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    with ExitStack() as redis_server:
        url = redis_server.enter_context(private_redis())
        async with started(database_url, url) as service:
            client = await service.register_client("no keeper", "basic")
            redis_server.close()  # Redis stops
            with pytest.raises(RedisUnavailableError, match="cannot be kept alive"):
                await service.create_session(client.client_id)
            opened = await fetch_value(
                raw_db,
                "SELECT count(*) FROM sessions WHERE client_id = :c AND status = 'open'",
                c=client.client_id,
            )
    assert opened == 0
    step("Redis away at open: the session is refused and no open row is left behind")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_whose_session_key_redis_lost_is_served_on_a_new_session(
    mode: str, database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        async with started(database_url, redis_url) as service:
            client = await service.register_client(f"redis lost {mode}", "basic")
            cid = client.client_id
            async with connected(service, cid, mode) as mcp:
                assert not (await mcp.call_tool("echo", {"message": "1"})).is_error
                [first] = await fetch_all(
                    raw_db, "SELECT id FROM sessions WHERE client_id = :c", c=cid
                )
                await redis.delete(session_key(cid, first.id))  # Redis restarted empty
                again = await mcp.call_tool("echo", {"message": "2"})
            assert not again.is_error, again.content
    finally:
        await redis.aclose()
    rows = await fetch_all(
        raw_db,
        "SELECT s.status, s.request_count FROM sessions s WHERE s.client_id = :c "
        "ORDER BY s.created_at",
        c=cid,
    )
    assert [(r.status, r.request_count) for r in rows] == [("expired", 1), ("closed", 1)]
    calls = await fetch_all(
        raw_db,
        "SELECT status FROM tool_executions WHERE client_id = :c ORDER BY started_at",
        c=cid,
    )
    assert [r.status for r in calls] == ["success", "denied", "success"]
    step(f"{mode}: its key gone, the call is refused once (recorded) and runs on a new session")
