"""The live tables follow the service's feed of committed changes (issue 16).

A committed row shows as soon as the feed announces it: Redis pub/sub when the
dashboard has a Redis URL, PostgreSQL's LISTEN when it has none. To prove the feed
is the reason, polling is set to once an hour (a test configuration, not a wait):
the only reads after the first are the ones notices ask for. When the feed drops,
the status line says the tables are polling, and rows still arrive by polling;
when it comes back, it is followed again. The database is the run's (shared):
rows are found by their ids.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from mcp_dashboard import change_feed
from mcp_dashboard.app import DashboardApp
from mcp_dashboard.change_feed import NO_FEED, SILENT, PostgresFeed, RedisFeed, choose_feed
from mcp_dashboard.monitor import MonitorApp
from mcp_dashboard.widgets import live_tables
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_service import MCPService
from mcp_service.config import Settings
from tests.dashboard.helpers import child_env
from tests.dashboard.live_db import execute
from tests.dashboard.pilot import launcher
from tests.redis_server import free_port, private_redis
from tests.toolkit import Step, until

pytestmark = pytest.mark.critical_path("live feed")
HOUR = 3600.0


def row_keys(table: DataTable[str]) -> list[str]:
    return [
        table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value or ""
        for i in range(table.row_count)
    ]


def status_of(app: MonitorApp) -> str:
    return str(app.query_one("#tables-status", Static).render())


async def a_call(service: MCPService) -> str:
    """A client, a session and one echo through the real service: the execution's id."""
    client = await service.register_client(f"feed {uuid.uuid4().hex[:6]}", "basic")
    session = await service.create_session(client.client_id)
    record = await service.execute_tool(
        session.session_id, "echo", {"message": "hi"}, client_id=client.client_id
    )
    return record.execution_id


async def shows(pilot: Pilot[Any], execution_id: str, what: str) -> None:
    executions = pilot.app.query_one("#table-executions", DataTable)
    await until(lambda: execution_id in row_keys(executions), what, pilot=pilot)


def test_the_feed_is_redis_when_given_else_postgresql_else_none() -> None:
    pg = "postgresql+asyncpg://svc:s3cret@127.0.0.1/live"
    redis = choose_feed(pg, "redis://127.0.0.1:6390/0")
    assert isinstance(redis, RedisFeed)
    listen = choose_feed(pg, None)
    assert isinstance(listen, PostgresFeed)
    assert listen.secret == "s3cret"  # scrubbed from any reason shown
    assert choose_feed("sqlite+aiosqlite:////tmp/x.db", None) is None
    assert choose_feed("mysql+aiomysql://localhost/test", None) is None  # the tables say why
    assert NO_FEED.label == ""


async def test_a_committed_row_shows_through_the_redis_feed_without_a_poll(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, step: Step
) -> None:
    monkeypatch.setattr(live_tables, "POLL_SECONDS", HOUR)
    service = MCPService(Settings(database_url=database_url, redis_url=redis_url))
    await service.initialize()
    try:
        app = MonitorApp(database_url, redis_url=redis_url)
        async with app.run_test(size=(160, 40)) as pilot:
            tables = app.query_one(LiveTables)
            await until(lambda: tables.feed.following and tables.idle, "the feed", pilot=pilot)
            assert (tables.feed.phase, tables.feed.carrier) == ("following", "redis")
            assert "  live: redis  " in status_of(app)
            heard = tables.feed_notices
            execution_id = await a_call(service)
            await shows(pilot, execution_id, "the call, told by the feed")
            assert tables.feed_notices > heard
    finally:
        await service.shutdown()
    step("A committed call shows in the tables through Redis, with polling set to hourly")


@pytest.mark.postgresql_only
async def test_postgresql_tells_the_tables_itself_when_there_is_no_redis(
    database_url: str, monkeypatch: pytest.MonkeyPatch, step: Step
) -> None:
    monkeypatch.setattr(live_tables, "POLL_SECONDS", HOUR)
    service = MCPService(Settings(database_url=database_url))  # no Redis anywhere
    await service.initialize()
    try:
        app = MonitorApp(database_url)
        async with app.run_test(size=(160, 40)) as pilot:
            tables = app.query_one(LiveTables)
            await until(lambda: tables.feed.following and tables.idle, "the feed", pilot=pilot)
            assert (tables.feed.phase, tables.feed.carrier) == ("following", "postgresql")
            assert "  live: postgresql  " in status_of(app)
            await shows(pilot, await a_call(service), "the call, told by PostgreSQL")
            step("PostgreSQL's notification shows a committed call, with polling set to hourly")

            # The server cuts the listener: dropped, then followed again by itself.
            execute(
                database_url,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'mcp-dashboard-feed'",
            )
            await until(lambda: tables.feed_drop is not None, "the drop", pilot=pilot)
            assert tables.feed_drop is not None
            assert tables.feed_drop.label.startswith("polling (postgresql feed dropped: ")
            assert tables.feed_drop.label.endswith(")")
            await until(lambda: tables.feed.following, "the feed to come back", pilot=pilot)
            await until(lambda: tables.idle, "the read after reconnecting", pilot=pilot)
            await shows(pilot, await a_call(service), "a call after the listener came back")
    finally:
        await service.shutdown()
    step("A listener the server cut is reconnected by itself and followed again")


@pytest.mark.redis
async def test_when_redis_drops_the_tables_poll_and_follow_it_again_when_it_is_back(
    database_url: str, step: Step
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    plain = MCPService(Settings(database_url=database_url))  # writes while Redis is down
    await plain.initialize()
    try:
        app = MonitorApp(database_url, redis_url=url)  # polling at its usual pace
        async with app.run_test(size=(160, 40)) as pilot:
            tables = app.query_one(LiveTables)
            with private_redis(port):
                await until(lambda: tables.feed.following, "the feed", pilot=pilot)
                assert "  live: redis  " in status_of(app)
                await told(pilot, tables, url, database_url, "a call while Redis is up")

            refused = "  polling (redis feed dropped: connection refused)  "
            await until(lambda: refused in status_of(app), "the status to say so", pilot=pilot)
            assert status_of(app).count("polling (") == 1
            heard = tables.feed_notices
            await shows(pilot, await a_call(plain), "a call read by polling")
            assert tables.feed_notices == heard  # no feed told the tables: polling read it
            step("Redis stopped: the status says polling, and rows still arrive by polling")

            with private_redis(port):  # back, where it was
                await until(lambda: tables.feed.following, "the feed again", pilot=pilot)
                assert "  live: redis  " in status_of(app)
                await told(pilot, tables, url, database_url, "a call after Redis came back")
    finally:
        await plain.shutdown()
    step("Redis back on its port: the tables follow it again by themselves")


async def told(
    pilot: Pilot[Any], tables: LiveTables, redis_url: str, database_url: str, what: str
) -> None:
    """A call by a service that publishes on `redis_url`: it shows, and its notice was heard."""
    service = MCPService(Settings(database_url=database_url, redis_url=redis_url))
    await service.initialize()
    try:
        heard = tables.feed_notices
        await shows(pilot, await a_call(service), what)
        await until(lambda: tables.feed_notices > heard, f"the notice of {what}", pilot=pilot)
    finally:
        await service.shutdown()


async def test_a_bad_redis_url_is_one_status_line_and_the_tables_poll(
    database_url: str, step: Step
) -> None:
    service = MCPService(Settings(database_url=database_url))
    await service.initialize()
    try:
        app = MonitorApp(database_url, redis_url="http://not-redis.example/0")
        async with app.run_test(size=(200, 40)) as pilot:
            tables = app.query_one(LiveTables)
            await until(lambda: tables.feed.phase == "refused", "the refusal", pilot=pilot)
            await shows(pilot, await a_call(service), "a call read by polling")
            assert status_of(app).count("polling (") == 1
            assert (
                "  polling (no redis feed: not a redis://, rediss:// or unix:// URL)  "
                in status_of(app)
            )
            assert tables.feed_notices == 0
    finally:
        await service.shutdown()
    step("A URL that is not Redis's: one status line, the tables poll, nothing raised")


async def test_notices_fold_into_one_read_in_flight_and_one_queued(
    database_url: str, monkeypatch: pytest.MonkeyPatch, step: Step
) -> None:
    monkeypatch.setattr(live_tables, "POLL_SECONDS", HOUR)
    service = MCPService(Settings(database_url=database_url))
    await service.initialize()
    try:
        await a_call(service)  # the service's tables exist
        app = MonitorApp(database_url)
        async with app.run_test(size=(160, 40)) as pilot:
            tables = app.query_one(LiveTables)
            await until(lambda: tables.polls >= 1 and tables.idle, "the first read", pilot=pilot)
            before = tables.polls
            for _ in range(50):  # a burst of notices, in one turn of the event loop
                tables.poll()
            await until(lambda: tables.idle, "the reads the burst asked for", pilot=pilot)
            assert tables.polls == before + 2
    finally:
        await service.shutdown()
    step("50 requests at once made 2 reads: the one started and one queued")


@pytest.mark.redis
async def test_a_redis_that_stops_answering_is_a_drop_and_is_followed_again_when_it_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, step: Step
) -> None:
    """A server that is there but silent (stopped, a cut network) sends no error: the
    heartbeat finds it (set to 0.2 s here, a test configuration)."""
    monkeypatch.setattr(change_feed, "HEARTBEAT_S", 0.2)
    database = f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}"
    with private_redis() as url:
        redis = Redis.from_url(url)
        pid = int((await redis.info("server"))["process_id"])
        await redis.aclose()
        app = MonitorApp(database, redis_url=url)
        async with app.run_test(size=(160, 40)) as pilot:
            tables = app.query_one(LiveTables)
            await until(lambda: tables.feed.following, "the feed", pilot=pilot)
            os.kill(pid, signal.SIGSTOP)
            try:
                await until(lambda: tables.feed_drop is not None, "the drop", pilot=pilot)
            finally:
                os.kill(pid, signal.SIGCONT)
            assert tables.feed_drop is not None
            assert tables.feed_drop.label == f"polling (redis feed dropped: {SILENT})"
            await until(lambda: tables.feed.following, "the feed again", pilot=pilot)
    step("A silent Redis is found by the heartbeat, said, and followed again once it answers")


@pytest.mark.redis
async def test_run_mode_follows_the_feed_the_suites_service_publishes_on(
    tmp_path: Path, step: Step
) -> None:
    with private_redis() as url:  # its own: no other test's service publishes on it
        chosen = launcher(tmp_path, "service", "--redis-url", url, env=child_env(MCP_REDIS_URL=url))
        with chosen:
            app = DashboardApp(chosen)
            async with app.run_test(size=(160, 48)) as pilot:
                tables = app.query_one(LiveTables)
                await until(lambda: app.runs_finished == 1, "the run", pilot=pilot)
                await until(lambda: tables.feed_notices > 0, "the suite's notices", pilot=pilot)
                assert "  live: redis  " in str(app.query_one("#tables-status", Static).render())
    step("Run mode: the suite's service publishes on --redis-url and the run's tables follow")
