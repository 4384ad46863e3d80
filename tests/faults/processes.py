"""Real `mcp-service` processes for the fault and security tests: serve, CLI, MCP client.

Kept here rather than imported from the integration suite, whose helpers are
being reshaped: these tests need only a temporary SQLite file, a server
subprocess whose log is kept, and the official MCP client over streamable HTTP.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "mcp_service.cli"]
READY = re.compile(r"serving MCP over streamable HTTP at (http://\S+/mcp)")
START_TIMEOUT = 60.0


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def new_database(path: Path) -> str:
    """`mcp-service db upgrade` on a new file, as a deployment starts; its URL."""
    url = sqlite_url(path)
    done = cli(url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    return url


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a service process: this one's, minus any key or database of the run."""
    env = {k: v for k, v in os.environ.items() if k not in ("MCP_API_KEY", "MCP_DATABASE_URL")}
    env.update(MCP_DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **extra)
    return env


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`mcp-service ARGS` on the given database, output captured."""
    return subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env=service_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Registered:
    client_id: str
    api_key: str


def register(database_url: str, name: str, tier: str = "basic") -> Registered:
    """`mcp-service register-client --json`: the only place a key is ever printed."""
    done = cli(database_url, "register-client", "--name", name, "--tier", tier, "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    return Registered(payload["client_id"], payload["api_key"])


@dataclass
class Server:
    """`mcp-service serve --transport http --port 0`; its stderr is copied to `log`."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]
    _copier: threading.Thread = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> int:
        """SIGKILL: no shutdown code runs, nothing is flushed but what the OS already has."""
        self.process.send_signal(signal.SIGKILL)
        return self.wait()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        code = self.process.wait(timeout=60)
        self._copier.join(timeout=10)
        return code

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(
    database_url: str,
    log: Path,
    *args: str,
    preexec: Callable[[], None] | None = None,
    **env: str,
) -> Server:
    """Start a server and return once it announced its URL (read from its stderr, no polling).

    `preexec` runs in the child before it starts (resource limits, signal dispositions).
    """
    process = subprocess.Popen(
        [*CLI, "serve", "--transport", "http", "--port", "0", *args],
        cwd=ROOT,
        env=service_env(database_url, **env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=preexec,
    )
    ready = threading.Event()
    found: list[str] = []

    def copy() -> None:
        assert process.stdout is not None
        with log.open("wb") as sink:
            for line in process.stdout:
                sink.write(line)
                sink.flush()
                if not found and (match := READY.search(line.decode(errors="replace"))):
                    found.append(match.group(1))
                    ready.set()
        ready.set()  # the server exited: stop waiting

    copier = threading.Thread(target=copy, name="server-log", daemon=True)
    copier.start()
    if not ready.wait(START_TIMEOUT) or not found:
        process.kill()
        process.wait()
        copier.join(timeout=10)
        raise AssertionError(f"server did not start:\n{log.read_text()[-3000:]}")
    return Server(found[0], log, process, copier)


@asynccontextmanager
async def mcp_client(
    url: str, key: str, *, mode: str = "legacy", read_timeout: float = 60.0
) -> AsyncIterator[Client]:
    """The official MCP client over streamable HTTP with a bearer key."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    timeout = httpx2.Timeout(30, read=read_timeout)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout, limits=limits) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, read_timeout_seconds=read_timeout) as client:
            yield client
