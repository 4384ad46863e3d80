"""A SQLite file deleted or replaced under a running server: nothing acknowledged is lost.

Before: after `rm service.db*` the server kept answering `corpus_add` with new
document ids, written to the unlinked file; the CLI created a new empty file and
said "client not found" while the server kept accepting the revoked key; after a
restart everything was gone.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from mcp_service.protocol.transports import EXIT_DATABASE_LOST
from tests.adversarial.leaks import mcp_client, register, start_server
from tests.faults.processes import cli, new_database
from tests.toolkit import Step, text_of, until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sqlite_only,
    pytest.mark.critical_path("hostile clients"),
]


def remove_database(path: Path) -> None:
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_no_call_succeeds_after_the_file_is_gone_and_the_server_stops(
    tmp_path: Path, how: str, step: Step
) -> None:
    path = tmp_path / "service.db"
    url = new_database(path)
    writer = register(url, "writer", "basic")
    spare = tmp_path / "other.db"
    new_database(spare)
    server = start_server(url, tmp_path / "server.log")
    async with mcp_client(server.url, writer.api_key) as client:
        stored = await client.call_tool("corpus_add", {"title": "before", "body": "kept"})
        assert not stored.is_error
        if how == "deleted":
            remove_database(path)
        else:
            shutil.move(spare, path)  # another database file where this one was
        step(f"The database file was {how} while the server ran")
        after = await client.call_tool("corpus_add", {"title": "after", "body": "lost?"})
    assert after.is_error
    assert text_of(after) == (
        "database_unavailable: the service's database file was deleted or replaced; "
        "the service is stopping"
    )
    # A later call is refused too: answered with the same error while the server stops, or
    # not connected at all once it has stopped (which of the two is a race).
    later: list[str] = []
    with contextlib.suppress(Exception):
        async with mcp_client(server.url, writer.api_key) as client:
            echoed = await client.call_tool("echo", {"message": "anyone?"})
            later.append(text_of(echoed))
    assert later in ([], [text_of(after)])
    assert server.wait() == EXIT_DATABASE_LOST
    log = server.log_text()
    assert f"the database file {path} was deleted or replaced" in log
    step("Both calls after it were errors (no id acknowledged); the server exited with 3")


def test_the_cli_refuses_a_missing_file_instead_of_making_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "service.db"
    url = new_database(path)
    client = register(url, "to revoke", "basic")
    remove_database(path)
    refused = cli(url, "revoke-client", client.client_id)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"mcp-service: error: the database file {path} does not exist: check MCP_DATABASE_URL, "
        "or create it with `mcp-service db upgrade`\n"
    )
    assert not path.exists()


async def test_a_server_started_on_a_new_file_serves_it(tmp_path: Path) -> None:
    """`serve` is one of the two commands that create the file (with `db upgrade`)."""
    path = tmp_path / "fresh.db"
    server = start_server(f"sqlite+aiosqlite:///{path}", tmp_path / "server.log")
    await until(path.exists, "the new file")
    assert server.stop() == 0
