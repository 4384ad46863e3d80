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
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, text

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


def search_words(query: str) -> list[str]:
    """The query's distinct words (case-insensitively), first 32: what every engine matches."""
    words = list(dict.fromkeys(w.casefold() for w in _WORD.findall(query)))
    if not words:
        raise ValidationError("query has no searchable words")
    return words[:MAX_QUERY_WORDS]


def snippet(body: str, words: list[str]) -> str:
    """The body around its first match of any word, matches in [brackets]; linear time.

    A match FTS5 found only through case or diacritic folding (or only in the
    title) leaves the snippet at the start of the body.
    """
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    found = pattern.search(body)
    first = found.start() if found is not None else 0
    start = max(0, first - _BEFORE)
    end = min(len(body), first + _AFTER)
    # Whole words at the edges.
    while start > 0 and body[start - 1].isalnum():
        start -= 1
    while end < len(body) and body[end].isalnum():
        end += 1
    window = pattern.sub(lambda m: f"[{m.group()}]", body[start:end]).strip()
    cut = len(window) > SNIPPET_MAX
    if cut:
        window = window[:SNIPPET_MAX].rsplit(" ", 1)[0]
    return f"{'…' if start > 0 else ''}{window}{'…' if cut or end < len(body) else ''}"


def snippets(rows: Sequence[Any], words: list[str]) -> list[str]:
    return [snippet(r.body, words) for r in rows]


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
    "SELECT d.id, d.title, d.body, bm25(documents_fts) AS rank "
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
    "SELECT d.id, d.title, d.body, "
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
    rows = (await ctx.db.execute(_PG_SEARCH, params)).all()
    total = await ctx.db.scalar(_PG_COUNT, params)
    cut = await asyncio.to_thread(snippets, rows, words)
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
    rows = (await ctx.db.execute(_FTS_SEARCH, params)).all()
    total = await ctx.db.scalar(_FTS_COUNT, params)
    cut = await asyncio.to_thread(snippets, rows, words)
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
    rows = await ctx.db.scalars(
        select(Document).where(condition).order_by(Document.id.desc()).limit(limit)
    )
    found = list(rows)
    cut = await asyncio.to_thread(snippets, found, words)
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
