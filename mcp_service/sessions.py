"""Sessions persisted in the database, so every process reading the file sees them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from mcp_service.db import Database
from mcp_service.errors import NotFoundError, SessionClosedError, ValidationError
from mcp_service.models import Client, Session, SessionStatus, utcnow
from mcp_service.records import SessionInfo
from mcp_service.validation import clean_metadata

OPEN = SessionStatus.OPEN.value


class SessionStore:
    def __init__(self, db: Database, idle_timeout: float) -> None:
        self._db = db
        self.idle_timeout = idle_timeout
        # Sessions this process opened: shutdown closes these, never another process's.
        self._opened: set[str] = set()

    async def create(self, client_id: str, metadata: object = None) -> SessionInfo:
        clean_meta = clean_metadata(metadata)
        async with self._db.write() as db:
            client = await db.get(Client, client_id)
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
                session_metadata=clean_meta,
            )
            db.add(row)
        self._opened.add(row.id)
        return SessionInfo.from_row(row)

    async def get(self, session_id: str) -> SessionInfo:
        async with self._db.read() as db:
            row = await db.get(Session, session_id)
        if row is None:
            raise NotFoundError(f"session {session_id!r} not found")
        return SessionInfo.from_row(row)

    async def touch(self, session_id: str) -> SessionInfo:
        """Count one request atomically (UPDATE … SET n = n + 1: no lost update)."""
        async with self._db.write() as db:
            result = await db.execute(
                update(Session)
                .where(Session.id == session_id, Session.status == OPEN)
                .values(request_count=Session.request_count + 1, last_activity_at=utcnow())
                .returning(Session)
            )
            row = result.scalar_one_or_none()
            if row is None:
                existing = await db.get(Session, session_id)
                if existing is None:
                    raise NotFoundError(f"session {session_id!r} not found")
                raise SessionClosedError(f"session {session_id} is {existing.status}")
            return SessionInfo.from_row(row)

    async def close(self, session_id: str) -> bool:
        """Close a session; True if this call closed it, False if it was already over."""
        async with self._db.write() as db:
            result = await db.execute(
                update(Session)
                .where(Session.id == session_id, Session.status == OPEN)
                .values(status=SessionStatus.CLOSED.value, closed_at=utcnow())
            )
            self._opened.discard(session_id)
            if result.rowcount == 1:
                return True
            if await db.get(Session, session_id) is None:
                raise NotFoundError(f"session {session_id!r} not found")
            return False

    async def close_opened(self) -> int:
        """Close every still-open session this process opened; returns how many."""
        ids, self._opened = list(self._opened), set()
        if not ids:
            return 0
        async with self._db.write() as db:
            result = await db.execute(
                update(Session)
                .where(Session.id.in_(ids), Session.status == OPEN)
                .values(status=SessionStatus.CLOSED.value, closed_at=utcnow())
            )
            return result.rowcount

    async def expire_idle(self, idle_timeout: float | None = None) -> list[str]:
        """Mark sessions idle past the timeout expired; returns exactly the ids expired."""
        timeout = self.idle_timeout if idle_timeout is None else idle_timeout
        if timeout < 0:
            raise ValidationError("idle timeout must be >= 0")
        now = utcnow()
        cutoff = now - timedelta(seconds=timeout)
        async with self._db.write() as db:
            result = await db.execute(
                update(Session)
                .where(Session.status == OPEN, Session.last_activity_at < cutoff)
                .values(status=SessionStatus.EXPIRED.value, closed_at=now)
                .returning(Session.id)
            )
            return sorted(result.scalars())

    async def count_open(self) -> int:
        async with self._db.read() as db:
            return await db.scalar(
                select(func.count()).select_from(Session).where(Session.status == OPEN)
            )
