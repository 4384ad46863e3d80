"""The `mcp-service` console script, run as a real subprocess on a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_service import schema

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("registration")]


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCP_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "mcp_service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_register_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    # Only `db upgrade` and `serve` create the file: anything else on a missing file is a typo.
    refused = run_cli(db, "register-client", "--name", "Cursor", "--tier", "basic")
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        2,
        "",
        f"mcp-service: error: the database file {db} does not exist: check MCP_DATABASE_URL, "
        "or create it with `mcp-service db upgrade`\n",
    )
    assert not db.exists()
    created = run_cli(db, "db", "upgrade")
    assert created.returncode == 0, created.stderr
    registered = run_cli(db, "register-client", "--name", "Cursor", "--tier", "basic", "--json")
    assert registered.returncode == 0, registered.stderr
    payload = json.loads(registered.stdout)
    assert set(payload) == {"client_id", "api_key"}
    assert payload["api_key"].startswith("mcp_")

    listed = run_cli(db, "clients", "--json")
    assert listed.returncode == 0
    rows = json.loads(listed.stdout)
    assert [(r["client_id"], r["name"], r["tier"], r["revoked"]) for r in rows] == [
        (payload["client_id"], "Cursor", "basic", False)
    ]
    assert payload["api_key"] not in listed.stdout + listed.stderr
    assert json.loads(run_cli(db, "sessions", "--json").stdout) == []
    table = run_cli(db, "clients")
    assert table.stdout.splitlines()[0].split() == [
        "client_id",
        "name",
        "type",
        "tier",
        "created_at",
        "last_active_at",
        "revoked",
    ]

    revoked = run_cli(db, "revoke-client", payload["client_id"])
    assert (revoked.returncode, revoked.stdout.strip()) == (
        0,
        f"client {payload['client_id']} revoked",
    )
    assert json.loads(run_cli(db, "clients", "--json").stdout)[0]["revoked"] is True
    assert payload["api_key"].encode() not in db.read_bytes()


def test_bad_input_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert run_cli(db, "db", "upgrade").returncode == 0
    bad_tier = run_cli(db, "register-client", "--name", "x", "--tier", "root")
    assert bad_tier.returncode == 2 and "invalid choice: 'root'" in bad_tier.stderr
    empty = run_cli(db, "register-client", "--name", "  ", "--tier", "basic")
    assert (empty.returncode, empty.stderr.strip()) == (
        2,
        "mcp-service: error: name must not be empty",
    )
    missing = run_cli(db, "revoke-client", "nope")
    assert missing.returncode == 2 and "client 'nope' not found" in missing.stderr
    assert json.loads(run_cli(db, "clients", "--json").stdout) == []


def run_cli_url(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_service.cli", *args],
        env={**os.environ, "MCP_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("url", "args", "message"),
    [
        (
            "nonsense",
            ("clients",),
            "MCP_DATABASE_URL is not a database URL; expected e.g. "
            "sqlite+aiosqlite:////path/to/mcp.db or postgresql+asyncpg://user@host/db",
        ),
        (
            "mysql+aiomysql://x@localhost/db",
            ("clients",),
            "the driver for mysql+aiomysql is not installed (aiomysql)",
        ),
        (
            "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/test",
            ("clients",),
            "cannot use the database postgresql+asyncpg://postgres:***@127.0.0.1:1/test: "
            "[Errno 111] Connect call failed ('127.0.0.1', 1)",
        ),
        (
            "sqlite+aiosqlite:////nonexistent/dir/x.db",
            ("db", "upgrade"),
            "the directory of the database file /nonexistent/dir/x.db does not exist",
        ),
        (
            "sqlite+aiosqlite:////nonexistent/dir/x.db",
            ("sessions",),
            "the database file /nonexistent/dir/x.db does not exist: check MCP_DATABASE_URL, "
            "or create it with `mcp-service db upgrade`",
        ),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_2(
    url: str, args: tuple[str, ...], message: str
) -> None:
    done = run_cli_url(url, *args)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"mcp-service: error: {message}\n",
    )


def test_an_unknown_revision_is_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    done = run_cli_url(url, "db", "upgrade", "nonsense")
    assert (done.returncode, done.stdout) == (2, "")
    known = ", ".join(sorted(schema.known_revisions()))
    assert done.stderr == (
        f"mcp-service: error: unknown revision 'nonsense': this mcp-service knows {known} "
        "(and head, the newest)\n"
    )


def test_a_reader_that_stops_early_is_not_called_a_database_error(tmp_path: Path) -> None:
    db = tmp_path / "pipe.db"
    assert run_cli(db, "db", "upgrade").returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # `mcp-service info | head -1`, with head already gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mcp_service.cli", "info"],
            env={**os.environ, "MCP_DATABASE_URL": f"sqlite+aiosqlite:///{db}"},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")
