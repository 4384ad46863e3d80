"""Database faults under real clients: answers and logs say what failed, never how.

Before: on a full disk `initialize` answered HTTP 200 with `(sqlite3.OperationalError)
database or disk is full (Background on this error at: https://sqlalche.me/...)` and
kept the half-made session; a PostgreSQL connection dying during a key lookup
printed the whole statement, with the client's key id as a parameter, in the log.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.adversarial.conftest import Register, StartServer, headers, post_raw
from tests.adversarial.leaks import (
    LeakWatch,
    http_client,
    mcp_client,
    no_leaks,
    register,
    start_server,
)
from tests.adversarial.test_session_exhaustion import INITIALIZE
from tests.faults.processes import Registered, new_database
from tests.integration.conftest import fetch_all
from tests.toolkit import Step, text_of, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

FILE_LIMIT = 600_000  # bytes: the new database and its WAL fit, a few dozen documents do not


def small_disk() -> None:
    """In the server: files stop growing at FILE_LIMIT, as on a full disk (EFBIG, not a kill)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def key_id(client: Registered) -> str:
    return client.api_key.split("_")[1]


@pytest.mark.sqlite_only
async def test_a_full_disk_is_reported_without_internals(tmp_path: Path, step: Step) -> None:
    url = new_database(tmp_path / "service.db")
    writer, late = register(url, "writer", "basic"), register(url, "late", "admin")
    server = start_server(url, tmp_path / "server.log", "--log-level", "info", preexec=small_disk)
    answers: list[str] = []
    refused: dict[str, Any] | None = None
    async with (
        mcp_client(server.url, writer.api_key) as client,
        http_client() as http,
    ):
        # Fill the disk; after each refused document, try to open a session. Until the WAL
        # can no longer be checkpointed, a write may find room again: keep filling.
        for n in range(300):
            done = await client.call_tool("corpus_add", {"title": f"doc {n}", "body": "x" * 20_000})
            answers.append(text_of(done))
            if not done.is_error:
                continue
            # A file-size limit fails the write with EFBIG (SQLite: an I/O error); a full
            # disk with ENOSPC (SQLite: "full"). Either way, the service's own words.
            assert answers[-1] in {
                "tool_error: tool corpus_add failed: the database is full (OperationalError)",
                "tool_error: tool corpus_add failed: the database file cannot be read or "
                "written (OperationalError)",
                "internal_error: the server failed; see its log",
            }
            opened = await http.post(
                server.url, headers=headers(late.api_key), content=json.dumps(INITIALIZE)
            )
            answers.append(opened.text)
            [event] = [line for line in opened.text.splitlines() if line.startswith("data: ")]
            message = json.loads(event.removeprefix("data: "))
            if "error" in message:
                refused = message
                session_id = opened.headers.get("mcp-session-id")
                break
        assert refused is not None, "the disk never filled"
        step(f"The disk filled after {n} documents: each refusal named it, nothing more")
        assert refused["error"]["message"] in {
            "could not open a session: the database is full",
            "could not open a session: the database file cannot be read or written",
        }
        if session_id is not None:  # the SDK named a session: it ends right after

            async def gone() -> bool:
                again = await http.post(
                    server.url,
                    headers={**headers(late.api_key), "mcp-session-id": session_id},
                    content=json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
                )
                return again.status_code == 404

            await until(gone, "the failed handshake's SDK session to end")
    step("initialize on a full disk: an error without internals, and no session left behind")
    assert server.stop() == 0
    log = server.log_text()
    no_leaks(log, *answers)
    for registered in (writer, late):
        assert key_id(registered) not in log + "".join(answers)
    step("No SQL, driver text, documentation link or key id in any answer or log line")


@pytest.mark.postgresql_only
async def test_connections_dying_during_key_lookups_leak_nothing(
    register: Register, serve: StartServer, database_url: str, step: Step
) -> None:
    clients = [await register(f"caller {n}", "basic") for n in range(4)]
    server = serve("--log-level", "info")
    answers: list[str] = []
    stop = asyncio.Event()

    # Its own connection each time (NullPool): the killing spares nobody else's.
    killer_db = create_async_engine(database_url, poolclass=NullPool)

    async def kill_connections() -> None:
        while not stop.is_set():
            async with killer_db.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                await conn.commit()
            await asyncio.sleep(0.02)

    async def call(client: Registered) -> None:
        for n in range(30):
            try:
                async with mcp_client(server.url, client.api_key, read_timeout=30) as mcp:
                    done = await mcp.call_tool("echo", {"message": str(n)})
                    answers.append(text_of(done))
            except Exception as exc:  # a refused handshake surfaces as an error here
                answers.append(repr(exc))

    killer = asyncio.create_task(kill_connections())
    await asyncio.gather(*(call(c) for c in clients))
    stop.set()
    await killer
    await killer_db.dispose()
    assert server.stop() == 0
    log = server.log_text()
    no_leaks(log, *answers)
    for client in clients:
        assert key_id(client) not in log + "".join(answers)
    assert len(answers) == 120
    step("120 calls while every server connection kept being killed: no SQL or key id leaked")


async def test_the_leak_watch_hears_every_answer_and_log(
    register: Register, serve: StartServer, leak_watch: LeakWatch, step: Step
) -> None:
    """What the other tests rely on: answers, logs and keys are recorded, and leaks found."""
    client = await register("watched", "basic")
    server = serve("--log-level", "info")
    async with mcp_client(server.url, client.api_key) as mcp:
        assert not (await mcp.call_tool("echo", {"message": "overheard"})).is_error
    refused = await post_raw(server.url, f"mcp_{'0' * 16}_{'x' * 43}", b"{}")
    assert refused.status_code == 401
    heard_text = "".join(
        b"".join(parts).decode(errors="replace") for _where, parts in leak_watch.answers
    )
    assert '"message":"overheard"' in heard_text.replace(" ", "")
    assert "invalid_token" in heard_text
    assert leak_watch.logs == [server.log]
    assert leak_watch.key_ids == {key_id(client)}
    step("The MCP client's answers, a raw POST's answer, the server log and the key: recorded")
    for leaked in (
        f"no such client {key_id(client)}",
        f"Bearer mcp_{'0' * 16}_{'x' * 43}",
        "(sqlite3.OperationalError) database or disk is full",
        "[SQL: SELECT clients.id FROM clients WHERE clients.api_key_id = $1]",
        "Background on this error at: https://sqlalche.me/e/20/e3q8",
    ):
        with pytest.raises(AssertionError, match="leak in"):
            no_leaks(leaked, key_ids=leak_watch.key_ids)
    step("A key id, a whole key, driver text, SQL and a documentation link are each found")


@pytest.mark.postgresql_only
async def test_a_failed_initialize_on_postgresql_leaves_no_half_made_session(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    """The full-disk test's check, on PostgreSQL: a trigger fails this client's session
    insert as a full disk would (SQLSTATE 53100), with SQL and the row in its message."""
    client = await register("no room", "basic")
    function = f"fail_session_{client.client_id.replace('-', '')}"
    async with raw_db.begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device during "
                "INSERT INTO sessions VALUES (%)', NEW.id USING ERRCODE = '53100'; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER {function} BEFORE INSERT ON sessions FOR EACH ROW "
                f"WHEN (NEW.client_id = '{client.client_id}') EXECUTE FUNCTION {function}()"
            )
        )
    try:
        # One session at most: a half-made one would keep the client out afterwards.
        server = serve("--log-level", "info", MCP_LIMITS_BASIC="sessions=1")
        async with http_client() as http:
            opened = await http.post(
                server.url, headers=headers(client.api_key), content=json.dumps(INITIALIZE)
            )
            [event] = [line for line in opened.text.splitlines() if line.startswith("data: ")]
            refused = json.loads(event.removeprefix("data: "))
            assert refused["error"]["message"] == "could not open a session: the database is full"
            session_id = opened.headers.get("mcp-session-id")
            if session_id is not None:  # the SDK named a session: it ends right after

                async def gone() -> bool:
                    again = await http.post(
                        server.url,
                        headers={**headers(client.api_key), "mcp-session-id": session_id},
                        content=json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
                    )
                    return again.status_code == 404

                await until(gone, "the failed handshake's SDK session to end")
        step("initialize failed in the database: 'the database is full', nothing more")
        logged = f"initialize failed for client {client.client_id}: the database is full ("
        await until(lambda: logged in server.log_text(), "the failure's log line")
        assert (
            await fetch_all(
                raw_db, "SELECT id FROM sessions WHERE client_id = :c", c=client.client_id
            )
            == []
        )
    finally:
        async with raw_db.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {function} ON sessions"))
            await conn.execute(text(f"DROP FUNCTION {function}()"))
    async with mcp_client(server.url, client.api_key) as mcp:
        echoed = await mcp.call_tool("echo", {"message": "room again"})
    assert echoed.structured_content == {"message": "room again", "length": 10}
    rows = await fetch_all(
        raw_db, "SELECT id FROM sessions WHERE client_id = :c", c=client.client_id
    )
    assert len(rows) == 1  # the one that opened (closing it is the SDK's, after the test)
    step("No session row and no SDK session was left: the client's one session opened next")
