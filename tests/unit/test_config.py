"""Settings from the environment, with clear errors for bad values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mcp_service.config import Settings
from mcp_service.db import sqlite_file
from mcp_service.errors import ValidationError
from mcp_service.models import UTCDateTime


def test_defaults_to_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'mcp_service.db'}"
    assert settings.session_idle_timeout == 1800.0


def test_reads_the_environment() -> None:
    settings = Settings.from_env(
        {
            "MCP_DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "MCP_SESSION_IDLE_TIMEOUT": "90",
            "MCP_TOOL_TIMEOUT": "2.5",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert (settings.session_idle_timeout, settings.tool_timeout) == (90.0, 2.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MCP_SESSION_IDLE_TIMEOUT", "soon", "must be a number"),
        ("MCP_SESSION_IDLE_TIMEOUT", "0", "must be >="),
        ("MCP_TOOL_TIMEOUT", "-1", "must be >="),
    ],
)
def test_bad_values_are_clear_errors(name: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=f"{name} {message}"):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "sqlite:///:memory:"]
)
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="in-memory"):
        sqlite_file(url)


def test_sqlite_file_and_other_engines() -> None:
    assert sqlite_file("sqlite+aiosqlite:////tmp/x.db") == Path("/tmp/x.db")
    assert sqlite_file("postgresql+asyncpg://localhost/test") is None


def test_utc_datetime_normalises_offsets_and_refuses_naive() -> None:
    from sqlalchemy.dialects import sqlite

    column = UTCDateTime()
    dialect = sqlite.dialect()
    plus_two = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    stored = column.process_bind_param(plus_two, dialect)
    assert stored == datetime(2026, 1, 1, 10, 0)
    loaded = column.process_result_value(stored, dialect)
    assert loaded == plus_two and loaded.tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 1, 1), dialect)
