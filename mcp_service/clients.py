"""Client registration, API-key authentication and revocation.

`authenticate` runs on every HTTP request, so its row lookup is one prepared
statement run by `Database.read_now` (no thread hop on SQLite, see db.py); the
row is still read on every check, so a revocation refuses the very next request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, bindparam, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_service.db import Database
from mcp_service.errors import AuthenticationError, NotFoundError
from mcp_service.models import Client, Session, SessionStatus, table_of, utcnow
from mcp_service.permissions import parse_tier, permissions_for
from mcp_service.security import ApiKeyHasher, generate_api_key, parse_api_key
from mcp_service.snapshots import ClientInfo, RegisteredClient
from mcp_service.statements import Prepared
from mcp_service.tracing import current_ids
from mcp_service.validation import (
    MAX_NAME_LENGTH,
    MAX_TYPE_LENGTH,
    clean_metadata,
    clean_text,
    require_row_id,
)

INVALID_KEY = "invalid API key"

_CLIENTS = table_of(Client)
_BY_KEY_ID = Prepared(
    select(
        _CLIENTS.c.id,
        _CLIENTS.c.name,
        _CLIENTS.c.client_type,
        _CLIENTS.c.tier,
        _CLIENTS.c.permissions,
        _CLIENTS.c.metadata,
        _CLIENTS.c.created_at,
        _CLIENTS.c.last_active_at,
        _CLIENTS.c.revoked_at,
        _CLIENTS.c.api_key_hash,
    ).where(_CLIENTS.c.api_key_id == bindparam("key_id"))
)


def client_by_key_id(conn: Connection, key_id: str) -> tuple[ClientInfo, str] | None:
    """The client holding a key id and its stored key hash, or None."""
    row = _BY_KEY_ID.first(conn, {"key_id": key_id})
    if row is None:
        return None
    cid, name, client_type, tier, permissions, metadata, created, active, revoked, key_hash = row
    info = ClientInfo(
        client_id=cid,
        name=name,
        client_type=client_type,
        tier=tier,
        permissions=tuple(permissions),
        metadata=dict(metadata or {}),
        created_at=created,
        last_active_at=active,
        revoked_at=revoked,
    )
    return info, key_hash


class ClientRegistry:
    def __init__(self, db: Database, hasher: ApiKeyHasher) -> None:
        self._db = db
        self._hasher = hasher
        # Called with a client id once its revocation has committed (the HTTP server
        # closes the client's live MCP sessions at once).
        self.on_revoked: list[Callable[[str], None]] = []

    async def register(
        self,
        name: object,
        tier: object,
        client_type: object = "generic",
        metadata: object = None,
    ) -> RegisteredClient:
        # Validate everything before touching the database: bad input leaves no row.
        clean_name = clean_text(name, "name", max_length=MAX_NAME_LENGTH)
        clean_type = clean_text(client_type, "client_type", max_length=MAX_TYPE_LENGTH)
        parsed_tier = parse_tier(tier)
        clean_meta = clean_metadata(metadata)
        key = generate_api_key()
        key_hash = await self._hasher.hash_async(key.key)
        row = Client(
            name=clean_name,
            client_type=clean_type,
            tier=parsed_tier.value,
            permissions=permissions_for(parsed_tier),
            api_key_id=key.key_id,
            api_key_hash=key_hash,
            client_metadata=clean_meta,
            created_at=utcnow(),
            trace_id=current_ids()[0],
        )
        await self._db.transaction(_add, row)
        return RegisteredClient(client=ClientInfo.from_row(row), api_key=key.key)

    async def authenticate(self, api_key: object) -> ClientInfo:
        """The client owning a valid, unrevoked key; AuthenticationError otherwise."""
        parsed = parse_api_key(api_key)
        if parsed is None:
            await self._hasher.verify("", None)  # same cost as any other wrong key
            raise AuthenticationError(INVALID_KEY)
        found = await self._db.read_now(client_by_key_id, parsed.key_id)
        stored_hash = found[1] if found is not None else None
        if not await self._hasher.verify(parsed.key, stored_hash):
            raise AuthenticationError(INVALID_KEY)
        assert found is not None
        client = found[0]
        if client.is_revoked:
            raise AuthenticationError(f"client {client.client_id} has been revoked")
        return client

    async def get(self, client_id: str) -> ClientInfo:
        require_row_id(client_id, "client")
        async with self._db.read() as db:
            row = await db.get(Client, client_id)
        if row is None:
            raise NotFoundError(f"client {client_id!r} not found")
        return ClientInfo.from_row(row)

    async def list(self, *, limit: int = 100) -> list[ClientInfo]:
        async with self._db.read() as db:
            rows = await db.scalars(select(Client).order_by(Client.created_at.desc()).limit(limit))
            return [ClientInfo.from_row(r) for r in rows]

    async def touch(self, client_id: str) -> None:
        statement = update(Client).where(Client.id == client_id).values(last_active_at=utcnow())
        await self._db.transaction(_execute, statement)

    async def revoke(self, client_id: str, *, db: AsyncSession | None = None) -> bool:
        """Revoke a client and close its open sessions; False if it was already revoked.

        With `db`, inside that transaction (a tool's); `on_revoked` runs after it commits.
        """
        require_row_id(client_id, "client")
        if db is not None:
            return await self._revoke_in(db, client_id)
        return await self._db.transaction(self._revoke_in, client_id)

    def _announce_after_commit(self, db: AsyncSession, client_id: str) -> None:
        def announce(_session: Any) -> None:
            for listener in self.on_revoked:
                listener(client_id)

        event.listen(db.sync_session, "after_commit", announce, once=True)

    async def _revoke_in(self, db: AsyncSession, client_id: str) -> bool:
        # One conditional UPDATE: of two revocations racing, exactly one sees the row unrevoked.
        # It locks the client row before the sessions, the order every writer uses
        # (group_commit.py).
        now = utcnow()
        key_hash = await db.scalar(
            update(Client)
            .where(Client.id == client_id, Client.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(Client.api_key_hash)
        )
        if key_hash is None:
            if await db.get(Client, client_id) is None:
                raise NotFoundError(f"client {client_id!r} not found")
            return False
        await db.execute(
            update(Session)
            .where(Session.client_id == client_id, Session.status == SessionStatus.OPEN.value)
            .values(status=SessionStatus.CLOSED.value, closed_at=now)
        )
        self._hasher.forget(key_hash)  # a cache entry: dropping it twice on a retry is harmless
        if self.on_revoked:
            self._announce_after_commit(db, client_id)
        return True


async def _add(db: AsyncSession, row: Client) -> None:
    db.add(row)


async def _execute(db: AsyncSession, statement: Any) -> None:
    await db.execute(statement)
