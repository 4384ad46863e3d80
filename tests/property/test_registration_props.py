"""Client registration takes any input: one complete row and a working key, or a typed error.

Why: registration is the service's front door (the CLI, a Python caller). Whatever
arrives, the caller must get a `MCPServiceError` it can branch on, and the
database must hold either the whole client or nothing of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from mcp_service.errors import MCPServiceError, ValidationError
from mcp_service.permissions import Tier, permissions_for
from tests.faults.processes import new_database
from tests.property.conftest import Harness
from tests.property.strategies import ANYTHING, JSON_LIKE, TEXT, any_text, nested

TIERS = st.sampled_from([t.value for t in Tier])


def register_and_check(harness: Harness, name: Any, tier: Any, client_type: Any, meta: Any) -> None:
    """The property: a typed error and no new row, or exactly one complete row and a good key."""
    before = harness.value("SELECT count(*) FROM clients")
    try:
        registered = harness.run(harness.service.register_client(name, tier, client_type, meta))
    except MCPServiceError as exc:
        event(f"refused: {exc.code}")
        assert harness.value("SELECT count(*) FROM clients") == before
        return
    event("registered")
    assert harness.value("SELECT count(*) FROM clients") == before + 1
    [row] = harness.rows("SELECT * FROM clients WHERE id = ?", registered.client_id)
    assert (row["name"], row["client_type"], row["tier"]) == (
        name.strip(),
        client_type.strip(),
        tier,
    )
    assert json.loads(row["permissions"]) == list(permissions_for(Tier(tier)))
    assert json.loads(row["metadata"]) == json.loads(json.dumps(meta or {}))
    assert row["api_key_hash"].startswith("$pbkdf2-sha256$")
    assert registered.api_key not in json.dumps(row)  # only its salted hash is stored
    client = harness.run(harness.service.clients.authenticate(registered.api_key))
    assert client.client_id == registered.client_id


@settings(max_examples=60)
@given(
    name=any_text(min_size=1, max_size=210),
    tier=TIERS,
    client_type=st.one_of(st.just("generic"), any_text(min_size=1, max_size=55)),
    metadata=st.one_of(st.none(), st.dictionaries(TEXT, JSON_LIKE, max_size=4)),
)
@example(name="Robert'); DROP TABLE clients; --", tier="basic", client_type="ide", metadata=None)
@example(name="lone \ud800 surrogate", tier="basic", client_type="generic", metadata=None)
@example(name="ok", tier="basic", client_type="not utf-8 \udcff", metadata=None)
@example(name="nan", tier="admin", client_type="generic", metadata={"x": float("nan")})
def test_registration_of_plausible_input_is_all_or_nothing(
    harness: Harness, name: str, tier: str, client_type: str, metadata: Any
) -> None:
    register_and_check(harness, name, tier, client_type, metadata)


@settings(max_examples=60)
@given(
    name=st.one_of(TEXT, ANYTHING),
    tier=st.one_of(TIERS, TEXT, ANYTHING),
    client_type=st.one_of(TEXT, ANYTHING),
    metadata=ANYTHING,
)
def test_registration_of_any_value_is_all_or_nothing(
    harness: Harness, name: Any, tier: Any, client_type: Any, metadata: Any
) -> None:
    register_and_check(harness, name, tier, client_type, metadata)


def test_metadata_nested_too_deep_for_json_is_a_validation_error(harness: Harness) -> None:
    """Found by the property above: json.dumps raised RecursionError, not a typed error."""
    before = harness.value("SELECT count(*) FROM clients")
    try:
        harness.run(harness.service.register_client("deep", "basic", metadata=nested(100_000)))
    except ValidationError as exc:
        assert exc.message == "metadata is nested too deeply"
    else:
        raise AssertionError("a 100,000-level object was accepted as metadata")
    assert harness.value("SELECT count(*) FROM clients") == before


CLI = [sys.executable, "-m", "mcp_service.cli", "register-client", "--tier", "basic"]
# The CLI refuses a SQLite file that does not exist: each test makes one first, as users do.


def test_cli_refuses_a_name_that_is_not_utf8_in_one_line(tmp_path: Path) -> None:
    """The property's surrogate case from a shell: argv bytes that are not UTF-8 reach Python
    as lone surrogates; the CLI crashed with a UnicodeEncodeError traceback."""
    database = tmp_path / "cli.db"
    url = new_database(database)
    done = subprocess.run(
        [*CLI, b"--name", b"caf\xe9 latin-1"],
        env={**os.environ, "MCP_DATABASE_URL": url},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "mcp-service: error: name must be valid Unicode text (it holds a lone surrogate)"
    ]
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM clients").fetchone() == (0,)


def test_cli_revoke_of_an_id_that_is_not_utf8_is_not_found(tmp_path: Path) -> None:
    """The same from `revoke-client`: a traceback (UnicodeEncodeError from the driver) instead
    of "not found" and exit status 2."""
    url = new_database(tmp_path / "cli.db")
    done = subprocess.run(
        [sys.executable, "-m", "mcp_service.cli", "revoke-client", b"\xff"],
        env={**os.environ, "MCP_DATABASE_URL": url},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("mcp-service: error: client ") and line.endswith(" not found")
