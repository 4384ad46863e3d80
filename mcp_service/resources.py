"""A client's resources: its recent executions and its corpus documents, read only by it.

URIs (the protocol front lists and reads them, protocol/resources.py):

- `mcp-service://executions/recent`: the client's last RECENT_EXECUTIONS calls, newest
  first (tool, status, error, duration, times; no arguments or results).
- `mcp-service://executions/{execution_id}`: one call, with its arguments and result.
- `mcp-service://documents`: the client's newest LISTED_DOCUMENTS documents (id, title,
  size, tags) and how many it has.
- `mcp-service://documents/{document_id}`: one document, whole (at most 100,000
  characters, the corpus_add bound).

Every read names the client: a URI of another client's row reads exactly as one
naming no row (`NotFoundError`, the same words), so nobody learns which ids exist.

What changes what (`changes_of_*`, published after the commit, change_bus.py): every
recorded call changes its client's `executions/recent`; a successful `corpus_add`
also changes `documents` and the client's resource list (its documents are listed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from mcp_service.change_bus import Change
from mcp_service.db import Database
from mcp_service.errors import NotFoundError
from mcp_service.models import Document, ToolExecution, table_of
from mcp_service.validation import is_lookup_text

SCHEME = "mcp-service://"
RECENT_EXECUTIONS_URI = f"{SCHEME}executions/recent"
EXECUTION_TEMPLATE = f"{SCHEME}executions/{{execution_id}}"
DOCUMENTS_URI = f"{SCHEME}documents"
DOCUMENT_TEMPLATE = f"{SCHEME}documents/{{document_id}}"
RECENT_EXECUTIONS = 50
LISTED_DOCUMENTS = 100
# Tools whose success adds a document: the documents index and the resource list change.
DOCUMENT_WRITERS = frozenset({"corpus_add"})

_EXECUTION = re.compile(re.escape(f"{SCHEME}executions/") + r"([0-9a-f-]{1,36})")
# Document ids are integers: at most 9 digits, so no id overflows PostgreSQL's integer.
_DOCUMENT = re.compile(re.escape(f"{SCHEME}documents/") + r"([1-9][0-9]{0,8})")

_EXECUTIONS = table_of(ToolExecution)
_DOCUMENTS = table_of(Document)
_SUMMARY = (
    _EXECUTIONS.c.id,
    _EXECUTIONS.c.tool_name,
    _EXECUTIONS.c.status,
    _EXECUTIONS.c.error_message,
    _EXECUTIONS.c.duration_ms,
    _EXECUTIONS.c.started_at,
    _EXECUTIONS.c.finished_at,
    _EXECUTIONS.c.session_id,
)
_RECENT = (
    select(*_SUMMARY)
    .where(_EXECUTIONS.c.client_id == bindparam("cid"))
    .order_by(_EXECUTIONS.c.started_at.desc(), _EXECUTIONS.c.id.desc())
    .limit(RECENT_EXECUTIONS)
)
_ONE_EXECUTION = select(*_SUMMARY, _EXECUTIONS.c.arguments, _EXECUTIONS.c.result).where(
    _EXECUTIONS.c.id == bindparam("id"), _EXECUTIONS.c.client_id == bindparam("cid")
)
_DOCUMENT_SUMMARY = (
    _DOCUMENTS.c.id,
    _DOCUMENTS.c.title,
    func.length(_DOCUMENTS.c.body).label("characters"),
    _DOCUMENTS.c.tags,
    _DOCUMENTS.c.created_at,
)
_NEWEST_DOCUMENTS = (
    select(*_DOCUMENT_SUMMARY)
    .where(_DOCUMENTS.c.client_id == bindparam("cid"))
    .order_by(_DOCUMENTS.c.id.desc())
    .limit(LISTED_DOCUMENTS)
)
_COUNT_DOCUMENTS = (
    select(func.count()).select_from(_DOCUMENTS).where(_DOCUMENTS.c.client_id == bindparam("cid"))
)
_ONE_DOCUMENT = select(*_DOCUMENT_SUMMARY, _DOCUMENTS.c.body).where(
    _DOCUMENTS.c.id == bindparam("id"), _DOCUMENTS.c.client_id == bindparam("cid")
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _execution(row: Any) -> dict[str, Any]:
    return {
        "execution_id": row.id,
        "tool_name": row.tool_name,
        "status": row.status,
        "error_message": row.error_message,
        "duration_ms": row.duration_ms,
        "started_at": _time(row.started_at),
        "finished_at": _time(row.finished_at),
        "session_id": row.session_id,
        "uri": f"{SCHEME}executions/{row.id}",
    }


def _document(row: Any) -> dict[str, Any]:
    return {
        "document_id": row.id,
        "title": row.title,
        "characters": row.characters,
        "tags": list(row.tags or ()),
        "created_at": _time(row.created_at),
        "uri": document_uri(row.id),
    }


def document_uri(document_id: int) -> str:
    return f"{SCHEME}documents/{document_id}"


def _not_found(uri: str) -> NotFoundError:
    # The same words for a URI of another client's row and one naming no row at all.
    return NotFoundError(f"resource {uri[:300]!r} not found")


def _read_recent(conn: Connection, client_id: str) -> dict[str, Any]:
    rows = conn.execute(_RECENT, {"cid": client_id}).all()
    return {"limit": RECENT_EXECUTIONS, "executions": [_execution(r) for r in rows]}


def _read_execution(conn: Connection, client_id: str, execution_id: str) -> dict[str, Any] | None:
    row = conn.execute(_ONE_EXECUTION, {"cid": client_id, "id": execution_id}).first()
    if row is None:
        return None
    return {**_execution(row), "arguments": row.arguments, "result": row.result}


def _read_documents(conn: Connection, client_id: str) -> dict[str, Any]:
    rows = conn.execute(_NEWEST_DOCUMENTS, {"cid": client_id}).all()
    total = conn.execute(_COUNT_DOCUMENTS, {"cid": client_id}).scalar_one()
    return {
        "total": total,
        "limit": LISTED_DOCUMENTS,
        "documents": [_document(r) for r in rows],
    }


def _read_document(conn: Connection, client_id: str, document_id: int) -> dict[str, Any] | None:
    row = conn.execute(_ONE_DOCUMENT, {"cid": client_id, "id": document_id}).first()
    return None if row is None else {**_document(row), "body": row.body}


def _newest_documents(conn: Connection, client_id: str) -> list[dict[str, Any]]:
    return [_document(r) for r in conn.execute(_NEWEST_DOCUMENTS, {"cid": client_id})]


class ResourceReader:
    """Reads a client's resources by URI; every read is one client's rows only."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def read(self, client_id: str, uri: str) -> dict[str, Any]:
        """The resource's content as JSON; NotFoundError when the client has no such resource."""
        if not is_lookup_text(client_id) or not is_lookup_text(uri):
            raise _not_found(str(uri))
        content: dict[str, Any] | None
        if uri == RECENT_EXECUTIONS_URI:
            content = await self._db.run_read(_read_recent, client_id)
        elif uri == DOCUMENTS_URI:
            content = await self._db.run_read(_read_documents, client_id)
        elif found := _EXECUTION.fullmatch(uri):
            content = await self._db.run_read(_read_execution, client_id, found.group(1))
        elif found := _DOCUMENT.fullmatch(uri):
            content = await self._db.run_read(_read_document, client_id, int(found.group(1)))
        else:
            content = None
        if content is None:
            raise _not_found(uri)
        return content

    async def exists(self, client_id: str, uri: str) -> bool:
        """Whether the client has this resource (what `resources/subscribe` checks)."""
        if uri in (RECENT_EXECUTIONS_URI, DOCUMENTS_URI):
            return True
        try:
            await self.read(client_id, uri)
        except NotFoundError:
            return False
        return True

    async def documents(self, client_id: str) -> list[dict[str, Any]]:
        """The client's newest LISTED_DOCUMENTS documents, as listed (no bodies)."""
        return await self._db.run_read(_newest_documents, client_id)


def changes_of_calls(client_ids: Iterable[str]) -> list[Change]:
    """Recorded calls (a committed batch): each client's recent executions changed."""
    return [Change(c, (RECENT_EXECUTIONS_URI,)) for c in dict.fromkeys(client_ids)]


def changes_of_write(client_id: str, tool_name: str) -> Sequence[Change]:
    """A writing tool's committed success: its call, and what the tool itself changed."""
    if tool_name in DOCUMENT_WRITERS:
        return [Change(client_id, (RECENT_EXECUTIONS_URI, DOCUMENTS_URI), list_changed=True)]
    return changes_of_calls([client_id])
