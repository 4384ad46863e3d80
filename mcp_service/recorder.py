"""Group commit for execution rows: concurrent calls share one write transaction.

SQLite has one writer, so a commit per call caps throughput at the commit rate.
Calls that finish while a batch is being written wait together for the next
one: each caller still gets its row committed before it is answered, and each
batch is one transaction, so a failure loses no row silently — every waiting
caller gets the error.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_service.db import Database
from mcp_service.models import Client, Session, SessionStatus, ToolExecution


@dataclass(frozen=True)
class Entry:
    row: ToolExecution
    bump_session: bool  # the call counted against an open session of its caller


_SESSION_BUMP = (
    update(Session.__table__)
    .where(
        Session.__table__.c.id == bindparam("sid"),
        Session.__table__.c.status == SessionStatus.OPEN.value,
    )
    .values(
        request_count=Session.__table__.c.request_count + bindparam("n"),
        last_activity_at=bindparam("at"),
    )
)
_CLIENT_TOUCH = (
    update(Client.__table__)
    .where(Client.__table__.c.id == bindparam("cid"))
    .values(last_active_at=bindparam("at"))
)


async def write_entries(db: AsyncSession, entries: Sequence[Entry]) -> None:
    """Insert the rows and move request counts and last-active times, inside `db`'s transaction."""
    db.add_all([e.row for e in entries])
    await db.flush()
    counts: Counter[str] = Counter()
    session_at: dict[str, datetime] = {}
    client_at: dict[str, datetime] = {}
    for e in entries:
        at = e.row.finished_at
        if e.bump_session and e.row.session_id is not None:
            counts[e.row.session_id] += 1
            session_at[e.row.session_id] = max(at, session_at.get(e.row.session_id, at))
        client_at[e.row.client_id] = max(at, client_at.get(e.row.client_id, at))
    conn = await db.connection()
    if counts:
        await conn.execute(
            _SESSION_BUMP, [{"sid": s, "n": n, "at": session_at[s]} for s, n in counts.items()]
        )
    await conn.execute(_CLIENT_TOUCH, [{"cid": c, "at": at} for c, at in client_at.items()])


class ExecutionRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Entry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

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
            try:
                async with self._db.write() as db:
                    await write_entries(db, [entry for entry, _ in batch])
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

    async def wait_idle(self) -> None:
        """Let the batch in flight finish (used by shutdown)."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])
