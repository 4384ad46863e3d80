"""Real MCP peers for the tests: `mcp-service serve` subprocesses and the official SDK client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.session import LoggingFnT
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import ProgressFnT
from mcp.types import LoggingMessageNotificationParams

from mcp_service.tracing import TRACEPARENT
from tests.toolkit import until_sync

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "mcp_service.cli", "serve"]
READY = re.compile(r"serving MCP over streamable HTTP at (http://\S+/mcp)")
MODES = ["legacy", "auto"]


@dataclass
class HttpServer:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")


# For servers under a load one client would never send alone: the protocol is under test,
# not the per-client limits (tests/adversarial tests those, with the defaults).
UNLIMITED = {"MCP_LIMITS": "off"}


def start_http_server(db_url: str, log: Path, **env_extra: str) -> HttpServer:
    env = {**os.environ, "MCP_DATABASE_URL": db_url, **env_extra}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SERVE, "--transport", "http", "--port", "0", "--log-level", "info"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

    def started() -> re.Match[str] | None:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{log.read_text()[-3000:]}")
        return READY.search(log.read_text())

    try:
        until_sync(started, "the server to start")
    except AssertionError:
        process.kill()
        raise
    found = started()
    assert found is not None
    return HttpServer(found.group(1), log, process)


def stop(server: HttpServer) -> int:
    server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=30)


# -- clients -------------------------------------------------------------------------------


@dataclass
class Seen:
    """What a client received besides results."""

    progress: list[tuple[float, float | None, str | None]]
    logs: list[str]


def new_seen() -> Seen:
    return Seen(progress=[], logs=[])


@asynccontextmanager
async def http_client(
    url: str, key: str | None, mode: str, seen: Seen | None = None
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        transport = streamable_http_client(url, http_client=http)
        client = Client(
            transport,
            mode=mode,
            logging_callback=log_recorder(seen or new_seen()),
            log_level="info",
            read_timeout_seconds=60,
        )
        async with client:
            yield client


@asynccontextmanager
async def stdio_mcp_client(
    db_url: str,
    key: str | None,
    mode: str,
    errlog: Path,
    seen: Seen | None = None,
    env_extra: Mapping[str, str] | None = None,
) -> AsyncIterator[Client]:
    env = {"MCP_DATABASE_URL": db_url, **(env_extra or {})}
    # The SDK gives a server only a safe list of variables: the test's trace (set by
    # mcp-dashboard's plugin) goes on by name, so the server's session row carries it.
    if TRACEPARENT in os.environ:
        env.setdefault(TRACEPARENT, os.environ[TRACEPARENT])
    if key is not None:
        env["MCP_API_KEY"] = key
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:], env=env, cwd=ROOT)
    with errlog.open("w") as sink:
        client = Client(
            stdio_client(params, errlog=sink),
            mode=mode,
            logging_callback=log_recorder(seen or new_seen()),
            log_level="info",
            read_timeout_seconds=60,
        )
        async with client:
            yield client


def log_recorder(seen: Seen) -> LoggingFnT:
    """A client's `logging_callback` that keeps each log line the server sends."""

    async def record(params: LoggingMessageNotificationParams) -> None:
        seen.logs.append(str(params.data))

    return record


def progress_recorder(seen: Seen) -> ProgressFnT:
    async def record(progress: float, total: float | None, message: str | None) -> None:
        seen.progress.append((progress, total, message))

    return record
