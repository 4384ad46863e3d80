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

A Redis that cannot be reached fails the call (`LimitsUnavailableError`): a
limit that silently stopped applying would let one client starve the others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mcp_service.errors import LimitsUnavailableError, RateLimitedError
from mcp_service.limits import Limits

log = logging.getLogger(__name__)

KEY_PREFIX = "mcp-service"
# A ticket of a call whose server died lapses this long after the call's deadline.
TICKET_GRACE_S = 30.0

# KEYS: the bucket hash, the in-flight sorted set.
# ARGV: calls per second, burst, in-flight limit, ticket, ticket lifetime (ms).
# Returns {0} admitted, {1, in flight} over the in-flight limit, {2, "seconds"} over the rate.
# Fractions travel as strings: Redis turns a Lua number into an integer.
_ADMIT = """
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


def _keys(client_id: str) -> tuple[str, str]:
    # One hash tag per client: both keys live on one node of a Redis Cluster.
    tag = f"{KEY_PREFIX}:{{{client_id}}}"
    return f"{tag}:bucket", f"{tag}:in-flight"


class RedisCallLimiter:
    """`CallLimiter`'s two limits, shared by every process using the same Redis."""

    def __init__(
        self, limits: Limits, redis: Redis, call_timeout: float, grace: float = TICKET_GRACE_S
    ) -> None:
        self.limits = limits
        self._redis = redis
        self._admit = redis.register_script(_ADMIT)
        self._ticket_ms = max(1, int((call_timeout + grace) * 1000))
        self._releases: set[asyncio.Task[Any]] = set()

    async def admit(self, client_id: str, tier: str) -> str | None:
        """Count a call in and return its ticket (pass it to `release`), or raise
        RateLimitedError; None when limits are off."""
        if not self.limits.enabled:
            return None
        limits = self.limits.of(tier)
        ticket = uuid.uuid4().hex
        bucket, in_flight = _keys(client_id)
        try:
            answer = await self._admit(
                keys=[bucket, in_flight],
                args=[
                    repr(limits.calls_per_second),
                    limits.burst,
                    limits.in_flight,
                    ticket,
                    self._ticket_ms,
                ],
            )
        except RedisError as exc:
            log.error("Redis did not answer a limit check: %s", type(exc).__name__)
            raise LimitsUnavailableError("the per-client limits cannot be checked now") from None
        verdict = int(answer[0])
        if verdict == 1:
            raise RateLimitedError(
                f"client {client_id} has {int(answer[1])} calls in flight; "
                f"the limit of its tier ({tier}) is {limits.in_flight}",
                retry_after=1.0,
            )
        if verdict == 2:
            raise RateLimitedError(
                f"client {client_id} is over {limits.calls_per_second:g} calls per second "
                f"(burst {limits.burst}), the limit of its tier ({tier})",
                retry_after=float(answer[1]),
            )
        return ticket

    def release(self, client_id: str, ticket: str | None) -> None:
        """Give the call's place back; in a task of its own, so a cancelled call still does."""
        if ticket is None:
            return
        task = asyncio.get_running_loop().create_task(self._release(client_id, ticket))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, client_id: str, ticket: str) -> None:
        try:
            await self._redis.zrem(_keys(client_id)[1], ticket)
        except RedisError as exc:  # the ticket lapses by itself at its deadline
            log.warning("Redis did not take back a call's place: %s", type(exc).__name__)

    async def wait_idle(self) -> None:
        """Let the releases in flight reach Redis (shutdown)."""
        if self._releases:
            await asyncio.wait(list(self._releases))
