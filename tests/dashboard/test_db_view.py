"""The dashboard's read-only table views, on a database the real service wrote."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mcp_dashboard.db_view import DatabaseView
from mcp_service import MCPService
from mcp_service.config import Settings


async def populate(path: Path) -> tuple[str, str]:
    service = MCPService(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    await service.initialize()
    try:
        registered = await service.register_client("Viewer Co", "basic", client_type="ide")
        session = await service.create_session(registered.client_id)
        for i in range(3):
            await service.execute_tool(
                session.session_id, "echo", {"message": str(i)}, client_id=registered.client_id
            )
        with pytest.raises(Exception, match="lacks the admin permission"):
            await service.execute_tool(
                session.session_id,
                "revoke_client",
                {"client_id": "x"},
                client_id=registered.client_id,
            )
        return registered.client_id, registered.api_key
    finally:
        await service.shutdown()


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "svc.db"
    client_id, key = asyncio.run(populate(path))
    return path, client_id, key


def test_snapshot_shows_real_rows_newest_first_without_secrets(
    populated: tuple[Path, str, str],
) -> None:
    path, client_id, key = populated
    view = DatabaseView(path)
    snap = view.poll()
    assert snap is not None and snap.ok
    assert snap.clients is not None and snap.sessions is not None and snap.executions is not None
    assert (snap.clients.total, snap.sessions.total, snap.executions.total) == (1, 1, 4)
    [(key_id, cells)] = snap.clients.rows
    assert key_id == client_id
    assert cells[1:4] == ("Viewer Co", "basic", "ide")
    assert cells[4].startswith("pbkdf2-sha256:") and cells[4].endswith("…")
    assert [cells[2] for _, cells in snap.executions.rows] == [
        "revoke_client",
        "echo",
        "echo",
        "echo",
    ]
    assert [cells[3] for _, cells in snap.executions.rows] == [
        "denied",
        "success",
        "success",
        "success",
    ]
    assert snap.sessions.rows[0][1][2:4] == ("closed", "4")
    stored_hash = sqlite3.connect(path).execute("SELECT api_key_hash FROM clients").fetchone()[0]
    everything = repr(snap)
    assert key not in everything and stored_hash not in everything
    assert key.split("_", 2)[2] not in everything


def test_unchanged_file_polls_as_none_and_a_commit_is_seen(
    populated: tuple[Path, str, str],
) -> None:
    path, _, _ = populated
    view = DatabaseView(path)
    assert view.poll() is not None
    assert view.poll() is None
    writer = sqlite3.connect(path)
    writer.execute("UPDATE clients SET name = 'Renamed'")
    writer.commit()
    snap = view.poll()
    assert snap is not None and snap.clients is not None
    assert snap.clients.rows[0][1][1] == "Renamed"
    assert view.poll() is None


def test_row_limit_with_total(populated: tuple[Path, str, str]) -> None:
    path, _, _ = populated
    snap = DatabaseView(path, limit=2).poll()
    assert snap is not None and snap.executions is not None
    assert (len(snap.executions.rows), snap.executions.total) == (2, 4)


def test_missing_corrupt_and_locked_files_are_messages_that_recover(
    populated: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, _, _ = populated
    good = path.read_bytes()
    view = DatabaseView(path)
    assert view.poll() is not None

    path.unlink()
    snap = view.poll()
    assert snap is not None and snap.error == (
        f"Database file not found: {path} (waiting for it to appear)"
    )

    path.write_bytes(b"this is not a database" * 100)
    snap = view.poll()
    assert snap is not None and snap.error is not None and "corrupt" in snap.error

    path.write_bytes(good)
    snap = view.poll()
    assert snap is not None and snap.ok and snap.executions is not None
    assert snap.executions.total == 4

    view.close()  # changing the journal mode needs the file to itself
    locker = sqlite3.connect(path)
    locker.execute("PRAGMA journal_mode=DELETE")
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE clients SET name = 'Locked'")
    fresh = DatabaseView(path)
    snap = fresh.poll()
    assert snap is not None and snap.error is not None and "locked" in snap.error
    locker.rollback()
    locker.close()
    snap = fresh.poll()
    assert snap is not None and snap.ok


def test_a_database_without_service_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    snap = DatabaseView(path).poll()
    assert snap is not None and snap.error is not None and "no service tables" in snap.error
