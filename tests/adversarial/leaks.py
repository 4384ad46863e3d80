"""Nothing a hostile-client test gets back, and no log of a server it ran, holds internals or a key.

The README promises that clients get a code and a short message, never driver
text, SQL, parameters or documentation links, and that keys never appear in
logs. Every test of this package is watched (the autouse `leak_watch` fixture):
the helpers here record each answer a test reads (HTTP response bodies and
headers, as the MCP client receives them too, raw socket answers, stdio lines),
each server log, and each key registered. At the end of the test, all of it
must be free of SQL, driver text, sqlalche.me links, every registered key id
and anything shaped like a key (`mcp_<id>_<secret>`).

Use these helpers instead of tests/faults/processes.py's `start_server`,
`register` and `mcp_client`: they are the same, and recorded.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.faults import processes
from tests.faults.processes import Registered, Server

# Statement text, driver text and documentation links that must never reach a client or a log.
LEAKS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE)\b.*\b(FROM|INTO|SET|WHERE)\b|sqlalche\.me|"
    r"\[SQL:|\[parameters:|sqlite3\.|asyncpg\.|psycopg",
    re.IGNORECASE,
)
# A whole API key, registered or not (security.py's format).
KEY_SHAPE = re.compile(r"mcp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


def no_leaks(*texts: str, key_ids: Iterable[str] = (), where: str = "") -> None:
    """None of these texts holds SQL, driver text, a documentation link, a key or a key id."""
    ids = [re.escape(k) for k in key_ids]
    patterns = [LEAKS, KEY_SHAPE, *([re.compile("|".join(ids))] if ids else [])]
    for text in texts:
        for pattern in patterns:
            found = pattern.search(text)
            assert found is None, (
                f"leak in {where or 'a text'}: "
                f"{text[max(0, found.start() - 80) : found.end() + 80]!r}"
            )


@dataclass
class LeakWatch:
    """What one test got back and which keys it made; `check` looks through all of it."""

    answers: list[tuple[str, list[bytes]]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    key_ids: set[str] = field(default_factory=set)

    def answer(self, where: str, body: str | bytes) -> list[bytes]:
        """Record an answer; the list returned takes more of it as it arrives."""
        parts = [body.encode(errors="replace") if isinstance(body, str) else body]
        self.answers.append((where, parts))
        return parts

    def log(self, path: Path) -> None:
        self.logs.append(path)

    def key(self, client: Registered) -> Registered:
        self.key_ids.add(client.api_key.split("_")[1])
        return client

    def check(self) -> None:
        texts = [(where, b"".join(parts).decode(errors="replace")) for where, parts in self.answers]
        texts += [(str(p), p.read_text(errors="replace")) for p in self.logs if p.exists()]
        for where, text in texts:
            no_leaks(text, key_ids=self.key_ids, where=where)


_CURRENT: list[LeakWatch] = []


@contextlib.contextmanager
def watching() -> Iterator[LeakWatch]:
    """Watch everything recorded until the end of the block, then check it."""
    watch = LeakWatch()
    _CURRENT.append(watch)
    try:
        yield watch
    finally:
        _CURRENT.remove(watch)
    watch.check()


def watch() -> LeakWatch:
    """The running test's watch (one that nobody checks outside a test)."""
    return _CURRENT[-1] if _CURRENT else LeakWatch()


def heard(where: str, body: str | bytes) -> None:
    watch().answer(where, body)


# -- the recorded versions of the shared helpers -----------------------------------------------


def start_server(
    database_url: str,
    log: Path,
    *args: str,
    preexec: Callable[[], None] | None = None,
    **env: str,
) -> Server:
    """tests/faults' `start_server`, its log checked at the end of the test."""
    watch().log(log)
    return processes.start_server(database_url, log, *args, preexec=preexec, **env)


def register(database_url: str, name: str, tier: str = "basic") -> Registered:
    """tests/faults' `register` (the CLI), its key id looked for at the end of the test."""
    return watch().key(processes.register(database_url, name, tier))


class _Tee(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, parts: list[bytes]) -> None:
        self._inner = inner
        self._parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._parts.append(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx2.AsyncBaseTransport):
    """An HTTP transport that records every response's headers and body as they are read."""

    def __init__(self, limits: httpx2.Limits | None = None) -> None:
        self._inner = httpx2.AsyncHTTPTransport(limits=limits or httpx2.Limits())

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        head = "".join(f"{k}: {v}\n" for k, v in response.headers.items())
        parts = watch().answer(f"{request.method} {request.url} ({response.status_code})", head)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(response.stream, parts),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def http_client(timeout: float = 60) -> httpx2.AsyncClient:
    """An httpx client whose every response is recorded."""
    return httpx2.AsyncClient(transport=RecordingTransport(), timeout=timeout)


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, key: str, *, mode: str = "legacy", read_timeout: float = 60.0
) -> AsyncIterator[Client]:
    """tests/faults' `mcp_client` (the official MCP client), every response recorded."""
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx2.AsyncClient(
        transport=RecordingTransport(limits),
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx2.Timeout(30, read=read_timeout),
    ) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, read_timeout_seconds=read_timeout) as client:
            yield client
