"""Helpers for the live-table tests: real rows through the real service, plain SQL, faults.

The run's database (`database_url`) is shared by every test of the run, so
tests count relative to what was there and find their own rows by id.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from textual.pilot import Pilot
from textual.widget import Widget

from mcp_dashboard.change_feed import choose_feed
from mcp_dashboard.db_views.base import DEFAULT_ROW_LIMIT
from mcp_dashboard.widgets.live_tables import LiveTables
from mcp_service import MCPService
from mcp_service.config import Settings
from tests.toolkit import until

SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def sync_engine(url: str) -> Engine:
    """The same database through a synchronous driver, for plain SQL from a test."""
    parsed = make_url(url)
    return create_engine(
        parsed.set(drivername=SYNC_DRIVERS[parsed.get_backend_name()]), poolclass=NullPool
    )


def execute(url: str, sql: str, params: dict[str, Any] | None = None) -> list[Sequence[Any]]:
    """Run one statement in its own committed transaction; its rows, if any."""
    engine = sync_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def totals(url: str) -> tuple[int, int, int]:
    """Rows in clients, sessions and tool_executions right now."""
    [(clients, sessions, executions)] = execute(
        url,
        "SELECT (SELECT count(*) FROM clients), (SELECT count(*) FROM sessions), "
        "(SELECT count(*) FROM tool_executions)",
    )
    return clients, sessions, executions


def status_counts(clients: int, sessions: int, executions: int) -> str:
    """What the status line says for these totals."""
    return " · ".join(
        f"{min(n, DEFAULT_ROW_LIMIT):,} of {n:,} {name}"
        for n, name in ((clients, "clients"), (sessions, "sessions"), (executions, "executions"))
    )


def tables_line(counts: str, shown: str, database_url: str) -> str:
    """The tables line: the counts, the live feed followed without Redis (PostgreSQL's
    own; none on SQLite), the database's name."""
    feed = choose_feed(database_url, None)
    live = f"  live: {feed.carrier}" if feed is not None else ""
    return f"{counts}{live}  {shown}"


def plus(before: tuple[int, int, int], added: tuple[int, int, int]) -> tuple[int, int, int]:
    c, s, e = (a + b for a, b in zip(before, added, strict=True))
    return c, s, e


@dataclass(frozen=True)
class Written:
    client_id: str
    api_key: str
    session_id: str
    execution_ids: tuple[str, ...]  # oldest first


async def write_rows(url: str, name: str, calls: int = 3) -> Written:
    """One client, one session and `calls` echo calls, through the real service."""
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    try:
        registered = await service.register_client(name, "basic", client_type="ide")
        session = await service.create_session(registered.client_id)
        ids = []
        for i in range(calls):
            record = await service.execute_tool(
                session.session_id, "echo", {"message": str(i)}, client_id=registered.client_id
            )
            ids.append(record.execution_id)
    finally:
        await service.shutdown()
    return Written(registered.client_id, registered.api_key, session.session_id, tuple(ids))


async def focus(pilot: Pilot[Any], widget: Widget) -> None:
    """Focus `widget`, asking again until it has it (a tab that is just being shown cannot)."""

    def focused() -> bool:
        widget.focus()
        return pilot.app.focused is widget

    await until(focused, f"{widget} to take the focus", pilot=pilot)


async def polls(pilot: Pilot[Any], tables: LiveTables, count: int) -> None:
    """Let the tables answer `count` more polls (instead of sleeping for a few of them)."""
    target = tables.polls + count
    await until(lambda: tables.polls >= target, f"{count} more polls", pilot=pilot)


LOCKER = """
import sqlite3, sys
path, mode, sql, end = sys.argv[1:]
conn = sqlite3.connect(path, isolation_level=None, timeout=10)
conn.execute(f"PRAGMA locking_mode={mode}")
conn.execute("BEGIN EXCLUSIVE")
conn.execute(sql)
print("locked", flush=True)
sys.stdin.read()
conn.execute(end)
"""


@contextmanager
def locked_by_another_process(
    path: Path,
    *,
    mode: str = "EXCLUSIVE",
    sql: str = "UPDATE clients SET name = name",
    commit: bool = False,
) -> Iterator[None]:
    """Another process holds BEGIN EXCLUSIVE on the file, with `sql` done, until the block ends.

    In WAL mode (the service's) a plain BEGIN EXCLUSIVE (`mode="NORMAL"`) does
    not stop readers: that is WAL's point. Exclusive locking mode does, but it
    can only be taken while no other connection has the file open, and it is
    waited for (10 s) until then.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), mode, sql, "COMMIT" if commit else "ROLLBACK"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


class TcpProxy:
    """A TCP forwarder to the PostgreSQL server: stopping it is the server going away.

    `stop()` refuses new connections and cuts the open ones, as a server that
    went down would; `start()` brings it back on the same port.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # stop listening now, not after accept()
            listener.close()
        with self._lock:
            opened, self._open = self._open, set()
        for sock in opened:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._listener is not listener:
                client.close()
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
