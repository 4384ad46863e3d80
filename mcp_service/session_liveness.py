"""Whether an open session is still alive, kept in Redis so every process agrees (MCP_REDIS_URL).

Each open session has a key whose value and time to live are its idle timeout
(the timeout of the process that opened it); every call refreshes it
(shared_limits.py does so in the same script that checks the caller's limits, one
round trip). A session expires when its key does: a call finding no key is
refused as expired and marks the row so, and every process's expiry sweep marks
the rows of open sessions whose keys are gone. The database row stays the
record (status, counts, times). Without Redis each row's own deadline decides
(session_store.py).

Each client's open sessions are also a sorted set scored by when each lapses, so
its `sessions` limit holds across processes: a new handshake takes a place in the
set before it is served (`reserve`, atomic), and gives back the placeholder when
its request is over; its session, if it opened one, is in the set by then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mcp_service.errors import RedisUnavailableError
from mcp_service.rate_limited_log import RateLimitedLog
from mcp_service.shared_limits import session_key, sessions_key

log = RateLimitedLog(logging.getLogger(__name__))  # Redis away: a line per 10 s, not per call
# EXISTS on this many keys per round trip when sweeping.
SWEEP_CHUNK = 500
# A place held for a handshake in progress lapses after this long if its process dies.
OPENING_HOLD_MS = 30_000

# KEYS: the session's key, the client's sessions. ARGV: session id, time to live (ms).
# The set outlives its longest session by a minute, then goes if nothing touches it.
_OPENED = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ttl, 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl + 60000 then
  redis.call('PEXPIRE', KEYS[2], ttl + 60000)
end
return 1
"""

# KEYS: the client's sessions. ARGV: the limit, a placeholder, how long it holds (ms).
# Returns the sessions open (placeholders included) when refused, else -1.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[1]) then
  return open
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return -1
"""


class SessionLiveness:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._opened = redis.register_script(_OPENED)
        self._reserve = redis.register_script(_RESERVE)

    async def opened(self, client_id: str, session_id: str, idle_timeout: float) -> None:
        ttl_ms = max(1, round(idle_timeout * 1000))
        keys = [session_key(client_id, session_id), sessions_key(client_id)]
        try:
            await self._opened(keys=keys, args=[session_id, ttl_ms])
        except RedisError as exc:
            log.warning("opened", "Redis did not take a new session's key: %s", type(exc).__name__)
            raise RedisUnavailableError(
                "the session cannot be kept alive now (Redis does not answer)"
            ) from None

    async def closed(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Forget sessions that ended: (client id, session id) each."""
        for start in range(0, len(pairs), SWEEP_CHUNK):
            chunk = pairs[start : start + SWEEP_CHUNK]
            async with self._redis.pipeline(transaction=False) as pipe:
                for client_id, session_id in chunk:
                    pipe.delete(session_key(client_id, session_id))
                    pipe.zrem(sessions_key(client_id), session_id)
                await pipe.execute()

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

    async def reserve(self, client_id: str, limit: int) -> str | int:
        """Hold a place for a session about to open: its placeholder (pass it to `unreserve`),
        or how many the client has open when it is at `limit`. Every process counts alike."""
        placeholder = f"opening:{uuid.uuid4().hex}"
        try:
            refused = int(
                await self._reserve(
                    keys=[sessions_key(client_id)], args=[limit, placeholder, OPENING_HOLD_MS]
                )
            )
        except RedisError as exc:
            log.warning("count", "Redis did not answer a session count: %s", type(exc).__name__)
            raise RedisUnavailableError(
                "the client's open sessions cannot be counted now (Redis does not answer)"
            ) from None
        return placeholder if refused < 0 else refused

    async def unreserve(self, client_id: str, placeholder: str) -> None:
        try:
            await self._redis.zrem(sessions_key(client_id), placeholder)
        except RedisError as exc:  # it lapses by itself
            log.warning(
                "unreserve", "Redis did not take back a session's place: %s", type(exc).__name__
            )
