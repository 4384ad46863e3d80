"""Full-text search on documents built to make ranking and snippets explode.

Before, on SQLite: an 8,000-word one-token document and an 8-word query answered
after 19.3 s (its timeout was 10 s); 50,000 words and a 32-word query ran for 11+
minutes, and SIGTERM did not end the process. FTS5's snippet() was the cost; it
is no longer used (tools/corpus.py).

Each attack is also run at a size whose ranking alone takes longer than the
call's deadline (SLOW_BODY), so that it is certainly still running when the
victim is answered, and is answered `timeout` at its deadline.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service.db import sqlite_file
from mcp_service.models import Document, utcnow
from mcp_service.tools.corpus import SNIPPET_MAX
from tests.adversarial.conftest import Register, StartServer
from tests.adversarial.leaks import mcp_client
from tests.faults.processes import Server
from tests.integration.conftest import fetch_all, fetch_value
from tests.toolkit import Step, text_of, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

ONE_TOKEN = " ".join(["a"] * 50_000)  # 99,999 characters: under the 100,000 limit
MANY_TOKENS = " ".join(f"w{i % 32}" for i in range(16_000))
QUERIES = [
    ("a " * 32, ONE_TOKEN),  # one word, repeated: counts once
    (" ".join(f"w{i}" for i in range(32)), MANY_TOKENS),  # 32 words, each 500 times
]

# 50,000 one-character words of 32 kinds: a query naming all 32 ranks each match through
# 50,000 positions in 32 lists. Measured here: 8 ms a document on SQLite (bm25), 370 ms on
# PostgreSQL (which builds each document's tsvector again to rank it).
LETTERS = "abcdefghijklmnopqrstuvwxyz012345"
SLOW_BODY = " ".join(LETTERS[i % 32] for i in range(50_000))[:99_999]
SLOW_QUERY = " ".join(LETTERS)
SECONDS_A_DOCUMENT = {"sqlite": 0.008, "postgresql": 0.37}
DEADLINE = 2  # the search attacks' MCP_TOOL_TIMEOUT, in seconds


def engine(database_url: str) -> str:
    return "sqlite" if sqlite_file(database_url) is not None else "postgresql"


async def documents_for(
    register: Register,
    url: str,
    raw_db: AsyncEngine,
    database_url: str,
    seconds: float,
    *,
    title: str = "slow",
    query: str = SLOW_QUERY,
) -> int:
    """How many SLOW_BODY documents one search ranks for at least `seconds`, here and now.

    Measured, not assumed: a per-document cost taken on a loaded machine was three times
    too high on a quiet one, and the attack then finished inside its deadline. A client
    of its own searches a small sample (about a quarter of the deadline's work, by the
    engine's SECONDS_A_DOCUMENT); the count is scaled from that, with half again to
    spare. A sample that times out took at least the deadline: still a safe scale."""
    sizer = await register("search sizer")
    sample = max(2, math.ceil(DEADLINE / 4 / SECONDS_A_DOCUMENT[engine(database_url)]))
    await add_documents(raw_db, sizer.client_id, sample, title=title)
    async with mcp_client(url, sizer.api_key) as client:
        started = time.perf_counter()  # sizing the workload, not asserting a time
        answer = await client.call_tool("corpus_search", {"query": query, "limit": 100})
        took = time.perf_counter() - started
    if answer.is_error:
        took = max(took, DEADLINE)
    return math.ceil(1.5 * seconds * sample / took)


async def add_documents(
    raw_db: AsyncEngine, client_id: str, count: int, title: str = "slow", body: str = SLOW_BODY
) -> None:
    """`count` documents of one client, written directly (what corpus_add would store)."""
    row = {"client_id": client_id, "title": title, "body": body, "tags": [], "created_at": utcnow()}
    async with raw_db.begin() as conn:
        await conn.execute(insert(Document), [row] * count)


def cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (utime + stime, from /proc)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


async def search_is_running(
    server: Server, database_url: str, raw_db: AsyncEngine, cpu_before: float
) -> bool:
    """Whether a search is under way: its statement is active on PostgreSQL; on SQLite (in
    the server's process) the server has spent 0.2 s of CPU since `cpu_before`, which an
    idle server does not."""
    if engine(database_url) == "sqlite":
        return cpu_seconds(server.pid) - cpu_before >= 0.2
    active = await fetch_value(
        raw_db,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND datname = current_database() AND pid <> pg_backend_pid() "
        "AND query LIKE '%plainto_tsquery%'",
    )
    return bool(active)


async def test_repeated_token_searches_finish_within_their_deadline(
    register: Register, serve: StartServer, raw_db: AsyncEngine, database_url: str, step: Step
) -> None:
    abuser, victim = await register("search abuser"), await register("victim", "readonly")
    server = serve(MCP_TOOL_TIMEOUT=str(DEADLINE))
    async with (
        mcp_client(server.url, abuser.api_key) as bad,
        mcp_client(server.url, victim.api_key) as good,
    ):
        for title, body in (("one token", ONE_TOKEN), ("many tokens", MANY_TOKENS)):
            added = await bad.call_tool("corpus_add", {"title": title, "body": body})
            assert not added.is_error, added.content
        for query, _body in QUERIES:
            found = await bad.call_tool("corpus_search", {"query": query})
            assert not found.is_error, found.content
            assert found.structured_content["total"] == 1
            [hit] = found.structured_content["results"]
            assert len(hit["snippet"]) <= SNIPPET_MAX + 2  # and its … marks
        step(f"Two pathological searches answered (success, so within their {DEADLINE} s deadline)")

        # The same attack, at a size that ranks for 2.5 times the deadline.
        count = await documents_for(register, server.url, raw_db, database_url, 2.5 * DEADLINE)
        await add_documents(raw_db, abuser.client_id, count)
        cpu_before = cpu_seconds(server.pid)
        attack = asyncio.create_task(bad.call_tool("corpus_search", {"query": SLOW_QUERY}))
        await until(
            lambda: search_is_running(server, database_url, raw_db, cpu_before),
            "the search to run",
        )
        echoed = await good.call_tool("echo", {"message": "here"})
        assert not attack.done(), "the victim was answered only after the search"
        stopped = await attack
    assert echoed.structured_content == {"message": "here", "length": 4}
    assert text_of(stopped) == f"timeout: tool corpus_search timed out after {DEADLINE} s"
    step(f"A search of {count} such documents ran, the victim was answered, then it timed out")
    rows = await fetch_all(
        raw_db,
        "SELECT status FROM tool_executions WHERE client_id = :c AND tool_name = 'corpus_search'",
        c=abuser.client_id,
    )
    assert sorted(r.status for r in rows) == ["success", "success", "timeout"]


# 17 words sharing prefixes, all in the title (so FTS5 matches every document), none in the
# body: one regular expression alternating them once scanned each 100,000-character body at
# 0.23 s a document, in a thread that held the GIL past the call's deadline.
PREFIX_WORDS = " ".join("a" * k + "b" for k in range(1, 18))
PREFIX_DOCUMENTS = 60


async def test_snippets_of_many_long_documents_stay_within_the_deadline(
    register: Register, serve: StartServer, raw_db: AsyncEngine, database_url: str, step: Step
) -> None:
    abuser, victim = await register("snippet abuser"), await register("victim", "readonly")
    # The abuser's byte budget is raised so the documents go in quickly (60 documents cost
    # ~14 s of snippets before).
    server = serve(
        MCP_TOOL_TIMEOUT=str(DEADLINE),
        MCP_LIMITS_BASIC="request_bytes_per_second=100000000",
    )
    body = "a" * 99_990
    async with (
        mcp_client(server.url, abuser.api_key) as bad,
        mcp_client(server.url, victim.api_key) as good,
    ):
        for _ in range(PREFIX_DOCUMENTS):
            added = await bad.call_tool("corpus_add", {"title": PREFIX_WORDS, "body": body})
            assert not added.is_error, added.content
        step(f"{PREFIX_DOCUMENTS} documents of 99,990 characters, titled with 17 prefix words")
        found = await bad.call_tool("corpus_search", {"query": PREFIX_WORDS, "limit": 100})

        # The same words, at a size that ranks past the deadline: titled with the 17 words,
        # bodies of SLOW_BODY, and a query adding 15 of its letters (32 words, the most that
        # count; ranking then costs ~6 ms a document on SQLite, 3/4 of SLOW_QUERY's).
        count = await documents_for(
            register,
            server.url,
            raw_db,
            database_url,
            3.5 * DEADLINE,
            title=PREFIX_WORDS,
            query=f"{PREFIX_WORDS} {SLOW_QUERY}",
        )
        await add_documents(raw_db, abuser.client_id, count, title=PREFIX_WORDS)
        cpu_before = cpu_seconds(server.pid)
        query = {"query": f"{PREFIX_WORDS} {SLOW_QUERY}", "limit": 100}
        attack = asyncio.create_task(bad.call_tool("corpus_search", query))
        await until(
            lambda: search_is_running(server, database_url, raw_db, cpu_before),
            "the search to run",
        )
        echoed = await good.call_tool("echo", {"message": "here"})
        assert not attack.done(), "the victim was answered only after the search"
        stopped = await attack
    assert echoed.structured_content == {"message": "here", "length": 4}
    assert text_of(stopped) == f"timeout: tool corpus_search timed out after {DEADLINE} s"
    step(f"{count} more, ranked past the deadline: the victim was answered meanwhile; timeout")
    assert not found.is_error, found.content
    assert found.structured_content["total"] == PREFIX_DOCUMENTS
    hits = found.structured_content["results"]
    assert len(hits) == PREFIX_DOCUMENTS
    # No word of the query is in a body: every snippet is the body's start, 100 characters
    # and the 20 that finish the word the window cut (a word is completed that far at most).
    assert {hit["snippet"] for hit in hits} == {"a" * 120 + "…"}
    step("The first search answered every match with a bounded snippet, within its deadline")
    rows = await fetch_all(
        raw_db,
        "SELECT status FROM tool_executions WHERE client_id = :c AND tool_name = 'corpus_search'",
        c=abuser.client_id,
    )
    assert sorted(r.status for r in rows) == ["success", "timeout"]


# Seconds a server gives calls in flight after SIGTERM before it cancels them
# (timeout_graceful_shutdown in mcp_service/protocol/transports.py).
SHUTDOWN_GRACE = 5


async def test_sigterm_during_a_runaway_search_ends_the_server_with_exact_counts(
    register: Register, serve: StartServer, raw_db: AsyncEngine, database_url: str, step: Step
) -> None:
    """Before, a 50,000-word search ran for 11+ minutes and SIGTERM did not end the process."""
    abuser = await register("sigterm search", "basic")
    server = serve(MCP_TOOL_TIMEOUT="3600")
    # Ranking these takes three times the shutdown grace: only a stopped search ends in time.
    count = await documents_for(register, server.url, raw_db, database_url, 3 * SHUTDOWN_GRACE)
    await add_documents(raw_db, abuser.client_id, count)
    with pytest.raises(BaseException):  # noqa: B017 - the server goes away under the call
        async with mcp_client(server.url, abuser.api_key, read_timeout=120) as client:
            for n in range(5):
                assert not (await client.call_tool("echo", {"message": str(n)})).is_error
            cpu_before = cpu_seconds(server.pid)
            attack = asyncio.create_task(client.call_tool("corpus_search", {"query": SLOW_QUERY}))
            await until(
                lambda: search_is_running(server, database_url, raw_db, cpu_before),
                "the search to run",
            )
            server.process.terminate()
            await attack
    # A hang guard, not a measurement: a search left running would hold the process 10 s more.
    assert server.process.wait(timeout=SHUTDOWN_GRACE + 10) == 0
    server.wait()
    step(f"SIGTERM while {count} documents were being ranked (deadline an hour away): exit 0")

    rows = await fetch_all(
        raw_db,
        "SELECT tool_name, status, error_message, session_id FROM tool_executions "
        "WHERE client_id = :c",
        c=abuser.client_id,
    )
    assert sorted((r.tool_name, r.status, r.error_message) for r in rows) == sorted(
        [("echo", "success", None)] * 5 + [("corpus_search", "error", "cancelled")]
    )
    sessions = await fetch_all(
        raw_db,
        "SELECT id, status, request_count FROM sessions WHERE client_id = :c",
        c=abuser.client_id,
    )
    assert [(s.status, s.request_count) for s in sessions] == [("closed", 6)]
    assert sum(s.request_count for s in sessions) == len(rows)
    assert {r.session_id for r in rows} == {s.id for s in sessions}
    step("The search was stopped, not finished: 6 rows, all counted by the closed session")
