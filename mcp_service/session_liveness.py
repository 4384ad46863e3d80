"""Whether an open session is still alive, kept in Redis so every process agrees (MCP_REDIS_URL).

Each open session has a key whose value and time to live are its idle timeout
(the timeout of the process that opened it); every call refreshes it
(shared_limits.py does so in the same script that checks the caller's limits, one
round trip). A session expires when its key does: a call finding no key is
refused as expired and marks the row so, and every process's expiry sweep marks
the rows of open sessions whose keys are gone. The database row stays the
record (status, counts, times). Without Redis each row's own deadline decides
(session_store.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mcp_service.errors import RedisUnavailableError
from mcp_service.shared_limits import session_key

log = logging.getLogger(__name__)
# EXISTS on this many keys per round trip when sweeping.
SWEEP_CHUNK = 500


class SessionLiveness:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def opened(self, client_id: str, session_id: str, idle_timeout: float) -> None:
        ttl_ms = max(1, round(idle_timeout * 1000))
        try:
            await self._redis.set(session_key(client_id, session_id), ttl_ms, px=ttl_ms)
        except RedisError as exc:
            log.error("Redis did not take a new session's key: %s", type(exc).__name__)
            raise RedisUnavailableError(
                "the session cannot be kept alive now (Redis does not answer)"
            ) from None

    async def closed(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Forget the keys of sessions that ended: (client id, session id) each."""
        for start in range(0, len(pairs), SWEEP_CHUNK):
            chunk = pairs[start : start + SWEEP_CHUNK]
            await self._redis.delete(*(session_key(c, s) for c, s in chunk))

    async def gone(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """The session ids among `pairs` whose keys have expired (or were never made)."""
        gone: list[str] = []
        for start in range(0, len(pairs), SWEEP_CHUNK):
            chunk = pairs[start : start + SWEEP_CHUNK]
            async with self._redis.pipeline(transaction=False) as pipe:
                for client_id, session_id in chunk:
                    pipe.exists(session_key(client_id, session_id))
                found = await pipe.execute()
            gone += [sid for (_, sid), there in zip(chunk, found, strict=True) if not there]
        return gone
