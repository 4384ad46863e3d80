"""Publishes "the database changed" to Redis after each committed write (the live feed).

The dashboard and `--monitor` subscribe (mcp_dashboard/change_feed.py) and read the
tables again at once, instead of at their next poll. A notice is sent after the
commit, never before, so a reader always finds what it was told about. Bursts fold
together: while one publish is on its way, any number of commits make one more,
so a thousand calls a second cost a few publishes, not a thousand. A Redis that
fails a publish costs one log line per minute; readers then fall back to polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mcp_service.feed_channels import REDIS_CHANNEL

log = logging.getLogger(__name__)
_QUIET_S = 60.0  # at most one warning this often about failed publishes


class ChangeFeed:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending = False
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self._warned_at = -_QUIET_S

    def notice(self) -> None:
        """A write transaction committed (Database.on_commit): publish soon, folded."""
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        while self._pending:
            self._pending = False
            self.published += 1
            message = json.dumps({"pid": os.getpid(), "seq": self.published})
            try:
                await self._redis.publish(REDIS_CHANNEL, message)
            except RedisError as exc:
                now = time.monotonic()
                if now - self._warned_at >= _QUIET_S:
                    self._warned_at = now
                    log.warning("the live feed could not publish: %s", type(exc).__name__)

    async def flush(self) -> None:
        """Let the last notice reach Redis (shutdown)."""
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
