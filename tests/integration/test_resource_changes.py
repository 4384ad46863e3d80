"""What the service announces about a client's resources, and to whom (change_bus.py).

Two services on one database stand for two server processes. With Redis, each
commit is one message on the channel naming each client it touched once (a group
commit of twenty calls is one message per batch, not one per row), holding client
ids and URIs only; a listener in the other process is delivered exactly those
changes, for its own client. Without Redis a change stays in its process. A
Redis that stops answering costs announcements, never the caller an error, and
delivery resumes when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService, change_bus
from mcp_service.change_bus import CHANNEL, Change, RedisChangeBus, decode
from mcp_service.group_commit import Entry
from mcp_service.rate_limited_log import RateLimitedLog
from mcp_service.resources import DOCUMENTS_URI, RECENT_EXECUTIONS_URI
from tests.integration.conftest import fetch_all, make_settings
from tests.redis_server import free_port, private_redis
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("resources")]

ADDED = Change("", (RECENT_EXECUTIONS_URI, DOCUMENTS_URI), list_changed=True)
CALLED = Change("", (RECENT_EXECUTIONS_URI,))


def of(change: Change, client_id: str) -> Change:
    return Change(client_id, change.updated, change.list_changed)


@asynccontextmanager
async def two_services(
    database_url: str, redis_url: str | None
) -> AsyncIterator[tuple[MCPService, MCPService]]:
    async with AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            service = MCPService(make_settings(database_url, redis_url=redis_url))
            await service.initialize()
            stack.push_async_callback(service.shutdown)
            pair.append(service)
        yield pair[0], pair[1]


async def caller(service: MCPService, name: str) -> tuple[str, str, str]:
    registered = await service.register_client(name, "basic")
    session = await service.create_session(registered.client_id)
    return registered.client_id, session.session_id, registered.api_key


async def test_each_commit_is_one_message_naming_each_client_once(
    database_url: str, redis_url: str, raw_db: AsyncEngine, step: Step
) -> None:
    redis = Redis.from_url(redis_url)
    async with two_services(database_url, redis_url) as (a, b), redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        raw: list[bytes] = []

        async def receive() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    raw.append(message["data"])

        receiver = asyncio.create_task(receive())
        x, x_session, x_key = await caller(a, "announced x")
        y, y_session, _ = await caller(a, "announced y")
        heard_on_b: list[Change] = []
        b.changes.subscribe(x, heard_on_b.append)
        b.changes.subscribe(y, heard_on_b.append)
        batches: list[Sequence[Entry]] = []
        announce = a.pipeline.recorder.on_committed
        assert announce is not None

        async def counted(entries: Sequence[Entry]) -> None:
            batches.append(entries)
            await announce(entries)

        a.pipeline.recorder.on_committed = counted

        args: dict[str, Any] = {"title": "t", "body": "b"}
        await a.execute_tool(x_session, "corpus_add", args, client_id=x)
        await until(lambda: len(heard_on_b) == 1, "the corpus_add's change on the other process")
        assert [decode(m) for m in raw] == [[of(ADDED, x)]]
        assert heard_on_b == [of(ADDED, x)]
        step("A corpus_add: one message, one change for its client, delivered in process b")

        calls = [
            a.execute_tool(s, "echo", {"message": str(i)}, client_id=c)
            for i in range(10)
            for c, s in ((x, x_session), (y, y_session))
        ]
        await asyncio.gather(*calls)
        await until(lambda: len(raw) == 1 + len(batches), "a message per committed batch")
        per_batch = [decode(m) for m in raw[1:]]
        assert per_batch == [
            [of(CALLED, c) for c in dict.fromkeys(e.row["client_id"] for e in batch)]
            for batch in batches
        ]
        await until(lambda: len(heard_on_b) == 1 + sum(len(m) for m in per_batch), "b's share")
        assert heard_on_b == [of(ADDED, x), *(c for m in per_batch for c in m)]
        step(f"20 concurrent calls: {len(batches)} batches, one message each, a client once")

        [(key_id, key_hash)] = await fetch_all(
            raw_db, "SELECT api_key_id, api_key_hash FROM clients WHERE id = :c", c=x
        )
        for message in raw:
            for secret in (x_key, key_id, key_hash):
                assert secret.encode() not in message
        step("No message holds the client's key, its id or its hash")
        receiver.cancel()
    await redis.aclose()


async def test_without_redis_a_change_stays_in_its_process(database_url: str, step: Step) -> None:
    async with two_services(database_url, None) as (a, b):
        x, x_session, _ = await caller(a, "local x")
        heard_on_a: list[Change] = []
        heard_on_b: list[Change] = []
        a.changes.subscribe(x, heard_on_a.append)
        b.changes.subscribe(x, heard_on_b.append)
        await a.execute_tool(x_session, "corpus_add", {"title": "t", "body": "b"}, client_id=x)
        assert heard_on_a == [of(ADDED, x)]
        b_session = (await b.create_session(x)).session_id
        await b.execute_tool(b_session, "echo", {"message": "b"}, client_id=x)
        assert heard_on_b == [of(CALLED, x)]
        assert heard_on_a == [of(ADDED, x)]
    step("Without Redis each process hears only its own commits, at once")


async def test_a_redis_that_stops_answering_costs_announcements_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, step: Step
) -> None:
    # The bus's log holds back a repeated line for 10 s in the whole process: a fresh
    # one, so an earlier test's Redis stop in this process does not hide this one's line.
    monkeypatch.setattr(change_bus, "_quiet", RateLimitedLog(change_bus.log))
    port = free_port()
    first = Change("x", (RECENT_EXECUTIONS_URI,))
    heard: list[Change] = []
    with ExitStack() as redis_server:
        url = redis_server.enter_context(private_redis(port))
        bus = RedisChangeBus(Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))
        await bus.start()
        try:
            bus.subscribe("x", heard.append)
            await bus.publish([first])
            await until(lambda: heard == [first], "delivery")
            with caplog.at_level(logging.WARNING, logger="mcp_service.change_bus"):
                redis_server.close()  # the Redis stops
                await bus.publish([Change("x", (DOCUMENTS_URI,))])
                step("Redis stopped: publish returns and logs; nothing raised into the caller")
                with private_redis(port):  # back where it was
                    sent: list[Change] = []

                    async def heard_again() -> bool:
                        sent.append(Change("x", (f"mcp-service://documents/{len(sent) + 1}",)))
                        await bus.publish(sent[-1:])
                        return len(heard) > 1

                    await until(heard_again, "changes to flow again")
                    sent.append(Change("x", (DOCUMENTS_URI,)))  # a fence: heard last
                    await bus.publish(sent[-1:])
                    await until(lambda: heard[-1] == sent[-1], "the fence")
        finally:
            await bus.close()
    # Publishes before the receiver was back are lost (no replay); every one after it is
    # heard once, in order: what was heard is the first change, then a tail of those sent.
    assert heard[0] == first and heard[1:] == sent[len(sent) - len(heard) + 1 :]
    announced = [r.getMessage() for r in caplog.records if r.name == "mcp_service.change_bus"]
    # The publisher and the receiver each notice the stop (in either order); one line when
    # changes flow again.
    assert sorted(announced[:2]) == [
        "announcing changes failed: ConnectionError",
        "receiving changes from Redis failed: ConnectionError",
    ]
    assert announced[2:] == ["receiving changes from Redis again"]
    step("Redis back on its port: the bus delivers again, with one warning each way")
