"""Where committed changes to a client's resources are announced: in process, or through Redis.

A `Change` says which of one client's resources changed (their URIs, see
resources.py) and whether the client's resource list did. It is published only
after the rows it describes are committed (group_commit.py's batch, a writing
tool's transaction), one `publish` per commit naming every client it touched.
Listeners register for one client id: a client is never told about another
client's resources, because nothing delivers another client's changes to it.

- `LocalChangeBus` (no `MCP_REDIS_URL`): delivered in this process, synchronously.
- `RedisChangeBus`: each `publish` is one Redis PUBLISH on one channel; every
  process (this one too) receives it and delivers it to its own listeners, so a
  change made through any process reaches listeners on every process exactly once.
  A message holds client ids and resource URIs, never a key or a hash. Delivery is
  best effort, as the protocol's is (no replay): a Redis that does not answer loses
  the announcement, logged, never the committed change or the call.

Listeners are synchronous, must not raise, and run on the event loop (as the MCP
SDK's SubscriptionBus listeners do).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mcp_service.rate_limited_log import RateLimitedLog

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)  # Redis away: a line per 10 s, not one per call

CHANNEL = "mcp-service:resources"  # not the live feed's (feed_channels.py)
# After Redis stopped answering, the receiver tries again this often.
_RECONNECT_S = 1.0


@dataclass(frozen=True, slots=True)
class Change:
    """Which of one client's resources changed in one commit."""

    client_id: str
    updated: tuple[str, ...] = ()  # resource URIs whose content changed
    list_changed: bool = False  # the client's resource list changed


Listener = Callable[[Change], None]


class ChangeBus(Protocol):
    async def publish(self, changes: Sequence[Change]) -> None: ...

    def subscribe(self, client_id: str, listener: Listener) -> Callable[[], None]:
        """Register `listener` for `client_id`'s changes; returns an idempotent unsubscribe."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _Fanout:
    """Listeners by client id, each delivered only its own client's changes."""

    def __init__(self) -> None:
        self._listeners: dict[str, dict[object, Listener]] = {}

    def subscribe(self, client_id: str, listener: Listener) -> Callable[[], None]:
        token = object()
        self._listeners.setdefault(client_id, {})[token] = listener

        def unsubscribe() -> None:
            listeners = self._listeners.get(client_id)
            if listeners is not None:
                listeners.pop(token, None)
                if not listeners:
                    del self._listeners[client_id]

        return unsubscribe

    def deliver(self, changes: Iterable[Change]) -> None:
        for change in changes:
            for listener in list(self._listeners.get(change.client_id, {}).values()):
                try:
                    listener(change)
                except Exception:  # one listener must not starve the others
                    log.exception("a change listener raised; continuing")

    def listening(self, client_id: str) -> int:
        return len(self._listeners.get(client_id, ()))


class LocalChangeBus:
    """This process only (no Redis): a change reaches the listeners as it is published."""

    def __init__(self) -> None:
        self._fanout = _Fanout()

    async def publish(self, changes: Sequence[Change]) -> None:
        self._fanout.deliver(changes)

    def subscribe(self, client_id: str, listener: Listener) -> Callable[[], None]:
        return self._fanout.subscribe(client_id, listener)

    def listening(self, client_id: str) -> int:
        return self._fanout.listening(client_id)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def encode(changes: Sequence[Change]) -> str:
    return json.dumps(
        [[c.client_id, list(c.updated), c.list_changed] for c in changes], separators=(",", ":")
    )


def decode(data: bytes | str) -> list[Change]:
    """The changes of one message; a message not of this shape is dropped (logged)."""
    try:
        items: Any = json.loads(data)
        return [
            Change(str(client_id), tuple(str(uri) for uri in updated), bool(listed))
            for client_id, updated, listed in items
        ]
    except (ValueError, TypeError) as exc:
        log.warning("dropped a change message that is not one: %s", exc)
        return []


class RedisChangeBus:
    """Every process's listeners, through one Redis pub/sub channel.

    It owns its Redis client (redis_link.connect): announcements never take a
    connection the call limits are waiting for (shared_limits.py).
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._fanout = _Fanout()
        self._pubsub: PubSub | None = None
        self._receiver: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe before returning: a change published after this is delivered here."""
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(CHANNEL)
        self._receiver = asyncio.create_task(self._receive(self._pubsub), name="mcp-changes")

    async def publish(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        try:
            await self._redis.publish(CHANNEL, encode(changes))
        except Exception as exc:
            _quiet.warning("publish", "announcing changes failed: %s", type(exc).__name__)

    def subscribe(self, client_id: str, listener: Listener) -> Callable[[], None]:
        return self._fanout.subscribe(client_id, listener)

    def listening(self, client_id: str) -> int:
        return self._fanout.listening(client_id)

    async def _receive(self, pubsub: PubSub) -> None:
        failing = False  # one warning when Redis stops answering, one line when it is back
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # redis-py connects and subscribes again on the next read once Redis answers.
                if not failing:
                    log.warning("receiving changes from Redis failed: %s", type(exc).__name__)
                failing = True
                await asyncio.sleep(_RECONNECT_S)
                continue
            if failing:
                log.warning("receiving changes from Redis again")
                failing = False
            if message is not None and message.get("type") == "message":
                self._fanout.deliver(decode(message["data"]))

    async def close(self) -> None:
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        self._receiver = self._pubsub = None
        await self._redis.aclose()
