"""Sessions persisted in the database, so every process reading the file sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_service.db import Database
from mcp_service.errors import NotFoundError, SessionClosedError, ValidationError
from mcp_service.models import Client, Session, SessionStatus, utcnow
from mcp_service.snapshots import SessionInfo
from mcp_service.tracing import current_ids
from mcp_service.validation import clean_duration, clean_metadata, require_row_id

if TYPE_CHECKING:  # Redis is loaded only when configured (service.py)
    from mcp_service.session_liveness import SessionLiveness

OPEN = SessionStatus.OPEN.value


class SessionStore:
    def __init__(
        self, db: Database, idle_timeout: float, liveness: SessionLiveness | None = None
    ) -> None:
        self._db = db
        self.idle_timeout = idle_timeout
        # With Redis a session lives as long as its key there (session_liveness.py).
        self._liveness = liveness
        # Sessions this process opened, with their clients: shutdown closes these, never
        # another process's.
        self._opened: dict[str, str] = {}

    async def create(self, client_id: str, metadata: object = None) -> SessionInfo:
        clean_meta = clean_metadata(metadata)
        require_row_id(client_id, "client")
        row = await self._db.transaction(_insert, client_id, clean_meta, self.idle_timeout)
        if self._liveness is not None:
            try:
                await self._liveness.opened(client_id, row.id, self.idle_timeout)
            except BaseException:
                # A session nobody can keep alive is not opened: its row says so.
                await self._db.transaction(_end, [row.id], SessionStatus.CLOSED.value)
                raise
        self._opened[row.id] = client_id
        return SessionInfo.from_row(row)

    async def get(self, session_id: str) -> SessionInfo:
        require_row_id(session_id, "session")
        async with self._db.read() as db:
            row = await db.get(Session, session_id)
        if row is None:
            raise NotFoundError(f"session {session_id!r} not found")
        return SessionInfo.from_row(row)

    async def touch(self, session_id: str) -> SessionInfo:
        """Count one request atomically (UPDATE … SET n = n + 1: no lost update)."""
        require_row_id(session_id, "session")
        return await self._db.transaction(_count_request, session_id)

    async def close(self, session_id: str) -> bool:
        """Close a session; True if this call closed it, False if it was already over."""
        require_row_id(session_id, "session")
        self._opened.pop(session_id, None)
        closed, client_id = await self._db.transaction(_close, session_id)
        if closed and self._liveness is not None:
            await self._liveness.closed([(client_id, session_id)])
        return closed

    async def close_opened(self) -> int:
        """Close every still-open session this process opened; returns how many."""
        opened, self._opened = self._opened, {}
        if not opened:
            return 0
        closed = await self._db.transaction(_end, list(opened), SessionStatus.CLOSED.value)
        if self._liveness is not None:
            await self._liveness.closed([(opened[sid], sid) for sid in closed])
        return len(closed)

    async def mark_expired(self, session_id: str) -> None:
        """A call found the session's key gone (Redis): its row says expired from now on."""
        self._opened.pop(session_id, None)
        await self._db.transaction(_end, [session_id], SessionStatus.EXPIRED.value)

    async def expire_idle(self, idle_timeout: float | None = None) -> list[str]:
        """Mark sessions idle past their timeout expired; returns exactly the ids expired.

        Each row's own deadline decides (set from the timeout of the process that
        opened it), so servers with different timeouts agree. An explicit
        `idle_timeout` applies that timeout to every open session instead.
        """
        now = utcnow()
        if idle_timeout is None and self._liveness is not None:
            return await self._expire_gone()
        if idle_timeout is None:
            over = Session.idle_deadline < now.timestamp()
        else:
            timeout = clean_duration(idle_timeout, "idle timeout")
            over = Session.last_activity_at < now - timedelta(seconds=timeout)
        statement = (
            update(Session)
            .where(Session.status == OPEN, over)
            .values(status=SessionStatus.EXPIRED.value, closed_at=now)
            .returning(Session.id)
        )
        return sorted(await self._db.transaction(_scalars, statement))

    async def _expire_gone(self) -> list[str]:
        """With Redis: mark the open sessions whose keys expired (every process agrees)."""
        async with self._db.read() as db:
            rows = (
                await db.execute(
                    select(Session.client_id, Session.id).where(Session.status == OPEN)
                )
            ).all()
        assert self._liveness is not None
        gone = await self._liveness.gone([(cid, sid) for cid, sid in rows])
        if not gone:
            return []
        for sid in gone:
            self._opened.pop(sid, None)
        return sorted(await self._db.transaction(_end, gone, SessionStatus.EXPIRED.value))

    async def count_open(self) -> int:
        async with self._db.read() as db:
            found = await db.scalar(
                select(func.count()).select_from(Session).where(Session.status == OPEN)
            )
        return int(found or 0)


# -- transactions (db.transaction may run each again: no effect outside `db`) --


async def _insert(
    db: AsyncSession, client_id: str, metadata: dict[str, Any], idle_timeout: float
) -> Session:
    # FOR SHARE (PostgreSQL): a revocation updating this row meanwhile is waited for, so a
    # session is never opened for a client whose revocation committed first.
    client = await db.scalar(
        select(Client).where(Client.id == client_id).with_for_update(read=True)
    )
    if client is None:
        raise NotFoundError(f"client {client_id!r} not found")
    if client.is_revoked:
        raise ValidationError(f"client {client_id} has been revoked")
    now = utcnow()
    row = Session(
        client_id=client_id,
        status=OPEN,
        created_at=now,
        last_activity_at=now,
        request_count=0,
        session_metadata=metadata,
        idle_timeout=idle_timeout,
        idle_deadline=now.timestamp() + idle_timeout,
        trace_id=current_ids()[0],
    )
    db.add(row)
    await db.flush()
    return row


async def _count_request(db: AsyncSession, session_id: str) -> SessionInfo:
    now = utcnow()
    result = await db.execute(
        update(Session)
        .where(Session.id == session_id, Session.status == OPEN)
        .values(
            request_count=Session.request_count + 1,
            last_activity_at=now,
            idle_deadline=Session.idle_timeout + now.timestamp(),
        )
        .returning(Session)
    )
    row = result.scalar_one_or_none()
    if row is None:
        existing = await db.get(Session, session_id)
        if existing is None:
            raise NotFoundError(f"session {session_id!r} not found")
        raise SessionClosedError(f"session {session_id} is {existing.status}")
    return SessionInfo.from_row(row)


async def _close(db: AsyncSession, session_id: str) -> tuple[bool, str]:
    """(whether this closed it, its client's id)."""
    statement = (
        update(Session)
        .where(Session.id == session_id, Session.status == OPEN)
        .values(status=SessionStatus.CLOSED.value, closed_at=utcnow())
        .returning(Session.client_id)
    )
    client_id = await db.scalar(statement)
    if client_id is not None:
        return True, client_id
    existing = await db.get(Session, session_id)
    if existing is None:
        raise NotFoundError(f"session {session_id!r} not found")
    return False, existing.client_id


async def _end(db: AsyncSession, ids: list[str], status: str) -> list[str]:
    """Give the still-open sessions among `ids` their final status; the ids it ended."""
    ended: list[str] = []
    for start in range(0, len(ids), 500):
        statement = (
            update(Session)
            .where(Session.id.in_(ids[start : start + 500]), Session.status == OPEN)
            .values(status=status, closed_at=utcnow())
            .returning(Session.id)
        )
        ended += await _scalars(db, statement)
    return ended


async def _scalars(db: AsyncSession, statement: Any) -> list[Any]:
    return list((await db.execute(statement)).scalars())
