"""corpus_add and corpus_search: a caller's documents, full-text searched on every engine.

SQLite searches its FTS5 table (LIKE where the build has no FTS5); PostgreSQL
matches a tsvector of title and body, through the GIN index the migration made.

Search words are extracted and quoted, so any text (FTS operators, quotes,
SQL-looking strings) is searched for literally instead of being parsed.

The cost of a search is bounded by design, whatever the documents hold:
documents are at most 100,000 characters and a query at most 32 distinct words
(a word repeated counts once); ranking uses bm25 / ts_rank, linear in a
document's matches; and the snippet is cut here, from the first match in the
body, in linear time. FTS5's own `snippet()` is not used: on a document that
repeats the query's word 8,000 times it took 0.65 s, and 39 s for a query naming
it 8 times (50,000 repeats: 20 s for one word). Past its deadline the statement
itself is stopped (deadlines.py).

The snippet reads only the first SNIPPET_SCAN characters of each body (the
database cuts them) and finds the first match by comparing whole words, one
pass with no backtracking. It once searched the whole body with one regular
expression alternating the query's words: 17 words sharing prefixes
("ab aab aaab ...") against a 100,000-character body cost 0.23 s a document,
23 s for 100 matches, in a thread that held the GIL past the call's deadline:
every other client's echo took 2 s at p50 and 22 s at p99. Snippets also stop
at the call's deadline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, text

from mcp_service.deadlines import Deadline
from mcp_service.errors import ValidationError
from mcp_service.models import Document, utcnow
from mcp_service.permissions import Permission
from mcp_service.tools.registry import Tool, ToolContext

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 32
# A snippet: this many characters of context before the first match and after it, and
# never longer than SNIPPET_MAX characters, marks included.
_BEFORE, _AFTER = 60, 100
SNIPPET_MAX = 240
# A word cut by the window's edge is completed up to this many characters.
_EDGE = 20
# How much of each body a snippet searches: the first match must lie in it.
SNIPPET_SCAN = 10_000
# How much of each body the search fetches: the scan, and room for the window after it, so
# "…" still says when the body goes on.
SNIPPET_FETCH = SNIPPET_SCAN + _AFTER + _EDGE + 1


def search_words(query: str) -> list[str]:
    """The query's distinct words (case-insensitively), first 32: what every engine matches."""
    words = list(dict.fromkeys(w.casefold() for w in _WORD.findall(query)))
    if not words:
        raise ValidationError("query has no searchable words")
    return words[:MAX_QUERY_WORDS]


def snippet(body: str, words: list[str]) -> str:
    """The body around its first match of any word, matches in [brackets]; linear time.

    Only the first SNIPPET_SCAN characters are searched, word by word (a match is
    a whole word equal to a query word, case-insensitively). A match FTS5 found
    only through diacritic folding, further in, or only in the title leaves the
    snippet at the start of the body.
    """
    wanted = set(words)
    first = 0
    for found in _WORD.finditer(body, 0, SNIPPET_SCAN):
        if found.group().casefold() in wanted:
            first = found.start()
            break
    start = max(0, first - _BEFORE)
    end = min(len(body), first + _AFTER)
    # Whole words at the edges, as far as _EDGE characters (a 100,000-letter word is one word).
    floor, ceiling = max(0, start - _EDGE), min(len(body), end + _EDGE)
    while start > floor and body[start - 1].isalnum():
        start -= 1
    while end < ceiling and body[end].isalnum():
        end += 1
    window = _WORD.sub(
        lambda m: f"[{m.group()}]" if m.group().casefold() in wanted else m.group(),
        body[start:end],
    ).strip()
    cut = len(window) > SNIPPET_MAX
    if cut:
        window = window[:SNIPPET_MAX].rsplit(" ", 1)[0]
    return f"{'…' if start > 0 else ''}{window}{'…' if cut or end < len(body) else ''}"


def snippets(rows: Sequence[Any], words: list[str], deadline: Deadline | None) -> list[str]:
    """One snippet per row (in a worker thread); stops at the call's deadline."""
    cut = []
    for r in rows:
        if deadline is not None and deadline.passed:
            raise TimeoutError
        cut.append(snippet(r.body, words))
    return cut


async def corpus_add(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    # NUL (which PostgreSQL text cannot hold) never gets here: tools/arguments.py refuses it.
    doc = Document(
        client_id=ctx.client_id,
        title=args["title"],
        body=args["body"],
        tags=list(args.get("tags", [])),
        created_at=utcnow(),
    )
    ctx.db.add(doc)
    await ctx.db.flush()
    return {"document_id": doc.id, "title": doc.title, "characters": len(doc.body)}


_FTS_SEARCH = text(
    "SELECT d.id, d.title, substr(d.body, 1, :fetch) AS body, "
    "bm25(documents_fts) AS rank "
    "FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid "
    "WHERE documents_fts MATCH :match AND d.client_id = :client_id "
    "ORDER BY rank, d.id LIMIT :limit"
)
_FTS_COUNT = text(
    "SELECT count(*) FROM documents_fts JOIN documents d ON d.id = documents_fts.rowid "
    "WHERE documents_fts MATCH :match AND d.client_id = :client_id"
)


# The expression of the GIN index in migration 0001: the same text, or the index is not used.
_PG_VECTOR = "to_tsvector('simple', d.title || ' ' || d.body)"
_PG_MATCHES = f"FROM documents d WHERE {_PG_VECTOR} @@ plainto_tsquery('simple', :words) "
_PG_SEARCH = text(
    "SELECT d.id, d.title, substr(d.body, 1, :fetch) AS body, "
    f"ts_rank({_PG_VECTOR}, plainto_tsquery('simple', :words)) AS rank "
    f"{_PG_MATCHES} AND d.client_id = :client_id ORDER BY rank DESC, d.id LIMIT :limit"
)
_PG_COUNT = text(f"SELECT count(*) {_PG_MATCHES} AND d.client_id = :client_id")


async def corpus_search(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    words = search_words(args["query"])
    limit = args.get("limit", 10)
    database = ctx.services.database
    if not database.has_fts:
        results, total = await _like_search(ctx, words, limit)
    elif database.dialect == "postgresql":
        results, total = await _postgres_search(ctx, words, limit)
    else:
        results, total = await _fts5_search(ctx, words, limit)
    return {"query": args["query"], "total": total, "results": results}


async def _postgres_search(
    ctx: ToolContext, words: list[str], limit: int
) -> tuple[list[dict[str, Any]], int]:
    # plainto_tsquery ANDs the words and parses no operators: every word must match.
    params = {"words": " ".join(words), "client_id": ctx.client_id, "limit": limit}
    rows = (await ctx.db.execute(_PG_SEARCH, {**params, "fetch": SNIPPET_FETCH})).all()
    total = await ctx.db.scalar(_PG_COUNT, params)
    cut = await asyncio.to_thread(snippets, rows, words, ctx.deadline)
    results = [
        {"document_id": r.id, "title": r.title, "snippet": s, "score": r.rank}
        for r, s in zip(rows, cut, strict=True)
    ]
    return results, total or 0


async def _fts5_search(
    ctx: ToolContext, words: list[str], limit: int
) -> tuple[list[dict[str, Any]], int]:
    params = {
        "match": " ".join(f'"{w}"' for w in words),
        "client_id": ctx.client_id,
        "limit": limit,
    }
    rows = (await ctx.db.execute(_FTS_SEARCH, {**params, "fetch": SNIPPET_FETCH})).all()
    total = await ctx.db.scalar(_FTS_COUNT, params)
    cut = await asyncio.to_thread(snippets, rows, words, ctx.deadline)
    results = [
        {"document_id": r.id, "title": r.title, "snippet": s, "score": -r.rank}
        for r, s in zip(rows, cut, strict=True)
    ]
    return results, total or 0


async def _like_search(
    ctx: ToolContext, words: list[str], limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Portable fallback: every word must appear, case-insensitively, in title or body."""
    haystack = func.lower(Document.title + " " + Document.body)
    condition = and_(
        Document.client_id == ctx.client_id,
        *(haystack.contains(w.lower(), autoescape=True) for w in words),
    )
    total = await ctx.db.scalar(select(func.count()).select_from(Document).where(condition))
    rows = await ctx.db.execute(
        select(
            Document.id, Document.title, func.substr(Document.body, 1, SNIPPET_FETCH).label("body")
        )
        .where(condition)
        .order_by(Document.id.desc())
        .limit(limit)
    )
    found = list(rows.all())
    cut = await asyncio.to_thread(snippets, found, words, ctx.deadline)
    results = [
        {"document_id": d.id, "title": d.title, "snippet": s, "score": 1.0}
        for d, s in zip(found, cut, strict=True)
    ]
    return results, total or 0


CORPUS_ADD = Tool(
    name="corpus_add",
    description="Store a document (title, body, optional tags) in the caller's searchable corpus.",
    input_schema={
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string", "minLength": 1, "maxLength": 100_000},
            "tags": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 50},
                "maxItems": 20,
                "uniqueItems": True,
            },
        },
        "required": ["title", "body"],
        "additionalProperties": False,
    },
    permission=Permission.WRITE,
    handler=corpus_add,
    writes=True,
)

CORPUS_SEARCH = Tool(
    name="corpus_search",
    description=(
        "Full-text search over the caller's documents; every word must match. "
        "Returns the best matches with a snippet and the total number of matches."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    permission=Permission.READ,
    handler=corpus_search,
)
