"""Full-text search on documents built to make ranking and snippets explode.

Before, on SQLite: an 8,000-word one-token document and an 8-word query answered
after 19.3 s (its timeout was 10 s); 50,000 words and a 32-word query ran for 11+
minutes. FTS5's snippet() was the cost; it is no longer used (tools/corpus.py).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service.tools.corpus import SNIPPET_MAX
from tests.adversarial.conftest import Register, StartServer
from tests.adversarial.leaks import mcp_client
from tests.integration.conftest import fetch_all
from tests.toolkit import Step

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

ONE_TOKEN = " ".join(["a"] * 50_000)  # 99,999 characters: under the 100,000 limit
MANY_TOKENS = " ".join(f"w{i % 32}" for i in range(16_000))
QUERIES = [
    ("a " * 32, ONE_TOKEN),  # one word, repeated: counts once
    (" ".join(f"w{i}" for i in range(32)), MANY_TOKENS),  # 32 words, each 500 times
]


async def test_repeated_token_searches_finish_within_their_deadline(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("search abuser"), await register("victim", "readonly")
    server = serve(MCP_TOOL_TIMEOUT="10")
    async with (
        mcp_client(server.url, abuser.api_key) as bad,
        mcp_client(server.url, victim.api_key) as good,
    ):
        for title, body in (("one token", ONE_TOKEN), ("many tokens", MANY_TOKENS)):
            added = await bad.call_tool("corpus_add", {"title": title, "body": body})
            assert not added.is_error, added.content
        for query, _body in QUERIES:
            attack = asyncio.create_task(bad.call_tool("corpus_search", {"query": query}))
            echoed = await good.call_tool("echo", {"message": "here"})
            found = await attack
            assert not echoed.is_error
            assert not found.is_error, found.content
            assert found.structured_content["total"] == 1
            [hit] = found.structured_content["results"]
            assert len(hit["snippet"]) <= SNIPPET_MAX + 2  # and its … marks
    step("Two pathological searches answered (success, so within their 10 s deadline)")
    rows = await fetch_all(
        raw_db,
        "SELECT status FROM tool_executions WHERE client_id = :c AND tool_name = 'corpus_search'",
        c=abuser.client_id,
    )
    assert [r.status for r in rows] == ["success", "success"]


# 17 words sharing prefixes, all in the title (so FTS5 matches every document), none in the
# body: one regular expression alternating them once scanned each 100,000-character body at
# 0.23 s a document, in a thread that held the GIL past the call's deadline.
PREFIX_WORDS = " ".join("a" * k + "b" for k in range(1, 18))
PREFIX_DOCUMENTS = 60


async def test_snippets_of_many_long_documents_stay_within_the_deadline(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("snippet abuser"), await register("victim", "readonly")
    # The abuser's byte budget is raised so the documents go in quickly; the deadline is 5 s
    # (60 documents cost ~14 s of snippets before).
    server = serve(MCP_TOOL_TIMEOUT="5", MCP_LIMITS_BASIC="request_bytes_per_second=100000000")
    body = "a" * 99_990
    async with (
        mcp_client(server.url, abuser.api_key) as bad,
        mcp_client(server.url, victim.api_key) as good,
    ):
        for _ in range(PREFIX_DOCUMENTS):
            added = await bad.call_tool("corpus_add", {"title": PREFIX_WORDS, "body": body})
            assert not added.is_error, added.content
        step(f"{PREFIX_DOCUMENTS} documents of 99,990 characters, titled with 17 prefix words")
        query = {"query": PREFIX_WORDS, "limit": 100}
        attack = asyncio.create_task(bad.call_tool("corpus_search", query))
        echoed = await good.call_tool("echo", {"message": "here"})
        found = await attack
    assert not echoed.is_error
    assert not found.is_error, found.content
    assert found.structured_content["total"] == PREFIX_DOCUMENTS
    hits = found.structured_content["results"]
    assert len(hits) == PREFIX_DOCUMENTS
    # No word of the query is in a body: every snippet is the body's start, 100 characters
    # and the 20 that finish the word the window cut (a word is completed that far at most).
    assert {hit["snippet"] for hit in hits} == {"a" * 120 + "…"}
    step("The search answered every match with a bounded snippet, within its deadline")
    rows = await fetch_all(
        raw_db,
        "SELECT status FROM tool_executions WHERE client_id = :c AND tool_name = 'corpus_search'",
        c=abuser.client_id,
    )
    assert [r.status for r in rows] == ["success"]
