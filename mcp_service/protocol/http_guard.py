"""Bounds on every HTTP connection and request, so no client can hold the server.

Measured against the first HTTP server: 550 slow-header, slow-body and idle
connections were all still open after 90 s (uvicorn has no header or body
timeout); a flood of wrong keys cost ~7 ms of hashing each and pushed a
legitimate client's p50 from 2.4 to 9.8 ms; one readonly key opened the SDK's
whole budget of 10,000 sessions. Here:

- `guarded_protocol`: uvicorn's HTTP/1.1 protocol with a deadline for a
  request's headers (slowloris) and a cap on open connections;
- `RequestGuard` (outermost ASGI layer): the body must arrive within its
  deadline and size (408, 413), a client that leaves mid-body costs one log
  line, and a source address that keeps presenting wrong keys gets 429 without
  its keys being hashed (a key this process has verified before passes);
- `SessionAdmission` (inside authentication): a client opening more sessions
  than its tier allows gets 429 with `Retry-After`.

Limits come from `Settings` (config.py) and `Limits` (limits.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from uvicorn.protocols.http.h11_impl import H11Protocol

from mcp_service.errors import RedisUnavailableError
from mcp_service.failures import describe_failure
from mcp_service.limits import Limits, TokenBuckets
from mcp_service.protocol.log_hygiene import RateLimitedLog
from mcp_service.security import ApiKeyHasher

if TYPE_CHECKING:  # Redis is loaded only when configured
    from mcp_service.session_liveness import SessionLiveness

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)
_noisy = RateLimitedLog(log)
# How much of a refused body is still read (and dropped) so the client sees the 413.
LINGER_BYTES = 8 * 1024 * 1024


def guarded_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a header deadline and a connection cap (uvicorn has neither)."""

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows BaseTransport too
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                _noisy.warning(
                    "connections", "%d connections open: refusing new ones", max_connections
                )
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            super().data_received(data)
            if self.cycle is not before:  # a request's headers are complete
                self._disarm()
            elif self._header_timer is None and (before is None or before.response_complete):
                self._arm()  # the first bytes of the next request on a kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                _noisy.warning(
                    "header-timeout",
                    "closed a connection whose request headers took over %g s",
                    header_timeout,
                )
                self.transport.close()

    return GuardedH11Protocol


async def _respond(
    send: Send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """A JSON-RPC error body with no id, as the SDK answers transport-level refusals."""
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    body = json.dumps(error).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FailureLimiter:
    """Wrong keys per source address: a burst, then a rate."""

    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets = TokenBuckets()

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try a new key again; None when it may now."""
        return self._buckets.wait_for(address, 1.0, self.per_second, self.burst)

    def spend(self, address: str) -> None:
        self._buckets.spend(address, 1.0, self.per_second, self.burst)


class ByteBudget:
    """Request bytes per second per API key (its tier's `request_bytes_per_second`)."""

    def __init__(self, limits: Limits, max_request: int, tier_of_key: Callable[[str], str | None]):
        self.limits = limits
        self.max_request = max_request
        self.tier_of_key = tier_of_key
        self._buckets = TokenBuckets()

    def retry_after(self, token: str, size: int) -> float | None:
        """Seconds until this key may send `size` bytes; None when it may now (and spends)."""
        tier = self.tier_of_key(token)
        if tier is None or not self.limits.enabled:
            return None  # a key not verified yet: authentication decides about it first
        rate = float(self.limits.of(tier).request_bytes_per_second)
        capacity = max(2 * rate, float(self.max_request))
        key = tier_key(token)
        wait = self._buckets.wait_for(key, size, rate, capacity)
        if wait is None:
            self._buckets.spend(key, size, rate, capacity)
        return wait


def tier_key(token: str) -> str:
    """A bucket's name for a key: never the key itself (it is kept in memory only as a hash)."""
    return hashlib.blake2b(token.encode(), digest_size=16).hexdigest()


class RequestGuard:
    """The outermost ASGI layer of `mcp-service serve --transport http` (module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        hasher: ApiKeyHasher,
        max_body: int,
        body_timeout: float,
        failures: FailureLimiter,
        budget: ByteBudget,
    ) -> None:
        self.app = app
        self.path = path
        self.hasher = hasher
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.failures = failures
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        token = _bearer(scope)
        unknown_key = token is not None and not self.hasher.is_warm(token)
        if unknown_key:
            wait = self.failures.retry_after(address)
            if wait is not None:
                _noisy.warning(
                    f"auth-{address}",
                    "too many wrong API keys from %s: answering 429 for %.1f s",
                    address,
                    wait,
                )
                await _respond(
                    send,
                    429,
                    "too many failed authentications from this address",
                    ((b"retry-after", str(max(1, round(wait))).encode()),),
                )
                return
        if scope["method"] == "POST":
            body = await self._read_body(scope, receive, send)
            if body is None:
                return
            wait = self.budget.retry_after(token, len(body)) if token is not None else None
            if wait is not None:
                _noisy.warning(
                    f"bytes-{tier_key(token or '')}",
                    "a client is over its request bytes per second: answered 429",
                )
                await _respond(
                    send,
                    429,
                    "over this client's request bytes per second",
                    ((b"retry-after", str(max(1, round(wait))).encode()),),
                )
                return
            receive = _replay(body, receive)
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            # Starlette has answered 500 already; say what failed in one line, without the
            # traceback uvicorn would print (and its database text).
            _noisy.warning("app-error", "a request failed: %s", describe_failure(exc))
            if not status:
                await _respond(send, 503, "the service is unavailable")
            return
        if unknown_key and status and status[0] == 401:
            self.failures.spend(address)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once a refusal (413, 408) was sent or the client left."""
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body:
            if _expects_continue(scope) or declared > LINGER_BYTES:
                await self._too_large(send)  # before the body was sent, or too much to wait for
            else:
                await self._drain_then_too_large(receive, send)
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while size <= self.max_body:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        _noisy.info(
                            "disconnect", "a client disconnected before sending its whole request"
                        )
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            _noisy.warning(
                "body-timeout", "a request body took over %g s: answered 408", self.body_timeout
            )
            await _respond(send, 408, f"request body not received within {self.body_timeout:g} s")
            return None
        if size > self.max_body:
            await self._drain_then_too_large(receive, send, size)
            return None
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await _respond(send, 413, f"request body over {self.max_body} bytes")

    async def _drain_then_too_large(self, receive: Receive, send: Send, read: int = 0) -> None:
        """Read and drop the rest of a body that is too large (a bounded amount), then 413.

        Answering and closing while the client still writes makes its TCP stack
        discard the answer (a reset): the client would see a broken connection,
        not the 413. Like nginx's lingering close, up to LINGER_BYTES are drained,
        within the body timeout, and nothing of it is kept.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.body_timeout):
                while read <= LINGER_BYTES:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client left
                    read += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        await self._too_large(send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _expects_continue(scope: Scope) -> bool:
    """`Expect: 100-continue`: the client waits for our go before it sends the body."""
    return any(
        name == b"expect" and value.lower() == b"100-continue" for name, value in scope["headers"]
    )


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the buffered body once, then waits on the real one (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class SessionAdmission:
    """Refuses a client's new MCP session beyond its tier's `sessions` limit, with 429.

    It runs inside authentication (it needs the client) and counts the client's
    live sessions in this process (`SessionRouter.live_sessions`) plus its
    requests that may be opening one right now, so concurrent initializes cannot
    overshoot.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        limits: Limits,
        live_sessions: Callable[[str], int],
        tier_of: Callable[[str], str | None],
        shared: SessionLiveness | None = None,
    ) -> None:
        self.app = app
        self.path = path
        self.limits = limits
        self.live_sessions = live_sessions
        self.tier_of = tier_of
        # With Redis the client's sessions are counted there, across every process.
        self.shared = shared
        self._opening: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client_id = _opening_client(scope, self.path)
        tier = self.tier_of(client_id) if client_id is not None else None
        if client_id is None or tier is None or not self.limits.enabled:
            await self.app(scope, receive, send)
            return
        limit = self.limits.of(tier).sessions
        if self.shared is not None:
            await self._admit_shared(self.shared, client_id, limit, scope, receive, send)
            return
        opening = self._opening.get(client_id, 0)
        if self.live_sessions(client_id) + opening >= limit:
            await _too_many_sessions(send, client_id, limit)
            return
        self._opening[client_id] = opening + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self._opening[client_id] - 1
            if left:
                self._opening[client_id] = left
            else:
                del self._opening[client_id]

    async def _admit_shared(
        self,
        shared: SessionLiveness,
        client_id: str,
        limit: int,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The limit counted in Redis: a place held while the request runs (it may open a
        session, which takes the place for itself), given back after."""
        try:
            held = await shared.reserve(client_id, limit)
        except RedisUnavailableError as exc:
            await _respond(send, 503, exc.message, ((b"retry-after", b"5"),))
            return
        if isinstance(held, int):
            await _too_many_sessions(send, client_id, limit)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await asyncio.shield(shared.unreserve(client_id, held))


async def _too_many_sessions(send: Send, client_id: str, limit: int) -> None:
    what = "client %s is at its %d open sessions: answered 429"
    _noisy.warning(f"sessions-{client_id}", what, client_id, limit)
    await _respond(
        send,
        429,
        f"this client already has {limit} open sessions, the limit of its tier",
        ((b"retry-after", b"30"),),
    )


def _opening_client(scope: Scope, path: str) -> str | None:
    """The client of a request that may open a handshake session, else None."""
    if scope["type"] != "http" or scope["path"] != path or scope["method"] != "POST":
        return None
    version = None
    for name, value in scope["headers"]:
        if name == b"mcp-session-id":
            return None
        if name == b"mcp-protocol-version":
            version = value.decode("latin-1")
    if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
        return None  # the stateless 2026-07-28 protocol opens no session
    user = scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        return None
    return user.access_token.client_id
