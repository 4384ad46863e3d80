"""Writers on one database from several connections: locks, atomic updates and retries.

On SQLite writers queue on BEGIN IMMEDIATE; on PostgreSQL they run at once, so
every read-then-write is one conditional UPDATE or holds a row lock, and a
transaction PostgreSQL aborts as a deadlock is run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mcp_service import MCPService
from mcp_service.errors import ValidationError
from mcp_service.limits import Limits
from mcp_service.models import Client
from tests.integration.conftest import fetch_all, fetch_value, make_settings
from tests.toolkit import Step, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("resilience")]


@pytest.fixture
async def other_service(database_url: str) -> AsyncIterator[MCPService]:
    """A second service on the same database, with its own engine: another process's view.

    Without per-client limits, like `load_service`: its test loads one client from both.
    """
    svc = MCPService(make_settings(database_url, limits=Limits.off()))
    await svc.initialize()
    yield svc
    await svc.shutdown()


async def test_racing_revocations_revoke_exactly_once(
    service: MCPService,
    other_service: MCPService,
    raw_db: AsyncEngine,
    tag: str,
    step: Step,
) -> None:
    client = (await service.register_client(f"{tag} target", "basic")).client
    sessions = [await service.create_session(client.client_id) for _ in range(3)]
    revokers = [service, other_service] * 10
    outcomes = await asyncio.gather(*(s.revoke_client(client.client_id) for s in revokers))
    assert sorted(outcomes) == [False] * 19 + [True]
    step("20 concurrent revocations from 2 services: exactly one revoked")

    rows = await fetch_all(
        raw_db, "SELECT status FROM sessions WHERE client_id = :c", c=client.client_id
    )
    assert sorted(r.status for r in rows) == ["closed"] * len(sessions)
    step("Its 3 open sessions were closed")


@pytest.mark.postgresql_only
async def test_a_session_cannot_open_while_its_client_is_being_revoked(
    service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
) -> None:
    client = (await service.register_client(f"{tag} racing", "basic")).client
    async with raw_db.connect() as revoker:
        # A revocation in progress in another connection: the client row is updated, not committed.
        await revoker.execute(
            text("UPDATE clients SET revoked_at = now() WHERE id = :c"), {"c": client.client_id}
        )
        creating = asyncio.create_task(service.create_session(client.client_id))
        await wait_for_a_lock_wait(raw_db, creating)
        step("create_session waits on the client row the revocation holds")
        await revoker.commit()
    with pytest.raises(ValidationError, match="has been revoked"):
        await creating
    count = await fetch_value(
        raw_db, "SELECT count(*) FROM sessions WHERE client_id = :c", c=client.client_id
    )
    assert count == 0
    step("Once the revocation committed, the session was refused: no row")


async def wait_for_a_lock_wait(engine: AsyncEngine, task: asyncio.Task[object]) -> None:
    """Until some backend of this database waits on a lock (fails if `task` ends first)."""

    async def waiting() -> bool:
        assert not task.done(), "the writer did not wait for the row lock"
        count = await fetch_value(
            engine,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        return bool(count)

    await until(waiting, "a backend waiting on a lock")


@pytest.mark.postgresql_only
async def test_a_deadlocked_transaction_is_retried_and_both_commit(
    service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
) -> None:
    a = (await service.register_client(f"{tag} a", "basic")).client_id
    b = (await service.register_client(f"{tag} b", "basic")).client_id
    attempts = {"ab": 0, "ba": 0}
    both_hold_one = asyncio.Barrier(2)

    async def lock_in_order(db: AsyncSession, name: str, first: str, second: str) -> None:
        attempts[name] += 1
        await db.execute(text("SELECT 1 FROM clients WHERE id = :c FOR UPDATE"), {"c": first})
        if attempts[name] == 1:
            await both_hold_one.wait()  # the first attempts cross: a certain deadlock
        await db.execute(text("UPDATE clients SET name = name || '+' WHERE id = :c"), {"c": second})

    database = service.database
    await asyncio.gather(
        database.transaction(lock_in_order, "ab", a, b),
        database.transaction(lock_in_order, "ba", b, a),
    )
    assert sorted(attempts.values()) == [1, 2]
    step("PostgreSQL aborted one of two crossing transactions; it ran again and committed")
    names = await fetch_all(
        raw_db, "SELECT name FROM clients WHERE id IN (:a, :b) ORDER BY name", a=a, b=b
    )
    assert [r.name for r in names] == [f"{tag} a+", f"{tag} b+"]
    step("Each update is there exactly once")


async def test_an_error_that_is_not_a_conflict_is_not_retried(
    service: MCPService, tag: str, step: Step
) -> None:
    existing = await service.register_client(f"{tag} first", "basic")
    key_id = existing.api_key.split("_")[1]
    attempts = 0

    async def duplicate_key_id(db: AsyncSession) -> None:
        nonlocal attempts
        attempts += 1
        db.add(
            Client(
                name=f"{tag} copy",
                client_type="generic",
                tier="basic",
                permissions=[],
                api_key_id=key_id,
                api_key_hash="x",
            )
        )

    with pytest.raises(IntegrityError):
        await service.database.transaction(duplicate_key_id)
    assert attempts == 1
    step("A unique violation on api_key_id was reported at once, not retried")


async def test_request_counts_are_exact_when_two_services_count_one_session(
    load_service: MCPService,
    other_service: MCPService,
    raw_db: AsyncEngine,
    tag: str,
    step: Step,
) -> None:
    service = load_service
    client = (await service.register_client(f"{tag} counted", "basic")).client
    session = await service.create_session(client.client_id)
    calls: list[Awaitable[object]] = [
        svc.execute_tool(
            session.session_id, "echo", {"message": str(i)}, client_id=client.client_id
        )
        for i, svc in enumerate([service, other_service] * 100)
    ]
    calls += [other_service.update_session_activity(session.session_id) for _ in range(50)]
    await asyncio.gather(*calls)
    count = await fetch_value(
        raw_db, "SELECT request_count FROM sessions WHERE id = :s", s=session.session_id
    )
    rows = await fetch_value(
        raw_db, "SELECT count(*) FROM tool_executions WHERE session_id = :s", s=session.session_id
    )
    assert (count, rows) == (250, 200)
    step("200 calls and 50 touches from 2 services: request_count is exactly 250")
