"""The `mcp-service` console script, run as a real subprocess on a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
