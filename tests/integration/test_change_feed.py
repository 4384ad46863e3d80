"""The live feed: every committed change to clients, sessions and executions is announced.

Two carriers (mcp_service/feed_channels.py): with `MCP_REDIS_URL` the service
publishes after each committed write, on any engine; on PostgreSQL the database
itself notifies at commit (migration 0005), from any process, a rolled-back
transaction never. A reader told of a change always finds it: the notice follows
the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from mcp_service.feed_channels import POSTGRES_CHANNEL, REDIS_CHANNEL
from tests.integration.conftest import fetch_value, make_settings
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("live feed")]


@asynccontextmanager
async def redis_messages(redis_url: str) -> AsyncIterator[list[Any]]:
    """The feed's Redis messages, appended as they arrive, while the block runs."""
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(REDIS_CHANNEL)
    seen: list[Any] = []

    async def read() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                seen.append(message["data"])

    reader = asyncio.create_task(read())
    try:
        yield seen
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await redis.aclose()


async def announced(seen: list[Any], write: Callable[[], Awaitable[Any]], what: str) -> None:
    before = len(seen)
    await write()
    await until(lambda: len(seen) > before, f"the feed to announce {what}")


async def test_every_committed_write_is_announced_on_redis_after_its_commit(
    database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    service = MCPService(make_settings(database_url, redis_url=redis_url))
    await service.initialize()
    try:
        async with redis_messages(redis_url) as seen:
            client = await service.register_client("feed", "basic")
            cid = client.client_id
            found: list[int] = []
            await until(lambda: len(seen) >= 1, "the registration's notice")
            # Told, the reader finds the row: the notice follows the commit.
            found.append(
                await fetch_value(raw_db, "SELECT count(*) FROM clients WHERE id = :c", c=cid)
            )
            session: list[str] = []

            async def open_session() -> None:
                session.append((await service.create_session(cid)).session_id)

            await announced(seen, open_session, "the new session")
            found.append(
                await fetch_value(
                    raw_db, "SELECT count(*) FROM sessions WHERE id = :s", s=session[0]
                )
            )
            records: list[str] = []

            async def call() -> None:
                record = await service.execute_tool(
                    session[0], "echo", {"message": "x"}, client_id=cid
                )
                records.append(record.execution_id)

            await announced(seen, call, "the execution row")
            found.append(
                await fetch_value(
                    raw_db, "SELECT count(*) FROM tool_executions WHERE id = :e", e=records[0]
                )
            )
            await announced(seen, lambda: service.close_session(session[0]), "the closed session")
    finally:
        await service.shutdown()
    assert found == [1, 1, 1]
    step("Registration, session, call and close each announced on Redis, after the commit")


@pytest.mark.postgresql_only
async def test_postgresql_announces_each_committed_change_once_and_never_a_rollback(
    database_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await listener.execute(f"LISTEN {POSTGRES_CHANNEL}")
    heard: list[str] = []

    async def hear() -> None:
        async for notice in listener.notifies():
            heard.append(notice.payload)

    hearing = asyncio.create_task(hear())
    service = MCPService(make_settings(database_url))  # no Redis: the database tells
    await service.initialize()
    try:
        client = await service.register_client("pg feed", "basic")
        await until(lambda: heard == ["clients"], "the registration's notification")
        heard.clear()
        async with raw_db.connect() as conn:
            trans = await conn.begin()
            await conn.execute(
                text("UPDATE clients SET name = 'x' WHERE id = :c"), {"c": client.client_id}
            )
            await trans.rollback()
            trans = await conn.begin()
            for name in ("first", "second"):
                await conn.execute(
                    text("UPDATE clients SET name = :n WHERE id = :c"),
                    {"n": name, "c": client.client_id},
                )
            await trans.commit()
        await until(lambda: heard != [], "the committed update's notification")
        # The rolled-back update said nothing; two statements in one transaction said it once.
        assert heard == ["clients"]
        heard.clear()
        session = await service.create_session(client.client_id)
        await service.execute_tool(
            session.session_id, "echo", {"message": "x"}, client_id=client.client_id
        )
        await until(lambda: "tool_executions" in heard, "the call's notifications")
    finally:
        await service.shutdown()
        hearing.cancel()
        await asyncio.gather(hearing, return_exceptions=True)
        await listener.close()
    assert sorted(set(heard)) == ["clients", "sessions", "tool_executions"]
    step("PostgreSQL notifies at commit, once per table and transaction, never for a rollback")
