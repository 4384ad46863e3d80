"""The dashboard's read-only table views, on the run's database as the real service wrote it.

These take `database_url`, so they run on SQLite and again on PostgreSQL: the
same rows, order, bounds and hash labels on both. That database is shared by
the run's tests, so rows are found by id and totals counted from before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mcp_dashboard.db_views.base import DatabaseView
from mcp_dashboard.db_views.factory import UnsupportedDatabase, open_view
from mcp_dashboard.db_views.postgres import PostgresView
from mcp_dashboard.db_views.queries import short_id
from mcp_dashboard.db_views.sqlite import SQLiteView
from mcp_service import MCPService, PermissionDeniedError
from mcp_service.config import Settings
from mcp_service.security import hash_preview
from tests.dashboard.live_db import execute, plus, sync_engine, totals
from tests.toolkit import until_sync


@dataclass(frozen=True)
class Populated:
    url: str
    before: tuple[int, int, int]
    client_id: str
    api_key: str
    created_at: datetime
    session_id: str
    execution_ids: tuple[str, ...]  # oldest first: three echoes, then the denied call


async def populate(url: str) -> Populated:
    service = MCPService(Settings(database_url=url))
    await service.initialize()  # a new SQLite file is created and migrated here
    before = totals(url)
    try:
        registered = await service.register_client("Viewer Co", "basic", client_type="ide")
        session = await service.create_session(registered.client_id)
        ids = []
        for i in range(3):
            record = await service.execute_tool(
                session.session_id, "echo", {"message": str(i)}, client_id=registered.client_id
            )
            ids.append(record.execution_id)
        with pytest.raises(PermissionDeniedError, match="lacks the admin permission") as denied:
            await service.execute_tool(
                session.session_id,
                "revoke_client",
                {"client_id": "x"},
                client_id=registered.client_id,
            )
        assert denied.value.execution_id is not None  # a refused call has its row too
        ids.append(denied.value.execution_id)
        return Populated(
            url,
            before,
            registered.client_id,
            registered.api_key,
            registered.client.created_at,
            session.session_id,
            tuple(ids),
        )
    finally:
        await service.shutdown()


@pytest.fixture
def populated(database_url: str) -> Populated:
    return asyncio.run(populate(database_url))


def time_of_day(moment: datetime) -> str:
    """How the tables show a time of today (UTC), computed independently of db_views."""
    moment = moment.astimezone(UTC)
    if moment.date() == datetime.now(UTC).date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def test_snapshot_shows_real_rows_newest_first_without_secrets(populated: Populated) -> None:
    snap = open_view(populated.url).poll()
    assert snap is not None and snap.ok, snap
    assert snap.clients is not None and snap.sessions is not None and snap.executions is not None
    assert (snap.clients.total, snap.sessions.total, snap.executions.total) == plus(
        populated.before, (1, 1, 4)
    )
    cells = dict(snap.clients.rows)[populated.client_id]
    [(stored_hash,)] = execute(
        populated.url,
        "SELECT api_key_hash FROM clients WHERE id = :id",
        {"id": populated.client_id},
    )
    assert cells == (
        populated.client_id[:8],
        "Viewer Co",
        "basic",
        "ide",
        hash_preview(stored_hash),
        time_of_day(populated.created_at),
        cells[6],  # last active: set by the calls, checked below
        "active",
    )
    assert cells[4].startswith("pbkdf2-sha256:") and cells[4].endswith("…")
    assert cells[6] != "-"
    # Newest first across the whole table: our calls are the latest rows.
    newest = [key for key, _ in snap.executions.rows[:4]]
    assert newest == list(reversed(populated.execution_ids))
    ours = [c for _, c in snap.executions.rows if c[6] == short_id(populated.session_id)]
    assert [(c[2], c[3], c[5]) for c in ours] == [
        ("revoke_client", "denied", "Viewer Co"),
        ("echo", "success", "Viewer Co"),
        ("echo", "success", "Viewer Co"),
        ("echo", "success", "Viewer Co"),
    ]
    [(error,)] = execute(
        populated.url,
        "SELECT error_message FROM tool_executions WHERE id = :id",
        {"id": populated.execution_ids[3]},
    )
    assert len(error) > 60 and "lacks the admin permission" in error
    assert (ours[0][7], ours[1][7]) == (error, "")  # whole: the screen fits it to its width
    session = dict(snap.sessions.rows)[populated.session_id]
    assert session[:4] == (populated.session_id[:8], "Viewer Co", "closed", "4")
    everything = repr(snap)
    assert populated.api_key not in everything and stored_hash not in everything
    assert populated.api_key.split("_", 2)[2] not in everything


def test_unchanged_database_polls_as_none_and_a_commit_is_seen(
    populated: Populated, database_backend: str
) -> None:
    view = open_view(populated.url)
    assert view.poll() is not None
    if database_backend == "sqlite":
        assert view.poll() is None
    else:
        # The signal is the cluster's snapshot: other databases' commits refresh too, so
        # a quiet moment is waited for (it comes within milliseconds here).
        assert settles(view)
    execute(
        populated.url,
        "UPDATE clients SET name = 'Renamed' WHERE id = :id",
        {"id": populated.client_id},
    )
    snap = view.poll()
    assert snap is not None and snap.clients is not None
    assert dict(snap.clients.rows)[populated.client_id][1] == "Renamed"


def settles(view: DatabaseView) -> bool:
    """Polls until one finds nothing changed (the shared `until_sync` bounds the wait)."""
    until_sync(lambda: view.poll() is None, "a poll that finds nothing changed")
    return True


def test_row_limit_with_total(populated: Populated) -> None:
    snap = open_view(populated.url, limit=2).poll()
    assert snap is not None and snap.executions is not None and snap.clients is not None
    assert [key for key, _ in snap.executions.rows] == [
        populated.execution_ids[3],
        populated.execution_ids[2],
    ]
    assert snap.executions.total == populated.before[2] + 4
    assert len(snap.clients.rows) == min(2, snap.clients.total)


@pytest.mark.postgresql_only
def test_a_long_transaction_committing_after_a_younger_one_is_seen(
    populated: Populated,
) -> None:
    """The reason the signal is the whole snapshot: xmax alone would not move here."""
    view = open_view(populated.url)
    assert view.poll() is not None
    engine = sync_engine(populated.url)
    try:
        with engine.connect() as older:
            older.execute(
                text("UPDATE clients SET name = 'Older' WHERE id = :id"),
                {"id": populated.client_id},
            )
            execute(
                populated.url,
                "UPDATE sessions SET request_count = 41 WHERE id = :id",
                {"id": populated.session_id},
            )
            snap = view.poll()
            assert snap is not None and snap.sessions is not None and snap.clients is not None
            assert dict(snap.sessions.rows)[populated.session_id][3] == "41"
            assert dict(snap.clients.rows)[populated.client_id][1] == "Viewer Co"
            assert settles(view)
            older.commit()
        snap = view.poll()
        assert snap is not None and snap.clients is not None
        assert dict(snap.clients.rows)[populated.client_id][1] == "Older"
    finally:
        engine.dispose()


@pytest.mark.postgresql_only
def test_the_postgres_session_is_read_only(populated: Populated) -> None:
    view = open_view(populated.url)
    assert isinstance(view, PostgresView) and view.poll() is not None
    conn = view._connection()
    with pytest.raises(DBAPIError, match="read-only transaction"):
        conn.execute(text("UPDATE clients SET name = 'Written' WHERE id = :id"), {"id": "x"})
    conn.rollback()
    view.close()


def test_a_database_without_service_tables(new_database_url: str) -> None:
    execute(new_database_url, "CREATE TABLE other (x integer)")
    view = open_view(new_database_url)
    snap = view.poll()
    assert snap is not None and snap.error == (
        f"Database has no service tables yet: {view.source} (waiting)"
    )


def test_the_view_is_chosen_by_url_and_never_shows_a_password(tmp_path: Path) -> None:
    sqlite = open_view(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert isinstance(sqlite, SQLiteView) and sqlite.source == str(tmp_path / "a.db")
    assert isinstance(open_view(tmp_path / "b.db"), SQLiteView)
    postgres = open_view("postgresql+asyncpg://me:s3cret-pw@db.example:5433/svc")
    assert isinstance(postgres, PostgresView)
    assert postgres.source == "postgresql+asyncpg://me:***@db.example:5433/svc"
    assert str(postgres.url.drivername) == "postgresql+psycopg"  # read synchronously
    with pytest.raises(UnsupportedDatabase, match="in-memory SQLite is not supported"):
        open_view("sqlite+aiosqlite:///:memory:")
    with pytest.raises(UnsupportedDatabase, match="mysql is not supported"):
        open_view("mysql+aiomysql://me:s3cret-pw@localhost/svc")
    with pytest.raises(UnsupportedDatabase, match="not a database URL") as bad:
        open_view("me:s3cret-pw@nowhere")
    assert "s3cret" not in str(bad.value)


def test_the_detail_of_a_row_and_what_hangs_off_it(populated: Populated) -> None:
    view = open_view(populated.url)
    first = view.detail("executions", populated.execution_ids[0])
    assert first.error is None
    assert first.title == f"execution {populated.execution_ids[0]} · echo"
    assert dict(first.facts)["status"] == "success"
    assert dict(first.facts)["client"] == f"Viewer Co ({populated.client_id})"
    assert dict(first.sections)["Arguments"] == '{\n  "message": "0"\n}'
    denied = view.detail("executions", populated.execution_ids[3])
    assert "lacks the admin permission" in dict(denied.sections)["Error"]

    session = view.detail("sessions", populated.session_id)
    [(heading, calls)] = session.sections[:1]
    assert heading == "Calls (newest first, 4 shown)"
    assert [line.split()[1:3] for line in calls.splitlines()] == [
        ["revoke_client", "denied"],
        ["echo", "success"],
        ["echo", "success"],
        ["echo", "success"],
    ]
    client = view.detail("clients", populated.client_id)
    assert dict(client.facts)["key hash"].startswith("pbkdf2-sha256:")
    assert populated.api_key not in repr(client)
    gone = view.detail("sessions", "no-such-session")
    assert gone.error == "This row is no longer there."
    view.close()
