"""Follows the service's live feed of committed changes, so the tables read again at once.

The service announces each committed write (mcp_service/feed_channels.py): on Redis
pub/sub when it has `MCP_REDIS_URL`, and on PostgreSQL the database notifies at
commit. This module listens and calls `changed()` for each notice; the live tables
then read again instead of waiting for their next poll. Which feed:

- a Redis URL given (`--redis-url`, default `$MCP_REDIS_URL`): Redis, on any engine;
- else a PostgreSQL database: its `LISTEN`;
- else none: the tables poll, as they always do anyway.

Polling never stops (the tables' fallback): a feed only makes a change show sooner.
A feed that drops (server gone, connection cut, silent for two heartbeats) is
reported with its reason and tried again with a bounded backoff; once it is back,
one `changed()` covers whatever was committed while it was away. Nothing here
raises to the caller: a bad URL is one state line (`refused`), never an exception.
No Textual: the widget drives `follow()` in a worker and draws `FeedState.label`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from mcp_dashboard.db_views.engines import PostgreSQL, UnsupportedDatabase, database_engine
from mcp_service.feed_channels import POSTGRES_CHANNEL, REDIS_CHANNEL

if TYPE_CHECKING:  # both are loaded only when their feed is used
    from psycopg import AsyncConnection
    from redis.asyncio.client import PubSub

Carrier = Literal["redis", "postgresql"]
Phase = Literal["none", "connecting", "following", "dropped", "refused"]

CONNECT_TIMEOUT_S = 2.0
HEARTBEAT_S = 5.0  # a quiet feed is checked this often; silent for two of them: dropped
SILENT = "no answer within the heartbeat"  # whichever wait found the server silent
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 5.0  # the backoff doubles up to this
REASON_WIDTH = 60  # a reason is a short part of one status line, never a traceback
_CONNECT_ERROR = re.compile(r"Error (\d+) connecting to ")


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the feed is doing, for one status line."""

    phase: Phase
    carrier: Carrier | None = None
    reason: str = ""  # why it dropped or was refused
    retry_in: float = 0.0  # seconds until the next attempt (dropped)

    @property
    def following(self) -> bool:
        return self.phase == "following"

    @property
    def label(self) -> str:
        """`live: redis`, `polling (redis feed dropped: why)`; "" when there is no feed.
        "polling" first: a narrow terminal cuts the reason, not what the tables do."""
        if self.phase == "none":
            return ""
        if self.phase == "following":
            return f"live: {self.carrier}"
        if self.phase == "connecting":
            return f"polling (connecting to the {self.carrier} feed)"
        if self.phase == "refused":
            return f"polling (no {self.carrier} feed: {self.reason})"
        return f"polling ({self.carrier} feed dropped: {self.reason})"


NO_FEED = FeedState("none")


class FeedRefused(Exception):
    """The feed can never work as configured (a malformed URL): not retried."""


class Feed:
    """One carrier of notices: `notices()` connects, then yields once per notice."""

    carrier: Carrier
    secret: str | None = None  # the URL's password: never in a reason shown

    def notices(self) -> contextlib.AbstractAsyncContextManager[AsyncIterator[None]]:
        raise NotImplementedError


class RedisFeed(Feed):
    carrier: Carrier = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        with contextlib.suppress(ValueError):
            self.secret = urlsplit(url).password

    @contextlib.asynccontextmanager
    async def notices(self) -> AsyncIterator[AsyncIterator[None]]:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        try:
            # No retries of its own: a drop must reach us (to say so, and to read again
            # after it), not be papered over by a silent resubscribe.
            redis = Redis.from_url(
                self.url,
                retry=Retry(NoBackoff(), 0),
                socket_connect_timeout=CONNECT_TIMEOUT_S,
            )
        except ValueError:  # not a redis:// URL
            raise FeedRefused("not a redis://, rediss:// or unix:// URL") from None
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            async with asyncio.timeout(HEARTBEAT_S):  # a hung server is a drop, not a hang
                await pubsub.subscribe(REDIS_CHANNEL)
            yield self._read(pubsub)
        finally:
            with contextlib.suppress(Exception):  # the connection may be gone already
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            with contextlib.suppress(Exception):
                await redis.aclose()

    @staticmethod
    async def _read(pubsub: PubSub) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=HEARTBEAT_S)
            if message is not None:
                heard = loop.time()
                if message.get("type") == "message":
                    yield None
                continue
            if loop.time() - heard > 2 * HEARTBEAT_S:
                raise ConnectionError(SILENT)
            await pubsub.ping()  # its pong is a message: `heard` moves if the server is there


class PostgresFeed(Feed):
    carrier: Carrier = "postgresql"

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = url
        self.secret = make_url(url).password

    @contextlib.asynccontextmanager
    async def notices(self) -> AsyncIterator[AsyncIterator[None]]:
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(self.url).set(drivername="postgresql")
        conn = await psycopg.AsyncConnection.connect(
            dsn.render_as_string(hide_password=False),
            autocommit=True,
            connect_timeout=int(CONNECT_TIMEOUT_S),
            application_name="mcp-dashboard-feed",
        )
        try:
            async with asyncio.timeout(HEARTBEAT_S):
                await conn.execute(f"LISTEN {POSTGRES_CHANNEL}")
            yield self._read(conn)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    @staticmethod
    async def _read(conn: AsyncConnection[object]) -> AsyncIterator[None]:
        while True:
            async for _ in conn.notifies(timeout=HEARTBEAT_S):
                yield None
            # Quiet for a heartbeat: make sure the server is still there.
            await asyncio.wait_for(conn.execute("SELECT 1"), HEARTBEAT_S)


def choose_feed(database: str | Path | None, redis_url: str | None) -> Feed | None:
    """Redis when a URL is given; else PostgreSQL's LISTEN on a PostgreSQL database; else None."""
    if redis_url:
        return RedisFeed(redis_url)
    if database is None or isinstance(database, Path):
        return None
    try:
        engine = database_engine(database)
    except UnsupportedDatabase:
        return None  # the tables say why they cannot read it
    return PostgresFeed(engine.url) if isinstance(engine, PostgreSQL) else None


async def follow(
    feed: Feed | None,
    changed: Callable[[], None],
    report: Callable[[FeedState], None],
) -> None:
    """Call `changed()` for each notice, until cancelled; `report` each new state.

    Returns only when there is no feed or it was refused; reconnects after any
    other failure, waiting FIRST_RETRY_S, doubling up to MAX_RETRY_S.
    """
    if feed is None:
        report(NO_FEED)
        return
    delay = FIRST_RETRY_S
    report(FeedState("connecting", feed.carrier))
    while True:
        try:
            async with feed.notices() as notices:
                report(FeedState("following", feed.carrier))
                delay = FIRST_RETRY_S
                changed()  # whatever was committed while we were not listening
                async for _ in notices:
                    changed()
        except FeedRefused as exc:
            report(FeedState("refused", feed.carrier, reason=_reason(feed, exc)))
            return
        except Exception as exc:  # any fault of the feed: say so, poll, try again
            reason = _reason(feed, exc)
            report(FeedState("dropped", feed.carrier, reason=reason, retry_in=delay))
        await asyncio.sleep(delay)  # the backoff itself
        delay = min(delay * 2, MAX_RETRY_S)


def _reason(feed: Feed, exc: Exception) -> str:
    """The fault in one short line, without the URL's password: "connection refused", not
    redis-py's "Error 111 connecting to host:port. Connect call failed (…)"."""
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":  # redis-py's too
        return SILENT
    text = str(exc).strip()
    if feed.secret:
        text = text.replace(feed.secret, "***")
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    connecting = _CONNECT_ERROR.match(first)
    if connecting is not None:
        first = os.strerror(int(connecting.group(1))).lower()
    return first if len(first) <= REASON_WIDTH else first[: REASON_WIDTH - 1] + "…"
