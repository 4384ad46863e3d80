"""Hostile clients against real `mcp-service serve` processes on the run's database.

Each test attacks a real HTTP server (a subprocess, its log kept) with an
ordinary key, and checks that the attack is refused or bounded while another
client is served. Servers are stopped with SIGTERM at the end of each test and
must exit cleanly unless the test says otherwise. Every answer and server log of
every test is checked for internals and keys at its end (leaks.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx2
import pytest

from mcp_service import MCPService
from tests.adversarial.leaks import LeakWatch, heard, http_client, start_server, watching
from tests.faults.processes import Registered, Server
from tests.integration.conftest import make_settings
from tests.integration.conftest import raw_db as raw_db
from tests.integration.conftest import service as service


class Register(Protocol):
    """The `register` fixture: a client of a tier (basic unless said), its key shown once."""

    async def __call__(self, name: str, tier: str = "basic") -> Registered: ...


StartServer = Callable[..., Server]


@pytest.fixture(autouse=True)
def leak_watch() -> Iterator[LeakWatch]:
    """Every answer, server log and key of the test, checked at its end (set up first, so
    checked after every other fixture has stopped its servers)."""
    with watching() as watch:
        yield watch


@pytest.fixture
async def register(database_url: str, leak_watch: LeakWatch) -> AsyncIterator[Register]:
    """Register clients in-process (the CLI's path, without a process per client)."""
    service = MCPService(make_settings(database_url))
    await service.initialize()

    async def registered(name: str, tier: str = "basic") -> Registered:
        made = await service.register_client(name, tier)
        return leak_watch.key(Registered(made.client_id, made.api_key))

    yield registered
    await service.shutdown()


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[StartServer]:
    """Start HTTP servers on the run's database; any still running at the end get SIGTERM.

    Their logs are checked for internals and keys at the end of the test (leak_watch)."""
    started: list[Server] = []

    def start(*args: str, preexec: Callable[[], None] | None = None, **env: str) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        server = start_server(database_url, log, *args, preexec=preexec, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def rpc(method: str, params: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


# The 2026-07-28 protocol: every request carries its protocol version and capabilities.
MODERN = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def headers(key: str, *, modern: bool = False) -> dict[str, str]:
    found = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    if modern:
        found["MCP-Protocol-Version"] = MODERN
    return found


async def post_raw(
    url: str,
    key: str,
    body: bytes,
    *,
    modern: bool = False,
    session: str | None = None,
    extra: dict[str, str] | None = None,
) -> httpx2.Response:
    """One POST of bytes as given: what a client the SDK would refuse to build can send."""
    sent = {**headers(key, modern=modern), **(extra or {})}
    if session is not None:
        sent["mcp-session-id"] = session
    async with http_client() as http:
        return await http.post(url, headers=sent, content=body)


async def raw_http(
    url: str,
    key: str,
    body: bytes,
    *,
    send_body: bool = True,
    chunked: bool = False,
) -> bytes:
    """A POST over a plain socket, as a hostile client writes it; the response it got."""
    address = httpx2.URL(url)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    framing = [b"transfer-encoding: chunked" if chunked else b"content-length: %d" % len(body)]
    if not send_body:
        framing.append(b"expect: 100-continue")  # what curl does before a large body
    head = b"\r\n".join(
        [
            b"POST %s HTTP/1.1" % address.raw_path,
            b"host: %s:%d" % (address.host.encode(), address.port or 80),
            *(f"{k}: {v}".encode() for k, v in headers(key).items()),
            *framing,
            b"",
            b"",
        ]
    )
    writer.write(head)
    try:
        if send_body:
            for start in range(0, len(body), 65_536):
                part = body[start : start + 65_536]
                writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
    except ConnectionError:
        pass  # refused mid-body: the answer is already waiting
    head_of_answer = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head_of_answer.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    answer = head_of_answer + await reader.readexactly(length)
    writer.close()
    heard(f"raw POST {url}", answer)
    return answer


def proc_alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")
