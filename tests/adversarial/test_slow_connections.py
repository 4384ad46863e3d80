"""Connections that never finish a request, or never leave: closed on time, logged once.

Before: 550 slow-header, slow-body and idle connections were all still open after
90 s; with a low descriptor limit the log grew by 252 MB in 40 s, and every client
that left mid-body logged a 46-line traceback. These are about HTTP, not the
database: they run once, on a SQLite file of their own.
"""

from __future__ import annotations

import asyncio
import resource
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.adversarial.leaks import heard, mcp_client, register
from tests.adversarial.leaks import start_server as start_http_server
from tests.faults.processes import Registered, Server, new_database
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

FAST = {
    "MCP_HTTP_HEADER_TIMEOUT": "1",
    "MCP_HTTP_BODY_TIMEOUT": "1",
    "MCP_HTTP_KEEP_ALIVE_TIMEOUT": "1",
}


@pytest.fixture
def database(tmp_path: Path) -> str:
    return new_database(tmp_path / "service.db")


@pytest.fixture
def client(database: str) -> Registered:
    return register(database, "legit", "readonly")


@pytest.fixture
def serve(database: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(preexec: Callable[[], None] | None = None, **env: str) -> Server:
        log = tmp_path / f"server-{len(started)}.log"
        server = start_http_server(database, log, "--log-level", "info", preexec=preexec, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            assert server.stop() == 0


async def connect(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = httpx2.URL(server.url)
    assert address.host and address.port
    return await asyncio.open_connection(address.host, address.port)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed the connection (waits for the close)."""
    answer = await reader.read()
    heard("a raw connection", answer)
    return answer


async def legit_call(server: Server, client: Registered) -> None:
    async with mcp_client(server.url, client.api_key) as mcp:
        assert not (await mcp.call_tool("echo", {"message": "legit"})).is_error


async def test_slow_headers_slow_bodies_and_idle_connections_are_closed(
    serve: Callable[..., Server], client: Registered, step: Step
) -> None:
    server = serve(**FAST)
    slow_headers = [await connect(server) for _ in range(20)]
    for _reader, writer in slow_headers:
        writer.write(b"POST /mcp HTTP/1.1\r\nhost: x\r\n")  # and never the rest
    slow_body = await connect(server)
    slow_body[1].write(
        b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 1000\r\n\r\n{"jsonrpc"'
    )
    await legit_call(server, client)
    step("20 slowloris connections and a slow body open: a legitimate client was served")

    for reader, _writer in slow_headers:
        assert await closed_by_server(reader) == b""
    step("Every connection still sending headers was closed by the server")
    answer = await closed_by_server(slow_body[0])
    assert answer.startswith(b"HTTP/1.1 408 ")
    step("The body that never finished got 408 and the connection was closed")

    idle_reader, idle_writer = await connect(server)
    idle_writer.write(b"GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nhost: x\r\n\r\n")
    metadata = await idle_reader.readuntil(b"\r\n\r\n")
    heard("a kept-alive connection", metadata)
    assert metadata.startswith(b"HTTP/1.1 200 ")
    await closed_by_server(idle_reader)  # kept alive, then closed once idle
    step("An idle kept-alive connection was closed after its keep-alive timeout")

    log = server.log_text()
    assert "Traceback" not in log
    assert log.count("closed a connection whose request headers took over 1 s") == 1
    assert log.count("a request body took over 1 s: answered 408") == 1
    step("The log holds one line for the 20 slow connections, and no traceback")


async def test_connections_over_the_cap_are_closed_at_once(
    serve: Callable[..., Server], client: Registered, step: Step
) -> None:
    server = serve(MCP_HTTP_MAX_CONNECTIONS="10", MCP_HTTP_HEADER_TIMEOUT="60")
    held = [await connect(server) for _ in range(10)]
    for _reader, writer in held:
        writer.write(b"POST /mcp HTTP/1.1\r\n")
    extra = [await connect(server) for _ in range(5)]
    for reader, _writer in extra:
        assert await closed_by_server(reader) == b""
    step("With 10 connections open, 5 more were closed as soon as they opened")
    for _reader, writer in held:
        writer.close()
    await until(lambda: server.log_text().count("connections open: refusing") == 1)
    await legit_call(server, client)
    step("The held ones gone, a legitimate client was served")


async def test_a_client_leaving_mid_body_costs_one_line(
    serve: Callable[..., Server], client: Registered, step: Step
) -> None:
    server = serve()
    for _ in range(20):
        reader, writer = await connect(server)
        writer.write(
            b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n"
            b"authorization: Bearer " + client.api_key.encode() + b"\r\n\r\n" + b"x" * 1000
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        assert await reader.read() == b""
    await legit_call(server, client)
    await until(
        lambda: "a client disconnected before sending its whole request" in server.log_text()
    )
    log = server.log_text()
    assert "Traceback" not in log
    assert log.count("a client disconnected before sending its whole request") == 1
    step("20 clients left mid-body: one log line, no traceback")


def few_descriptors() -> None:
    """In the server process: 64 file descriptors, so a few dozen sockets exhaust them."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


async def test_running_out_of_descriptors_logs_little_and_recovers(
    serve: Callable[..., Server], client: Registered, step: Step
) -> None:
    server = serve(preexec=few_descriptors, MCP_HTTP_HEADER_TIMEOUT="2")
    hogs = [await connect(server) for _ in range(100)]
    for _reader, writer in hogs:
        writer.write(b"POST /mcp HTTP/1.1\r\n")
    await until(lambda: "out of file descriptors" in server.log_text(), "descriptors to run out")
    for reader, _writer in hogs:
        await closed_by_server(reader)  # the server closes each once its headers time out
    await legit_call(server, client)
    step("100 sockets on a 64-descriptor server: it ran out, recovered, and served a client")
    log = server.log_text()
    assert "Traceback" not in log
    assert len(log) < 20_000
    assert log.count("out of file descriptors") <= 3
    step(f"The whole log is {len(log)} bytes, with no traceback")
