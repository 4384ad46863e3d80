"""Database faults while the live tables watch: a clear message, a responsive app, recovery.

SQLite: the file deleted, locked by another process, overwritten with garbage.
PostgreSQL: the server unreachable (a real TCP forwarder to the shared server
is stopped and started) and the database dropped and recreated; each test
makes a database of its own, so the shared server is never stopped.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.widgets import DataTable, Static, TabbedContent

from mcp_dashboard.db_views.base import Snapshot
from mcp_dashboard.db_views.factory import open_view
from mcp_dashboard.monitor import MonitorApp
from mcp_dashboard.widgets.live_tables import LiveTables
from tests.dashboard.live_db import (
    TcpProxy,
    focus,
    locked_by_another_process,
    polls,
    status_counts,
    tables_line,
    write_rows,
)
from tests.databases import admin, postgres_database, postgres_server_url, upgrade
from tests.toolkit import until, until_sync

SIZE = (140, 40)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def remove_database_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def recorder(notes: list[Notification]) -> Callable[[Message], None]:
    """A message hook that keeps every notification the app shows."""

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notes.append(message.notification)

    return hook


def text_of(widget: Static) -> str:
    return str(widget.render()).strip()


# -- SQLite, the view ------------------------------------------------------------


@pytest.mark.sqlite_only
def test_sqlite_view_faults_are_messages_that_recover(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    asyncio.run(write_rows(sqlite_url(path), "Faulty Co"))
    good = path.read_bytes()
    view = open_view(path)
    snap = view.poll()
    assert snap is not None and snap.ok and snap.executions is not None
    assert snap.executions.total == 3

    remove_database_file(path)
    snap = view.poll()
    assert snap is not None
    assert snap.error == f"Database file not found: {path} (waiting for it to appear)"

    path.write_bytes(b"this is not a database" * 100)
    snap = view.poll()
    assert snap is not None
    assert snap.error == f"Database file is corrupt or not SQLite: {path} (retrying)"

    path.write_bytes(good)
    # The view let go of the file at the fault: another process takes it in exclusive
    # locking mode before the next poll (while the view is connected it could not).
    with locked_by_another_process(path):
        snap = view.poll()
        assert snap is not None
        assert snap.error == f"Database is locked by another process: {path} (retrying)"
    snap = view.poll()
    assert snap is not None and snap.ok and snap.executions is not None
    assert snap.executions.total == 3

    # Restored from a backup by rename: a new file under the same name is followed.
    backup = tmp_path / "backup.db"
    asyncio.run(write_rows(sqlite_url(backup), "Backup Co", calls=1))
    os.replace(backup, path)
    snap = view.poll()
    assert snap is not None and snap.ok and snap.clients is not None
    assert [cells[1] for _, cells in snap.clients.rows] == ["Backup Co"]
    assert snap.executions is not None and snap.executions.total == 1


# -- SQLite, the app ---------------------------------------------------------------


@asynccontextmanager
async def deleted(path: Path) -> AsyncIterator[None]:
    remove_database_file(path)
    yield
    await write_rows(sqlite_url(path), "Reborn Co", calls=1)  # a new file, migrated on first use


@asynccontextmanager
async def garbage(path: Path) -> AsyncIterator[None]:
    good = path.read_bytes()
    path.write_bytes(b"\x00garbage\xff" * 4096)
    yield
    path.write_bytes(good)


Fault = Callable[[Path], AbstractAsyncContextManager[None]]
SQLITE_FAULTS: dict[str, tuple[Fault, str, tuple[int, int, int]]] = {
    # fault, its message, what the tables show once the file is good again
    "deleted": (deleted, "Database file not found: {path} (waiting for it to appear)", (1, 1, 1)),
    "garbage": (garbage, "Database file is corrupt or not SQLite: {path} (retrying)", (1, 1, 3)),
}


@pytest.mark.sqlite_only
@pytest.mark.parametrize("fault", list(SQLITE_FAULTS))
async def test_monitor_survives_a_sqlite_fault_and_recovers(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "svc.db"
    await write_rows(sqlite_url(path), "Faulty Co")
    apply_fault, message, after = SQLITE_FAULTS[fault]
    message = message.format(path=path)
    notes: list[Notification] = []
    app = MonitorApp(sqlite_url(path))
    async with app.run_test(size=SIZE, message_hook=recorder(notes)) as pilot:
        tables = app.query_one(LiveTables)
        status = app.query_one("#tables-status", Static)
        executions = app.query_one("#table-executions", DataTable)
        await until(
            lambda: text_of(status) == f"{status_counts(1, 1, 3)}  {path}",
            "the status line to say so",
            pilot=pilot,
        )
        app.query_one(TabbedContent).active = "tab-executions"
        await focus(pilot, executions)
        executions.move_cursor(row=0)

        async with apply_fault(path):
            await until(
                lambda: text_of(status) == message, "text_of(status) == message", pilot=pilot
            )
            assert status.has_class("error") and tables.has_class("-fault")
            assert executions.row_count == 3  # the last rows read stay, dimmed
            # Posted with the status, shown just after.
            await until(lambda: bool(notes), "the notifications", pilot=pilot)
            assert [(n.title, n.message, n.severity) for n in notes] == [
                ("Live tables", message, "warning")
            ]
            await pilot.press("down")  # the app still answers keys
            assert executions.cursor_row == 1
            await polls(pilot, tables, 3)  # a few more polls fail: still one notification
            assert len(notes) == 1 and text_of(status) == message

        await until(
            lambda: text_of(status) == f"{status_counts(*after)}  {path}",
            "the status line to say so",
            pilot=pilot,
        )
        assert not status.has_class("error") and not tables.has_class("-fault")
        assert executions.row_count == after[2]
        await until(lambda: len(notes) == 2, "the notifications", pilot=pilot)
        assert [n.message for n in notes] == [message, f"Reading {path} again."]


@pytest.mark.sqlite_only
async def test_monitor_opened_on_a_locked_file_says_so_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    await write_rows(sqlite_url(path), "Locked Co")
    message = f"Database is locked by another process: {path} (retrying)"
    notes: list[Notification] = []
    app = MonitorApp(sqlite_url(path))
    with ExitStack() as lock:
        lock.enter_context(locked_by_another_process(path))
        async with app.run_test(size=SIZE, message_hook=recorder(notes)) as pilot:
            status = app.query_one("#tables-status", Static)
            executions = app.query_one("#table-executions", DataTable)
            await until(
                lambda: text_of(status) == message, "text_of(status) == message", pilot=pilot
            )
            assert status.has_class("error") and executions.row_count == 0
            await pilot.press("r")  # refresh now: the app answers; the file is still locked
            await polls(pilot, app.query_one(LiveTables), 2)
            assert text_of(status) == message

            lock.close()
            await until(
                lambda: text_of(status) == f"{status_counts(1, 1, 3)}  {path}",
                "the status line to say so",
                pilot=pilot,
            )
            assert executions.row_count == 3 and not status.has_class("error")
    assert notes == []  # nothing on screen was interrupted: the status line says it all


@pytest.mark.sqlite_only
async def test_a_writer_holding_begin_exclusive_does_not_disturb_the_tables(
    tmp_path: Path,
) -> None:
    """WAL: readers keep reading the last commit while another process writes."""
    path = tmp_path / "svc.db"
    written = await write_rows(sqlite_url(path), "Steady Co")
    app = MonitorApp(sqlite_url(path))
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one("#tables-status", Static)
        clients = app.query_one("#table-clients", DataTable)
        steady = f"{status_counts(1, 1, 3)}  {path}"
        await until(lambda: text_of(status) == steady, "the status line to say so", pilot=pilot)
        rename = f"UPDATE clients SET name = 'Renamed' WHERE id = '{written.client_id}'"
        with locked_by_another_process(path, mode="NORMAL", sql=rename, commit=True):
            await polls(pilot, app.query_one(LiveTables), 3)  # while the write lock is held
            assert text_of(status) == steady and clients.get_row_at(0)[1] == "Steady Co"
        await until(
            lambda: clients.get_row_at(0)[1] == "Renamed",
            "clients.get_row_at(0)[1] == 'Renamed'",
            pilot=pilot,
        )
        assert text_of(status) == steady


# -- PostgreSQL ------------------------------------------------------------------------


def test_a_server_that_never_answers_holds_one_poll_and_nothing_else() -> None:
    """A host that takes the connection and says nothing (no PostgreSQL server needed)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        view = open_view(f"postgresql+asyncpg://svc:s3cret@127.0.0.1:{port}/live")
        results: list[Snapshot | None] = []
        waiting = threading.Thread(target=lambda: results.append(view.poll()))
        waiting.start()
        until_sync(view._lock.locked, "the first poll to wait for the server")
        assert view.poll() is None  # the timer's next polls do not queue behind it
        view.close()  # nor does closing it (the app quitting, or a new run)
        assert waiting.is_alive() and results == []  # the first poll still waits
        waiting.join(timeout=10)
        assert results == [
            Snapshot(
                error=f"Cannot reach the PostgreSQL server at 127.0.0.1:{port}: "
                "connection timeout expired (retrying)"
            )
        ]
        assert view.poll() is None  # closed for good


@pytest.mark.database
@pytest.mark.postgresql_only
def test_postgres_view_when_the_database_is_dropped_and_recreated() -> None:
    with postgres_database("mcp_dash_drop") as url:
        asyncio.run(write_rows(url, "Dropped Co"))
        name = make_url(url).database
        server = postgres_server_url()
        view = open_view(url)
        snap = view.poll()
        assert snap is not None and snap.ok and snap.executions is not None
        assert snap.executions.total == 3

        admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        snap = view.poll()
        assert snap is not None and snap.error is not None
        assert snap.error.startswith(f"Lost the connection to {view.source}: ")
        assert snap.error.endswith(" (reconnecting)")
        snap = view.poll()
        assert snap is not None and snap.error == (
            f"Database {name} does not exist on {server.host}:{server.port or 5432} "
            "(waiting for it)"
        )

        admin(f'CREATE DATABASE "{name}"')
        snap = view.poll()
        assert snap is not None
        assert snap.error == f"Database has no service tables yet: {view.source} (waiting)"

        asyncio.run(upgrade(url))
        snap = view.poll()
        assert snap is not None and snap.ok and snap.executions is not None
        assert snap.executions.total == 0
        asyncio.run(write_rows(url, "Recreated Co", calls=2))
        snap = view.poll()
        assert snap is not None and snap.ok and snap.clients is not None
        assert snap.executions is not None and snap.executions.total == 2
        assert [cells[1] for _, cells in snap.clients.rows] == ["Recreated Co"]
        view.close()


@pytest.mark.database
@pytest.mark.postgresql_only
def test_postgres_view_when_the_server_goes_away_and_comes_back() -> None:
    server = postgres_server_url()
    with postgres_database("mcp_dash_proxy") as url:
        asyncio.run(write_rows(url, "Proxied Co"))
        proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
        through = make_url(url).set(host="127.0.0.1", port=proxy.port)
        view = open_view(through.render_as_string(hide_password=False))
        unreachable = (
            f"Cannot reach the PostgreSQL server at 127.0.0.1:{proxy.port}: "
            "Connection refused (retrying)"
        )
        try:
            snap = view.poll()
            assert snap is not None and snap.error == unreachable
            proxy.start()
            snap = view.poll()
            assert snap is not None and snap.ok and snap.executions is not None
            assert snap.executions.total == 3

            proxy.stop()  # mid-watch: the open connection is cut, new ones are refused
            snap = view.poll()
            assert snap is not None and snap.error is not None
            assert snap.error.startswith(f"Lost the connection to {view.source}: ")
            snap = view.poll()
            assert snap is not None and snap.error == unreachable

            proxy.start()
            snap = view.poll()
            assert snap is not None and snap.ok and snap.executions is not None
            assert snap.executions.total == 3
        finally:
            view.close()
            proxy.stop()


@pytest.mark.database
@pytest.mark.postgresql_only
async def test_monitor_on_postgres_survives_a_dropped_database_and_hides_the_password() -> None:
    password = "s3cret-Pw-9"  # trust authentication: sent, never needed
    with postgres_database("mcp_dash_monitor", migrate=False) as plain:
        await upgrade(plain)
        await write_rows(plain, "Watched Co")
        url = make_url(plain).set(password=password).render_as_string(hide_password=False)
        name = make_url(plain).database
        shown = make_url(url).render_as_string(hide_password=True)
        assert password not in shown and ":***@" in shown
        notes: list[Notification] = []
        app = MonitorApp(url)
        async with app.run_test(size=SIZE, message_hook=recorder(notes)) as pilot:
            tables = app.query_one(LiveTables)
            status = app.query_one("#tables-status", Static)
            executions = app.query_one("#table-executions", DataTable)
            await until(
                lambda: text_of(status) == tables_line(status_counts(1, 1, 3), shown, url),
                "the status line to say so",
                pilot=pilot,
            )
            assert text_of(app.query_one("#monitor-title", Static)) == f"Monitoring {shown}"

            await asyncio.to_thread(admin, f'DROP DATABASE "{name}" WITH (FORCE)')
            await until(
                lambda: "does not exist" in text_of(status),
                "the status line to say so",
                pilot=pilot,
            )
            assert tables.has_class("-fault") and executions.row_count == 3
            await until(lambda: bool(notes), "the notifications", pilot=pilot)
            [warning] = notes
            assert warning.severity == "warning"
            assert warning.message.startswith(f"Lost the connection to {shown}: ")
            screen = app.export_screenshot().replace("&#160;", " ")
            assert "does not exist" in screen and password not in screen

            await asyncio.to_thread(admin, f'CREATE DATABASE "{name}"')
            await upgrade(plain)
            await write_rows(plain, "Back Co", calls=1)
            await until(
                lambda: text_of(status) == tables_line(status_counts(1, 1, 1), shown, url),
                "the status line to say so",
                pilot=pilot,
            )
            assert not tables.has_class("-fault") and executions.row_count == 1
            await until(lambda: len(notes) == 2, "the notifications", pilot=pilot)
            assert [n.message for n in notes][1:] == [f"Reading {shown} again."]
            assert password not in app.export_screenshot()
            assert all(password not in n.message for n in notes)
