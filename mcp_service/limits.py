"""Per-client limits, by tier: calls per second, calls in flight, open sessions.

One client must never starve another: a readonly key once opened the SDK's whole
budget of 10,000 sessions and every other client got HTTP 503 for 30 minutes.
Each client has its own budget here, kept by this process:

- calls per second: a token bucket (`calls_per_second` refill, `burst` capacity);
- calls in flight at once;
- open MCP sessions (HTTP handshake sessions held by this server process);
- request bytes per second over HTTP, checked before a body is parsed: a call
  is not one unit of work whatever it carries (a 700 KB call costs ~100 ms of
  parsing and checking), so a client's bytes are budgeted too.

A call over a limit is refused with `rate_limited` (recorded like any other
refusal); a session over the limit gets HTTP 429 with `Retry-After`. Limits come
from the environment (`Limits.from_env`): `MCP_LIMITS=off` disables them,
`MCP_LIMITS_<TIER>="calls_per_second=50,burst=100,in_flight=16,sessions=32,
request_bytes_per_second=1048576"` changes a tier (any subset of the keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from mcp_service.errors import RateLimitedError, ValidationError
from mcp_service.permissions import Tier

# Database-reading calls of one client that run at once (ClientTurns).
READ_PLACES = 2


@dataclass(frozen=True, slots=True)
class TierLimits:
    calls_per_second: float
    burst: int
    in_flight: int
    sessions: int
    request_bytes_per_second: int = 1_048_576  # the burst: twice this, or one largest request


# Generous for an IDE or an agent (a few calls a second, bursts of tens), small enough that
# one key cannot hold a meaningful share of a server: a readonly key gets the least.
DEFAULT_LIMITS: Mapping[str, TierLimits] = {
    Tier.READONLY.value: TierLimits(
        20, burst=40, in_flight=8, sessions=8, request_bytes_per_second=262_144
    ),
    Tier.BASIC.value: TierLimits(
        50, burst=100, in_flight=16, sessions=32, request_bytes_per_second=1_048_576
    ),
    Tier.ADMIN.value: TierLimits(
        200, burst=400, in_flight=64, sessions=128, request_bytes_per_second=4_194_304
    ),
}
UNLIMITED = TierLimits(
    calls_per_second=math.inf,
    burst=2**31,
    in_flight=2**31,
    sessions=2**31,
    request_bytes_per_second=2**62,
)


@dataclass(frozen=True)
class Limits:
    by_tier: Mapping[str, TierLimits]
    enabled: bool = True

    def of(self, tier: str) -> TierLimits:
        if not self.enabled:
            return UNLIMITED
        return self.by_tier.get(tier) or DEFAULT_LIMITS[Tier.READONLY.value]

    @classmethod
    def default(cls) -> Limits:
        return cls(dict(DEFAULT_LIMITS))

    @classmethod
    def off(cls) -> Limits:
        return cls(dict(DEFAULT_LIMITS), enabled=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        switch = env.get("MCP_LIMITS", "").strip().lower()
        if switch in ("off", "0", "false", "no"):
            return cls.off()
        if switch not in ("", "on", "1", "true", "yes"):
            raise ValidationError(f"MCP_LIMITS must be 'on' or 'off', got {switch!r}")
        by_tier = dict(DEFAULT_LIMITS)
        for tier in Tier:
            name = f"MCP_LIMITS_{tier.value.upper()}"
            raw = env.get(name)
            if raw:
                by_tier[tier.value] = parse_tier_limits(name, raw, by_tier[tier.value])
        return cls(by_tier)


def in_flight_refusal(
    client_id: str, tier: str, limits: TierLimits, in_flight: int
) -> RateLimitedError:
    """A call over the tier's calls in flight (counted here, or in Redis)."""
    calls = "call" if in_flight == 1 else "calls"
    return RateLimitedError(
        f"client {client_id} has {in_flight} {calls} in flight; "
        f"the limit of its tier ({tier}) is {limits.in_flight}",
        retry_after=1.0,
    )


def rate_refusal(
    client_id: str, tier: str, limits: TierLimits, retry_after: float
) -> RateLimitedError:
    """A call over the tier's calls per second, with when to try again."""
    rate = limits.calls_per_second
    unit = "call" if rate == 1 else "calls"
    return RateLimitedError(
        f"client {client_id} is over {rate:g} {unit} per second "
        f"(burst {limits.burst}), the limit of its tier ({tier})",
        retry_after=retry_after,
    )


def parse_tier_limits(name: str, raw: str, base: TierLimits) -> TierLimits:
    """`calls_per_second=50,burst=100` over `base`; ValidationError naming the bad part."""
    known = {f.name for f in fields(TierLimits)}
    changes: dict[str, Any] = {}
    for part in raw.split(","):
        key, sep, value = (p.strip() for p in part.partition("="))
        if not sep or key not in known:
            raise ValidationError(
                f"{name}: expected key=value pairs of {', '.join(sorted(known))}, got {part!r}"
            )
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(f"{name}: {key} must be a number, got {value!r}") from None
        if not number > 0:
            raise ValidationError(f"{name}: {key} must be greater than 0, got {value!r}")
        changes[key] = number if key == "calls_per_second" else int(number)
    return replace(base, **changes)


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class TokenBuckets:
    """A token bucket per key (an address, a key digest): refilled by time, spent by use.

    Forgotten wholesale when too many keys have been seen: each bucket would be
    full again within seconds anyway.
    """

    _PRUNE_AT = 10_000

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def _level(self, key: str, rate: float, capacity: float) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._PRUNE_AT:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(capacity, now)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        return bucket

    def wait_for(self, key: str, amount: float, rate: float, capacity: float) -> float | None:
        """Seconds until `amount` tokens are there; None when they are (nothing is spent)."""
        bucket = self._level(key, rate, capacity)
        needed = min(amount, capacity)
        return None if bucket.tokens >= needed else (needed - bucket.tokens) / rate

    def spend(self, key: str, amount: float, rate: float, capacity: float) -> None:
        self._level(key, rate, capacity).tokens -= amount


class _Budget:
    """One client's bucket and in-flight count."""

    __slots__ = ("in_flight", "tokens", "updated")

    def __init__(self, burst: int, now: float) -> None:
        self.tokens = float(burst)
        self.updated = now
        self.in_flight = 0


class CallLimiter:
    """The calls-per-second and in-flight limits of every client, in this process.

    `admit` either counts a call in (pair it with `release`) or raises
    RateLimitedError. O(1) per call; idle budgets are dropped once many clients
    have been seen, so memory stays bounded by the clients active at once.
    """

    _PRUNE_AT = 10_000

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._budgets: dict[str, _Budget] = {}

    async def admit(self, client_id: str, tier: str, session_id: str | None = None) -> None:
        """Count a call in (its ticket is None) or raise RateLimitedError. Sessions live by
        their rows' deadlines here (`session_id` matters only with Redis)."""
        limits = self.limits.of(tier)
        if not self.limits.enabled:
            return
        now = time.monotonic()
        budget = self._budgets.get(client_id)
        if budget is None:
            if len(self._budgets) >= self._PRUNE_AT:
                self._prune()
            budget = self._budgets[client_id] = _Budget(limits.burst, now)
        else:
            refill = (now - budget.updated) * limits.calls_per_second
            budget.tokens = min(float(limits.burst), budget.tokens + refill)
            budget.updated = now
        if budget.in_flight >= limits.in_flight:
            raise in_flight_refusal(client_id, tier, limits, budget.in_flight)
        if budget.tokens < 1.0:
            wait = (1.0 - budget.tokens) / limits.calls_per_second
            raise rate_refusal(client_id, tier, limits, wait)
        budget.tokens -= 1.0
        budget.in_flight += 1

    def release(self, client_id: str, ticket: object = None) -> None:
        """Give the call's place back, at once (nothing to await)."""
        budget = self._budgets.get(client_id)
        if budget is not None and budget.in_flight > 0:
            budget.in_flight -= 1

    def _prune(self) -> None:
        """Forget budgets with nothing in flight: a new budget starts full, as they were."""
        for client_id in [c for c, b in self._budgets.items() if b.in_flight == 0]:
            del self._budgets[client_id]


class CallAdmission(Protocol):
    """Where a client's calls per second and calls in flight are counted: this process
    (`CallLimiter`) or Redis, shared by every process (`shared_limits.RedisCallLimiter`)."""

    async def admit(self, client_id: str, tier: str, session_id: str | None = None) -> Any:
        """Count a call in and return its ticket, or raise RateLimitedError; with the live
        `session_id` of the caller, SessionExpiredError when it expired (Redis keeps it)."""
        ...

    def release(self, client_id: str, ticket: Any) -> Awaitable[None] | None:
        """Give back the place of the call `admit` returned `ticket` for; what to await
        until it is back, if anything."""
        ...


class ClientTurns:
    """At most `places` calls of a kind at once per client; the others wait their client's turn.

    Used for the work that clients share and that one client's in-flight limit
    does not make fair (`ToolPipeline`):

    - writing tools on SQLite, one place: SQLite's write lock is one queue for
      every client of the process (db.py). A basic key keeping 8 `corpus_add`
      calls of 50 KB in flight held that queue ahead of every other client's
      execution row, whose echo went from 8 ms to 49 ms at p50 and 171 ms at p99
      (one answer 659 ms);
    - tools that read the database, READ_PLACES places, on every engine: a
      basic key keeping 8 searches of 100 long documents in flight on
      PostgreSQL took the CPU from everyone (another client's echo at 11x its
      idle p50, 10x its p99; with one search at a time 1.6x and 2.7x), and 16
      of them would hold most of the connection pool.

    A call waits for its turn within its own deadline (TimeoutError at it), and
    only behind calls of its own client.
    """

    def __init__(self, places: int) -> None:
        self.places = places
        self._turns: dict[str, asyncio.Semaphore] = {}
        self._waiting: dict[str, int] = {}  # calls holding or awaiting a turn, per client

    @contextlib.asynccontextmanager
    async def turn(self, client_id: str, deadline_at: float) -> AsyncIterator[None]:
        """Hold one of `client_id`'s places; TimeoutError if none comes by `deadline_at`."""
        places = self._turns.get(client_id)
        if places is None:
            places = self._turns[client_id] = asyncio.Semaphore(self.places)
        self._waiting[client_id] = self._waiting.get(client_id, 0) + 1
        try:
            async with asyncio.timeout_at(deadline_at):
                await places.acquire()
            try:
                yield
            finally:
                places.release()
        finally:
            left = self._waiting[client_id] - 1
            if left:
                self._waiting[client_id] = left
            else:  # nobody holds or awaits a place: forget it, memory stays bounded
                del self._waiting[client_id], self._turns[client_id]
