"""Per-client call limits kept in Redis, so they hold exactly across server processes.

`limits.CallLimiter` keeps each client's token bucket and in-flight count in one
process: three servers behind a load balancer would let a client make three
times its calls. With `MCP_REDIS_URL` set, the same two limits live in Redis and
one Lua script admits a call atomically (Redis runs a script alone):

- the token bucket is a hash (tokens, time of the last refill), refilled from
  Redis's own clock, so servers with skewed clocks agree;
- calls in flight are a sorted set of tickets scored by when they lapse: a
  call's ticket is removed when it ends, and one whose process died (SIGKILL,
  a lost connection) lapses by itself at the call's deadline plus a grace,
  instead of holding the client's place forever.

A Redis that cannot be reached fails the call (`RedisUnavailableError`): a
limit that silently stopped applying would let one client starve the others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mcp_service.errors import RedisUnavailableError, SessionExpiredError
from mcp_service.limits import Limits, in_flight_refusal, rate_refusal
from mcp_service.rate_limited_log import RateLimitedLog

log = RateLimitedLog(logging.getLogger(__name__))  # Redis away: a line per 10 s, not per call

KEY_PREFIX = "mcp-service"
# A ticket of a call whose server died lapses this long after the call's deadline.
TICKET_GRACE_S = 30.0

# KEYS: the bucket hash, the in-flight sorted set, and when the call names a live session of
# its caller, the session's key and the client's sorted set of sessions (session_liveness.py).
# ARGV: calls per second, burst, in-flight limit, ticket, ticket lifetime (ms), "1" when the
# limits apply.
# Returns {0} admitted, {1, in flight} over the in-flight limit, {2, "seconds"} over the rate,
# {3} the session's key is gone (it expired). Fractions travel as strings: Redis turns a Lua
# number into an integer.
_ADMIT = """
if #KEYS == 4 then
  local ttl = redis.call('GET', KEYS[3])
  if not ttl then
    return {3}
  end
  redis.call('PEXPIRE', KEYS[3], ttl)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  redis.call('ZADD', KEYS[4], 'XX', now + tonumber(ttl), ARGV[7])
end
if ARGV[6] ~= '1' then
  return {0}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local flying = redis.call('ZCARD', KEYS[2])
if flying >= tonumber(ARGV[3]) then
  return {1, flying}
end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local kept = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(kept[1]) or burst
local at = tonumber(kept[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local refill_ms = math.ceil(burst / rate * 1000) + 1000
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', KEYS[1], refill_ms)
  return {2, tostring((1 - tokens) / rate)}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', now)
redis.call('PEXPIRE', KEYS[1], refill_ms)
local lifetime = tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], now + lifetime, ARGV[4])
redis.call('PEXPIRE', KEYS[2], lifetime + 1000)
return {0}
"""


def client_tag(client_id: str) -> str:
    """The prefix of a client's keys: one hash tag, so they live on one Redis Cluster node."""
    return f"{KEY_PREFIX}:{{{client_id}}}"


def session_key(client_id: str, session_id: str) -> str:
    """An open session's liveness key (session_liveness.py), under its client's hash tag so
    the call's one script can refresh it beside the client's limits."""
    return f"{client_tag(client_id)}:session:{session_id}"


def sessions_key(client_id: str) -> str:
    """A client's open sessions across processes: a sorted set scored by when each lapses."""
    return f"{client_tag(client_id)}:sessions"


def _keys(client_id: str) -> tuple[str, str]:
    tag = client_tag(client_id)
    return f"{tag}:bucket", f"{tag}:in-flight"


class RedisCallLimiter:
    """`CallLimiter`'s two limits, shared by every process using the same Redis; and the
    call's session kept alive (session_liveness.py), in the same round trip.
    """

    def __init__(
        self, limits: Limits, redis: Redis, call_timeout: float, grace: float = TICKET_GRACE_S
    ) -> None:
        self.limits = limits
        self._redis = redis
        self._admit = redis.register_script(_ADMIT)
        self._ticket_ms = max(1, int((call_timeout + grace) * 1000))
        self._releases: set[asyncio.Task[Any]] = set()

    async def admit(self, client_id: str, tier: str, session_id: str | None = None) -> str | None:
        """Count a call in and return its ticket (pass it to `release`; None when limits
        are off), or raise RateLimitedError. With `session_id` (a live session of the
        caller's), refresh its key, or raise SessionExpiredError when it has expired."""
        limits = self.limits.of(tier)
        ticket = uuid.uuid4().hex if self.limits.enabled else None
        keys = list(_keys(client_id))
        if session_id is not None:
            keys += [session_key(client_id, session_id), sessions_key(client_id)]
        try:
            answer = await self._admit(
                keys=keys,
                args=[
                    repr(limits.calls_per_second),
                    min(limits.burst, 2**31),
                    min(limits.in_flight, 2**31),
                    ticket or "",
                    self._ticket_ms,
                    "1" if self.limits.enabled else "0",
                    session_id or "",
                ],
            )
        except RedisError as exc:
            log.warning("limit-check", "Redis did not answer a limit check: %s", type(exc).__name__)
            raise RedisUnavailableError(
                "the per-client limits cannot be checked now (Redis does not answer)"
            ) from None
        verdict = int(answer[0])
        if verdict == 3:
            raise SessionExpiredError(f"session {session_id} expired")
        if verdict == 1:
            raise in_flight_refusal(client_id, tier, limits, int(answer[1]))
        if verdict == 2:
            raise rate_refusal(client_id, tier, limits, float(answer[1]))
        return ticket

    def release(self, client_id: str, ticket: str | None) -> asyncio.Task[None] | None:
        """Give the call's place back, in a task of its own so that a cancelled call still
        does; await it (the pipeline does) so the client's next call finds its place free."""
        if ticket is None:
            return None
        task = asyncio.get_running_loop().create_task(self._release(client_id, ticket))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
        return task

    async def _release(self, client_id: str, ticket: str) -> None:
        try:
            await self._redis.zrem(_keys(client_id)[1], ticket)
        except RedisError as exc:  # the ticket lapses by itself at its deadline
            log.warning("release", "Redis did not take back a call's place: %s", type(exc).__name__)

    async def wait_idle(self) -> None:
        """Let the releases in flight reach Redis (shutdown)."""
        if self._releases:
            await asyncio.wait(list(self._releases))
