"""Group commit for execution rows: concurrent calls share one write transaction.

SQLite has one writer, so a commit per call caps throughput at the commit rate.
Calls that finish while a batch is being written wait together for the next
one: each caller still gets its row committed before it is answered, and each
batch is one transaction, so a failure loses no row silently — every waiting
caller gets the error.

A batch is written by `write_entries`, a plain sync function of a Connection
with three Core statements (no ORM unit of work, see statements.py): on SQLite
it runs in the writer thread as one hop (`Database.run_write`), and a writing
tool runs the same function inside its own transaction.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from mcp_service.db import Database
from mcp_service.models import Client, Session, SessionStatus, ToolExecution, table_of
from mcp_service.statements import Prepared


@dataclass(frozen=True, slots=True)
class Entry:
    row: dict[str, Any]  # the tool_executions row, keyed by column name
    bump_session: bool  # the call counted against an open session of its caller


_EXECUTIONS = table_of(ToolExecution)
_SESSIONS = table_of(Session)
_CLIENTS = table_of(Client)
_INSERT = Prepared(insert(_EXECUTIONS), column_keys=[c.key for c in _EXECUTIONS.c])
_SESSION_BUMP = Prepared(
    update(_SESSIONS)
    .where(
        _SESSIONS.c.id == bindparam("sid"),
        _SESSIONS.c.status == SessionStatus.OPEN.value,
    )
    .values(
        request_count=_SESSIONS.c.request_count + bindparam("n"),
        last_activity_at=bindparam("at"),
        idle_deadline=_SESSIONS.c.idle_timeout + bindparam("at_epoch"),
    )
)
_CLIENT_TOUCH = Prepared(
    update(_CLIENTS).where(_CLIENTS.c.id == bindparam("cid")).values(last_active_at=bindparam("at"))
)


def write_entries(conn: Connection, entries: Sequence[Entry]) -> None:
    """Insert the rows and move request counts and last-active times, inside `conn`'s transaction.

    One statement per table whatever the batch size: rows are inserted with one
    executemany, each session and client is updated once. The request count moves
    by `request_count + n` in the database (no lost update across processes).
    """
    if not entries:
        return
    _INSERT.execute_many(conn, [e.row for e in entries])
    counts: Counter[str] = Counter()
    session_at: dict[str, datetime] = {}
    client_at: dict[str, datetime] = {}
    for e in entries:
        row = e.row
        at = row["finished_at"]
        sid = row["session_id"]
        if e.bump_session and sid is not None:
            counts[sid] += 1
            session_at[sid] = max(at, session_at.get(sid, at))
        cid = row["client_id"]
        client_at[cid] = max(at, client_at.get(cid, at))
    # Every writer locks clients before sessions, each in id order (revocation does too):
    # concurrent batches on PostgreSQL then wait for each other instead of deadlocking.
    _CLIENT_TOUCH.execute_many(conn, [{"cid": c, "at": client_at[c]} for c in sorted(client_at)])
    if counts:
        _SESSION_BUMP.execute_many(
            conn,
            [
                {"sid": s, "n": counts[s], "at": at, "at_epoch": at.timestamp()}
                for s in sorted(counts)
                for at in (session_at[s],)
            ],
        )


class ExecutionRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Entry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        # Told once per committed batch, after its callers are answered (the service
        # announces the changed resources, change_bus.py); never before the commit.
        self.on_committed: Callable[[Sequence[Entry]], Awaitable[None]] | None = None

    async def record(self, entry: Entry) -> None:
        """Return once the entry is committed; raise what the commit raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="mcp-recorder")
        # Shielded: a caller that is cancelled does not cancel other callers' batch.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            # A lone row may commit on the loop; a batch goes to the writer thread, which
            # works while the loop serves the calls that will make the next batch.
            write = self._db.run_small_write if len(batch) == 1 else self._db.run_write
            try:
                await write(write_entries, [entry for entry, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
                if self.on_committed is not None:
                    await self.on_committed([entry for entry, _ in batch])

    async def wait_idle(self) -> None:
        """Let the batch in flight finish (used by shutdown)."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])
