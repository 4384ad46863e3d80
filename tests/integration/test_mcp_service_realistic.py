"""The realistic integration suite: the real service on a real database file.

No mocks of our code: real hashing, real tools, real concurrency (every task
has its own database session), and exact assertions on what the database holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from passlib.context import CryptContext
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import mcp_service
from mcp_service import (
    AuthenticationError,
    MCPService,
    NotFoundError,
    PermissionDeniedError,
    ServiceNotInitializedError,
    SessionClosedError,
    ToolTimeoutError,
    UnknownPermissionError,
    UnknownTierError,
    ValidationError,
)
from mcp_service.limits import DEFAULT_LIMITS, Limits, TierLimits
from mcp_service.models import Session as SessionRow
from mcp_service.permissions import Permission
from mcp_service.snapshots import ExecutionRecord, SessionInfo
from mcp_service.tools import Tool, ToolContext
from tests.integration.conftest import (
    database_contains,
    fetch_all,
    fetch_value,
    make_settings,
    stored_json,
)
from tests.toolkit import Step, result_of, until

pytestmark = pytest.mark.integration

BUILTIN_TOOL_NAMES = [
    "analyze_workload",
    "analyze_workload_batches",
    "corpus_add",
    "corpus_search",
    "echo",
    "list_executions",
    "revoke_client",
]
# Spelled out here, not imported: the test must fail if the mapping in the code drifts.
EXPECTED_ACCESS = {
    "admin": {"read": True, "execute": True, "write": True, "admin": True},
    "basic": {"read": True, "execute": True, "write": True, "admin": False},
    "readonly": {"read": True, "execute": False, "write": False, "admin": False},
}


async def executions_for(raw_db: AsyncEngine, client_id: str) -> list[Any]:
    return await fetch_all(
        raw_db,
        "SELECT tool_name, status, session_id, error_message FROM tool_executions "
        "WHERE client_id = :c ORDER BY started_at",
        c=client_id,
    )


class TestMCPServiceRealisticIntegration:
    @pytest.mark.critical_path("registration")
    async def test_realistic_client_registration_with_database_persistence(
        self, service: MCPService, raw_db: AsyncEngine, database_url: str, tag: str, step: Step
    ) -> None:
        registered = await service.register_client(
            f"{tag} Acme", "basic", client_type="ide", metadata={"team": "platform"}
        )
        step(f"Successfully registered client: {registered.client_id}")

        rows = await fetch_all(
            raw_db,
            "SELECT name, client_type, tier, permissions, api_key_id, api_key_hash, "
            "revoked_at FROM clients WHERE id = :id",
            id=registered.client_id,
        )
        assert len(rows) == 1
        name, client_type, tier, permissions, key_id, key_hash, revoked_at = rows[0]
        assert (name, client_type, tier, revoked_at) == (f"{tag} Acme", "ide", "basic", None)
        assert sorted(stored_json(permissions)) == ["execute", "read", "write"]
        assert registered.api_key.startswith(f"mcp_{key_id}_")
        assert key_hash.startswith("$pbkdf2-sha256$")
        assert registered.api_key not in key_hash
        assert CryptContext(schemes=["pbkdf2_sha256"]).verify(registered.api_key, key_hash)
        step("API key stored only as a salted pbkdf2-sha256 hash")
        assert registered.client.created_at.tzinfo is not None
        step("Database persistence verified from an independent connection")

        # Salted: the same hashing of two keys never shares a salt or a digest.
        batch = await asyncio.gather(
            *(service.register_client(f"{tag} worker {i}", "readonly") for i in range(100))
        )
        stored = await fetch_all(
            raw_db,
            "SELECT id, api_key_id, api_key_hash FROM clients WHERE name LIKE :p",
            p=f"{tag} worker %",
        )
        assert len(stored) == 100
        assert len({r.api_key_hash for r in stored}) == 100
        assert len({r.api_key_hash.split("$")[3] for r in stored}) == 100  # 100 distinct salts
        assert len({r.api_key_id for r in stored}) == 100
        assert {r.id for r in stored} == {b.client_id for b in batch}
        step("Concurrent registrations: 100/100 rows, 100 distinct hashes and salts")

        authenticated = await asyncio.gather(
            *(service.clients.authenticate(b.api_key) for b in batch)
        )
        assert [a.client_id for a in authenticated] == [b.client_id for b in batch]
        step("Every one of the 100 keys verifies to its own client")

        for key in [registered.api_key, *(b.api_key for b in batch[:5])]:
            assert not await database_contains(raw_db, database_url, key)
            assert not await database_contains(raw_db, database_url, key.split("_", 2)[2])
        step("No plaintext key or key secret anywhere in the database file")

        with pytest.raises(UnknownTierError, match="unknown tier 'superuser'"):
            await service.register_client(f"{tag} bad tier", "superuser")
        assert (
            await fetch_value(
                raw_db, "SELECT count(*) FROM clients WHERE name = :n", n=f"{tag} bad tier"
            )
            == 0
        )
        step("Invalid registration rejected without leaving a row")

    @pytest.mark.critical_path("permissions")
    async def test_realistic_permission_validation_with_real_auth(
        self, service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
    ) -> None:
        clients = {
            tier: await service.register_client(f"{tag} {tier}", tier)
            for tier in ("admin", "basic", "readonly")
        }
        for tier, registered in clients.items():
            for permission, allowed in EXPECTED_ACCESS[tier].items():
                if allowed:
                    info = await service.validate_client_access(registered.api_key, permission)
                    assert info.client_id == registered.client_id
                else:
                    with pytest.raises(PermissionDeniedError, match=permission):
                        await service.validate_client_access(registered.api_key, permission)
            step(f"{tier.capitalize()} client permissions validated")

        with pytest.raises(UnknownPermissionError, match="unknown permission 'delete'"):
            await service.validate_client_access(clients["admin"].api_key, "delete")
        step("Unknown permission is an error, not a silent False")

        admin_key = clients["admin"].api_key
        forged = admin_key[:-4] + ("AAAA" if not admin_key.endswith("AAAA") else "BBBB")
        unknown_id = "mcp_0000000000000000_" + admin_key.split("_", 2)[2]
        # Not only strings: a caller's None or number must be refused the same way.
        bad_keys: tuple[Any, ...] = (forged, unknown_id, "", "not-a-key", None, 12345)
        for bad in bad_keys:
            with pytest.raises(AuthenticationError) as caught:
                await service.validate_client_access(bad)
            assert str(caught.value) == "invalid API key"
        step("Wrong, forged, unknown and malformed keys rejected without echoing them")

        before = datetime.now(UTC)
        info = await service.validate_client_access(clients["basic"].api_key)
        last_active = await fetch_value(
            raw_db, "SELECT last_active_at FROM clients WHERE id = :id", id=info.client_id
        )
        assert last_active is not None
        stored = (await service.clients.get(info.client_id)).last_active_at
        assert stored is not None and stored.tzinfo is not None
        assert before <= stored <= datetime.now(UTC)
        step("Client activity tracked with a timezone-aware timestamp")

        results = await asyncio.gather(
            *(service.validate_client_access(clients["basic"].api_key, "write") for _ in range(50))
        )
        assert {r.client_id for r in results} == {clients["basic"].client_id}
        assert len(results) == 50
        step("Concurrent validations: 50/50 succeeded")

        assert await service.revoke_client(clients["basic"].client_id) is True
        assert await service.revoke_client(clients["basic"].client_id) is False
        with pytest.raises(AuthenticationError, match="revoked"):
            await service.validate_client_access(clients["basic"].api_key)
        step("Revoked key refused on the very next request")

    @pytest.mark.critical_path("sessions")
    async def test_realistic_session_lifecycle_management(
        self, service: MCPService, raw_db: AsyncEngine, database_url: str, tag: str, step: Step
    ) -> None:
        client = (await service.register_client(f"{tag} sessions", "basic")).client
        sessions = [
            await service.create_session(client.client_id, {"purpose": f"s{i}"}) for i in range(3)
        ]
        step(f"Created {len(sessions)} sessions")
        for i, session in enumerate(sessions):
            fetched = await service.get_session(session.session_id)
            assert (fetched.status, fetched.request_count, fetched.client_id) == (
                "open",
                0,
                client.client_id,
            )
            assert fetched.metadata == {"purpose": f"s{i}"}
            assert fetched.created_at.tzinfo is UTC and fetched.closed_at is None
        step("Session rows validated from the database")

        first = sessions[0]
        touched = await service.update_session_activity(first.session_id)
        assert touched.request_count == 1
        assert touched.last_activity_at >= first.last_activity_at
        await asyncio.gather(
            *(service.update_session_activity(first.session_id) for _ in range(200))
        )
        count = await fetch_value(
            raw_db, "SELECT request_count FROM sessions WHERE id = :id", id=first.session_id
        )
        assert count == 201
        step("Activity tracking: 200 concurrent touches, request count exactly 201")

        created = await asyncio.gather(
            *(service.create_session(client.client_id) for _ in range(5))
        )
        assert len({s.session_id for s in created}) == 5
        step("Concurrent operations: 5 new sessions created")

        assert await service.close_session(first.session_id) is True
        assert await service.close_session(first.session_id) is False
        closed = await service.get_session(first.session_id)
        assert closed.status == "closed" and closed.closed_at is not None
        with pytest.raises(SessionClosedError):
            await service.update_session_activity(first.session_id)
        step("Close is idempotent and a closed session takes no more requests")

        # Expiry: backdate exactly two sessions; exactly those two expire.
        stale = [sessions[1].session_id, created[0].session_id]
        async with raw_db.begin() as conn:
            await conn.execute(
                update(SessionRow)
                .where(SessionRow.id.in_(stale))
                .values(last_activity_at=datetime.now(UTC) - timedelta(hours=2))
            )
        expired = await service.cleanup_inactive_sessions(idle_timeout=600)
        ours = {s.session_id for s in [*sessions, *created]}
        assert set(expired) & ours == set(stale)
        statuses = dict(
            await fetch_all(
                raw_db, "SELECT id, status FROM sessions WHERE client_id = :c", c=client.client_id
            )
        )
        assert sorted(k for k, v in statuses.items() if v == "expired") == sorted(stale)
        assert sum(1 for v in statuses.values() if v == "open") == 5
        step(f"Session cleanup: {len(stale)} inactive sessions expired, 5 still open")

        with pytest.raises(NotFoundError):
            await service.create_session("no-such-client")
        await service.revoke_client(client.client_id)
        assert (
            await fetch_value(
                raw_db,
                "SELECT count(*) FROM sessions WHERE client_id = :c AND status = 'open'",
                c=client.client_id,
            )
            == 0
        )
        with pytest.raises(ValidationError, match="revoked"):
            await service.create_session(client.client_id)
        step("Revoking a client closed its sessions; no new session for it")

        # The periodic task expires idle sessions while the service runs.
        quick = MCPService(
            make_settings(database_url, session_idle_timeout=0.2, expiry_interval=0.05)
        )
        await quick.initialize()
        try:
            other = (await quick.register_client(f"{tag} idle", "readonly")).client
            idle = await quick.create_session(other.client_id)

            async def idle_expired() -> bool:
                return (await quick.get_session(idle.session_id)).status == "expired"

            await until(idle_expired, "the idle session to expire")
        finally:
            await quick.shutdown()
        step("Background expiry task expired an idle session")

    @pytest.mark.critical_path("tools")
    async def test_realistic_tool_execution_pipeline(
        self, service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
    ) -> None:
        basic = (await service.register_client(f"{tag} basic", "basic")).client
        reader = (await service.register_client(f"{tag} reader", "readonly")).client
        session = await service.create_session(basic.client_id)
        reader_session = await service.create_session(reader.client_id)

        echo = await service.execute_tool(
            session.session_id, "echo", {"message": "héllo"}, client_id=basic.client_id
        )
        assert echo.status == "success"
        assert echo.result == {"message": "héllo", "length": 5}
        row = (
            await fetch_all(
                raw_db,
                "SELECT tool_name, status, arguments, result, duration_ms, started_at, "
                "finished_at, session_id FROM tool_executions WHERE id = :id",
                id=echo.execution_id,
            )
        )[0]
        assert (row.tool_name, row.status, row.session_id) == (
            "echo",
            "success",
            session.session_id,
        )
        assert stored_json(row.arguments) == {"message": "héllo"}
        assert row.duration_ms >= 0 and echo.started_at <= echo.finished_at
        step("echo executed and recorded in the database")

        samples = [{"latency_ms": float(i), "cost": 0.25} for i in range(1, 101)]
        stats = await service.execute_tool(
            session.session_id, "analyze_workload", {"samples": samples}, client_id=basic.client_id
        )
        assert stats.result == {
            "count": 100,
            "mean_latency_ms": 50.5,
            "p50_latency_ms": 50.5,
            "p95_latency_ms": pytest.approx(95.05),
            "p99_latency_ms": pytest.approx(99.01),
            "max_latency_ms": 100.0,
            "total_cost": 25.0,
        }
        step("analyze_workload computed exact percentiles over 100 samples")

        docs = {
            title: await service.execute_tool(
                session.session_id,
                "corpus_add",
                {"title": title, "body": body},
                client_id=basic.client_id,
            )
            for title, body in [
                ("Rate limits", "The gateway enforces token bucket rate limits per client."),
                ("Retries", "Clients retry idempotent calls with exponential backoff."),
                ("Buckets", "A storage bucket holds artifacts, not tokens."),
            ]
        }
        found = await service.execute_tool(
            session.session_id,
            "corpus_search",
            {"query": "token bucket"},
            client_id=basic.client_id,
        )
        assert result_of(found)["total"] == 1
        assert [r["document_id"] for r in result_of(found)["results"]] == [
            result_of(docs["Rate limits"])["document_id"]
        ]
        none = await service.execute_tool(
            session.session_id, "corpus_search", {"query": "kubernetes"}, client_id=basic.client_id
        )
        assert result_of(none)["total"] == 0 and result_of(none)["results"] == []
        elsewhere = await service.execute_tool(
            reader_session.session_id,
            "corpus_search",
            {"query": "token"},
            client_id=reader.client_id,
        )
        assert result_of(elsewhere)["total"] == 0
        step("corpus_add stored 3 documents; corpus_search found exactly one match, for its owner")

        denied_before = await fetch_value(
            raw_db, "SELECT count(*) FROM documents WHERE client_id = :c", c=reader.client_id
        )
        with pytest.raises(PermissionDeniedError) as caught:
            await service.execute_tool(
                reader_session.session_id,
                "corpus_add",
                {"title": "x", "body": "y"},
                client_id=reader.client_id,
            )
        assert caught.value.execution_id is not None
        assert (
            await fetch_value(
                raw_db, "SELECT count(*) FROM documents WHERE client_id = :c", c=reader.client_id
            )
            == denied_before
            == 0
        )
        step("Readonly client denied a write tool; nothing written")

        with pytest.raises(ValidationError, match="message"):
            await service.execute_tool(
                session.session_id, "echo", {"message": 42}, client_id=basic.client_id
            )
        with pytest.raises(NotFoundError, match="unknown tool 'nope'"):
            await service.execute_tool(session.session_id, "nope", {}, client_id=basic.client_id)
        step("Invalid arguments and unknown tools rejected and recorded")

        listed = await service.execute_tool(
            session.session_id, "list_executions", {"limit": 100}, client_id=basic.client_id
        )
        tools_listed = [e["tool"] for e in result_of(listed)["executions"]]
        assert tools_listed == [
            "nope",
            "echo",
            "corpus_search",
            "corpus_search",
            "corpus_add",
            "corpus_add",
            "corpus_add",
            "analyze_workload",
            "echo",
        ]
        step("list_executions returned the caller's 9 earlier executions, newest first")

        rows = await executions_for(raw_db, basic.client_id)
        assert [(r.tool_name, r.status) for r in rows] == [
            ("echo", "success"),
            ("analyze_workload", "success"),
            ("corpus_add", "success"),
            ("corpus_add", "success"),
            ("corpus_add", "success"),
            ("corpus_search", "success"),
            ("corpus_search", "success"),
            ("echo", "error"),
            ("nope", "error"),
            ("list_executions", "success"),
        ]
        assert [
            (r.tool_name, r.status) for r in await executions_for(raw_db, reader.client_id)
        ] == [
            ("corpus_search", "success"),
            ("corpus_add", "denied"),
        ]
        assert (await service.get_session(session.session_id)).request_count == 10
        assert (await service.get_session(reader_session.session_id)).request_count == 2
        step("One execution row per call, denied and failed included; request counts 10 and 2")

        async def slow(_ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(args["seconds"])
            return {"slept": args["seconds"]}

        service.tools.register(
            Tool(
                name=f"sleep_{tag}",
                description="Sleep for a while.",
                input_schema={
                    "type": "object",
                    "properties": {"seconds": {"type": "number", "minimum": 0}},
                    "required": ["seconds"],
                    "additionalProperties": False,
                },
                permission=Permission.READ,
                handler=slow,
            )
        )
        with pytest.raises(ToolTimeoutError, match=r"timed out after 0\.05 s"):
            await service.execute_tool(
                session.session_id,
                f"sleep_{tag}",
                {"seconds": 5},
                client_id=basic.client_id,
                timeout=0.05,
            )
        last = (await executions_for(raw_db, basic.client_id))[-1]
        assert (last.tool_name, last.status) == (f"sleep_{tag}", "timeout")
        step("A tool past its timeout was cancelled and recorded as timeout")

    @pytest.mark.critical_path("lifecycle")
    async def test_realistic_service_initialization_and_stability(
        self, tmp_path: Path, step: Step
    ) -> None:
        # Its own fresh file: schema creation from nothing, and exact session counts.
        url = f"sqlite+aiosqlite:///{tmp_path / 'lifecycle.db'}"
        service = MCPService(make_settings(url))
        with pytest.raises(ServiceNotInitializedError):
            await service.register_client("early", "basic")
        await service.initialize()
        await service.initialize()  # a second call is a no-op
        step("Service initialized on a new database file")

        info = await service.get_server_info()
        assert info["name"] == "mcp-service"
        assert info["version"] == mcp_service.__version__
        assert info["active_sessions"] == 0
        assert [t["name"] for t in info["tools"]] == BUILTIN_TOOL_NAMES
        for tool in info["tools"]:
            assert tool["input_schema"]["type"] == "object"
            assert tool["permission"] in {"read", "execute", "write", "admin"}
        step(f"Server info lists the {len(info['tools'])} real tools with their schemas")

        registered = await service.register_client("lifecycle", "basic")
        sessions = [await service.create_session(registered.client_id) for _ in range(2)]
        assert (await service.get_server_info())["active_sessions"] == 2

        await service.shutdown()
        await service.shutdown()  # safe twice
        with pytest.raises(ServiceNotInitializedError):
            await service.get_session(sessions[0].session_id)
        step("Shutdown is safe twice; calls after it get a clear error")

        await service.initialize()
        for session in sessions:
            assert (await service.get_session(session.session_id)).status == "closed"
        assert (await service.get_server_info())["active_sessions"] == 0
        again = await service.validate_client_access(registered.api_key, "write")
        assert again.client_id == registered.client_id
        step("Reinitialized: sessions were closed by shutdown, clients and keys persisted")

        # A second service on the same file sees the same data (another process would too).
        other = MCPService(make_settings(url))
        await other.initialize()
        try:
            assert (await other.clients.get(registered.client_id)).name == "lifecycle"
        finally:
            await other.shutdown()
            await service.shutdown()
        step("A second service instance reads the same persisted state")

    @pytest.mark.critical_path("end_to_end")
    async def test_realistic_end_to_end_user_scenario(
        self, service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
    ) -> None:
        registered = await service.register_client(
            f"{tag} Enterprise Co", "admin", client_type="enterprise", metadata={"seats": 250}
        )
        step(f"Enterprise client registered: {registered.client_id}")
        client = await service.validate_client_access(registered.api_key, "write")
        session = await service.create_session(client.client_id, {"user": "ops@enterprise"})
        step(f"User session created: {session.session_id}")

        def call(tool: str, args: dict[str, Any]) -> Coroutine[Any, Any, ExecutionRecord]:
            return service.execute_tool(session.session_id, tool, args, client_id=client.client_id)

        await call(
            "corpus_add", {"title": "Runbook", "body": "Restart the ingest worker on lag alerts."}
        )
        await call("corpus_add", {"title": "SLO", "body": "p99 latency under 250 ms for ingest."})
        hits = result_of(await call("corpus_search", {"query": "ingest latency"}))
        assert [r["title"] for r in hits["results"]] == ["SLO"]
        report = result_of(
            await call(
                "analyze_workload",
                {"samples": [{"latency_ms": v, "cost": 0.01} for v in (120, 180, 240, 260, 90)]},
            )
        )
        assert report["max_latency_ms"] == 260 and report["count"] == 5
        assert report["total_cost"] == pytest.approx(0.05)
        history = result_of(await call("list_executions", {"limit": 10}))
        assert len(history["executions"]) == 4
        await call("echo", {"message": "done"})
        step("Workflow execution recorded in database")

        finished = await service.get_session(session.session_id)
        assert finished.request_count == 6
        assert (
            await fetch_value(
                raw_db,
                "SELECT count(*) FROM tool_executions WHERE session_id = :s AND status = 'success'",
                s=session.session_id,
            )
            == 6
        )
        step(f"Session processed {finished.request_count} requests")

        active = (await service.clients.get(client.client_id)).last_active_at
        assert active is not None and active >= finished.created_at
        step("Client activity updated")

        assert await service.close_session(session.session_id) is True
        with pytest.raises(SessionClosedError):
            await call("echo", {"message": "after close"})
        rows = await executions_for(raw_db, client.client_id)
        assert [r.status for r in rows] == ["success"] * 6 + ["denied"]
        assert (await service.get_session(session.session_id)).request_count == 6
        step("Session properly closed; a late call was denied and recorded")

    @pytest.mark.critical_path("resilience")
    async def test_realistic_error_handling_and_resilience(
        self, service: MCPService, raw_db: AsyncEngine, tag: str, step: Step
    ) -> None:
        bad_registrations: list[tuple[Any, Any, type[Exception]]] = [
            ("", "basic", ValidationError),
            ("   ", "basic", ValidationError),
            ("x" * 10_000, "basic", ValidationError),
            (None, "basic", ValidationError),
            (12345, "basic", ValidationError),
            ("line\nbreak", "basic", ValidationError),
            ("ok name", "root", UnknownTierError),
            ("ok name", None, UnknownTierError),
        ]
        for name, tier, error in bad_registrations:
            with pytest.raises(error):
                await service.register_client(name, tier, client_type=tag)
        with pytest.raises(ValidationError, match="metadata"):
            # A list where an object belongs, on purpose: the type says no, the service too.
            bad: Any = ["no"]
            await service.register_client("ok name", "basic", client_type=tag, metadata=bad)
        with pytest.raises(ValidationError, match="JSON"):
            await service.register_client(
                "ok name", "basic", client_type=tag, metadata={"x": float("nan")}
            )
        assert (
            await fetch_value(raw_db, "SELECT count(*) FROM clients WHERE client_type = :t", t=tag)
            == 0
        )
        step(f"{len(bad_registrations) + 2} bad registrations rejected; no partial rows")

        injection = f"Robert'); DROP TABLE clients;-- {tag}"
        unicode_name = f"客户 🚀 Ünïcødé {tag}"
        evil = await service.register_client(injection, "basic")
        nice = await service.register_client(unicode_name, "basic")
        assert (await service.clients.get(evil.client_id)).name == injection
        assert (await service.clients.get(nice.client_id)).name == unicode_name
        assert (
            await fetch_value(
                raw_db, "SELECT count(*) FROM clients WHERE id = :i", i=evil.client_id
            )
            == 1
        )
        step("SQL-injection-looking and unicode names stored literally")

        session = await service.create_session(evil.client_id)

        def call(tool: str, args: Any) -> Coroutine[Any, Any, ExecutionRecord]:
            return service.execute_tool(session.session_id, tool, args, client_id=evil.client_id)

        await call("corpus_add", {"title": injection, "body": '\' OR 1=1 -- "quoted" NEAR(a b)'})
        literal = result_of(await call("corpus_search", {"query": "' OR 1=1 --"}))
        assert literal["total"] == 1
        assert literal["results"][0]["title"] == injection
        step("Search treats quotes and operators as literal words")

        bad_calls: list[tuple[str, Any]] = [
            ("echo", {}),
            ("echo", {"message": "x" * 10_001}),
            ("echo", {"message": "hi", "extra": 1}),
            ("echo", ["not", "an", "object"]),
            ("analyze_workload", {"samples": []}),
            ("analyze_workload", {"samples": [{"latency_ms": -1}]}),
            ("analyze_workload", {"samples": [{"latency_ms": "fast"}]}),
            ("analyze_workload", {"samples": [{"latency_ms": float("nan")}]}),
            ("corpus_add", {"title": "", "body": "b"}),
            ("corpus_search", {"query": "!!! ???"}),
            ("list_executions", {"limit": 0}),
            ("list_executions", {"status": "exploded"}),
            ("revoke_client", {"client_id": "x"}),
        ]
        for tool, args in bad_calls:
            with pytest.raises((ValidationError, PermissionDeniedError)):
                await call(tool, args)
        rows = await executions_for(raw_db, evil.client_id)
        assert [r.status for r in rows] == ["success", "success"] + ["error"] * 12 + ["denied"]
        assert (
            await fetch_value(
                raw_db, "SELECT count(*) FROM documents WHERE client_id = :c", c=evil.client_id
            )
            == 1
        )
        step(f"{len(bad_calls)} bad tool calls rejected, each recorded once, nothing half-written")

        async def write_then_fail(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
            await mcp_service.tools.corpus.corpus_add(ctx, {"title": "half", "body": "written"})
            raise RuntimeError("disk on fire")

        service.tools.register(
            Tool(
                name=f"fail_{tag}",
                description="Writes, then fails.",
                input_schema={"type": "object", "properties": {}, "additionalProperties": False},
                permission=Permission.WRITE,
                handler=write_then_fail,
                writes=True,
            )
        )
        with pytest.raises(mcp_service.ToolExecutionError, match="RuntimeError: disk on fire"):
            await call(f"fail_{tag}", {})
        assert (
            await fetch_value(
                raw_db,
                "SELECT count(*) FROM documents WHERE client_id = :c AND title = 'half'",
                c=evil.client_id,
            )
            == 0
        )
        assert (await executions_for(raw_db, evil.client_id))[-1].status == "error"
        step("A failing write tool rolled back its writes and was recorded as error")

        ok = await call("echo", {"message": "still alive"})
        assert ok.status == "success"
        assert (await service.get_session(session.session_id)).request_count == 17
        step("Service keeps serving after every failure; request count exactly 17")

        stranger = (await service.register_client(f"{tag} stranger", "admin")).client
        with pytest.raises(PermissionDeniedError, match="does not belong"):
            await service.execute_tool(
                session.session_id, "echo", {"message": "hi"}, client_id=stranger.client_id
            )
        with pytest.raises(NotFoundError, match="session 'missing' not found"):
            await service.execute_tool(
                "missing", "echo", {"message": "hi"}, client_id=stranger.client_id
            )
        assert [
            (r.status, r.session_id) for r in await executions_for(raw_db, stranger.client_id)
        ] == [
            ("denied", None),
            ("denied", None),
        ]
        with pytest.raises(NotFoundError):
            await service.execute_tool(
                session.session_id, "echo", {"message": "hi"}, client_id="ghost"
            )
        step("Foreign and missing sessions denied; an unknown caller is refused")

    @pytest.mark.critical_path("resilience")
    async def test_realistic_concurrent_operations_stress(
        self, database_url: str, raw_db: AsyncEngine, tag: str, step: Step
    ) -> None:
        # A deployment sized for this load: each client sends 50 calls at once, over the
        # default basic tier's 16 in flight and burst of 100 (tests/adversarial covers those).
        busy = TierLimits(calls_per_second=1000, burst=1000, in_flight=64, sessions=64)
        service = MCPService(
            make_settings(database_url, limits=Limits({**DEFAULT_LIMITS, "basic": busy}))
        )
        await service.initialize()
        try:
            await self._stress(service, raw_db, tag, step)
        finally:
            await service.shutdown()

    async def _stress(self, service: MCPService, raw_db: AsyncEngine, tag: str, step: Step) -> None:
        clients = await asyncio.gather(
            *(service.register_client(f"{tag} load {i}", "basic") for i in range(10))
        )
        sessions = await asyncio.gather(
            *(service.create_session(c.client_id) for c in clients for _ in range(5))
        )
        assert len({s.session_id for s in sessions}) == 50
        step("10 clients opened 50 sessions concurrently")

        def work(session: SessionInfo, i: int) -> Coroutine[Any, Any, ExecutionRecord]:
            args: dict[str, Any]
            kind = i % 4
            if kind == 0:
                tool, args = "echo", {"message": f"call {i}"}
            elif kind == 1:
                tool, args = "analyze_workload", {"samples": [{"latency_ms": i, "cost": 1}]}
            elif kind == 2:
                tool, args = "corpus_add", {"title": f"doc {i}", "body": f"stress body {i}"}
            else:
                tool, args = "corpus_search", {"query": "stress"}
            return service.execute_tool(session.session_id, tool, args, client_id=session.client_id)

        results = await asyncio.gather(
            *(work(sessions[i % 50], i) for i in range(500)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures == []
        step("500 concurrent tool calls over 50 sessions: 500/500 succeeded")

        ids = [s.session_id for s in sessions]
        placeholders = ", ".join(f":s{i}" for i in range(50))
        params = {f"s{i}": sid for i, sid in enumerate(ids)}
        assert (
            await fetch_value(
                raw_db,
                f"SELECT count(*) FROM tool_executions WHERE session_id IN ({placeholders})",
                **params,
            )
            == 500
        )
        counts = await fetch_all(
            raw_db, f"SELECT request_count FROM sessions WHERE id IN ({placeholders})", **params
        )
        assert sorted(c[0] for c in counts) == [10] * 50
        assert (
            await fetch_value(
                raw_db,
                "SELECT count(*) FROM documents d JOIN clients c ON c.id = d.client_id "
                "WHERE c.name LIKE :p",
                p=f"{tag} load %",
            )
            == 125
        )
        step("Exactly 500 execution rows, 125 documents, every session at exactly 10 requests")


class TestMCPServiceModuleFunctionsRealistic:
    """The module-level API, on a fresh database file so session counts are exact."""

    @pytest.fixture
    async def module_db(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> AsyncIterator[tuple[str, AsyncEngine]]:
        url = f"sqlite+aiosqlite:///{tmp_path / 'module.db'}"
        monkeypatch.setenv("MCP_DATABASE_URL", url)
        await mcp_service.shutdown_mcp_service()
        engine = create_async_engine(url)
        yield url, engine
        await mcp_service.shutdown_mcp_service()
        await engine.dispose()

    @pytest.mark.critical_path("lifecycle")
    async def test_get_mcp_service_is_one_process_wide_instance(
        self, module_db: tuple[str, AsyncEngine], step: Step
    ) -> None:
        first = mcp_service.get_mcp_service()
        assert mcp_service.get_mcp_service() is first
        assert first.settings.database_url == module_db[0]
        await mcp_service.shutdown_mcp_service()
        assert mcp_service.get_mcp_service() is not first
        step("get_mcp_service() returns one instance configured from MCP_DATABASE_URL")

    @pytest.mark.critical_path("lifecycle")
    async def test_module_get_server_info_reports_the_live_service(
        self, module_db: tuple[str, AsyncEngine], step: Step
    ) -> None:
        info = await mcp_service.get_server_info()
        service = mcp_service.get_mcp_service()
        assert service.is_initialized
        assert [t["name"] for t in info["tools"]] == BUILTIN_TOOL_NAMES
        assert info["active_sessions"] == 0
        registered = await service.register_client("module info", "readonly")
        await service.create_session(registered.client_id)
        await service.create_session(registered.client_id)
        assert (await mcp_service.get_server_info())["active_sessions"] == 2
        step("Module-level get_server_info() reports the live service: 0, then 2 sessions")

    @pytest.mark.critical_path("tools")
    async def test_module_execute_tool_runs_the_real_pipeline(
        self, module_db: tuple[str, AsyncEngine], step: Step
    ) -> None:
        service = mcp_service.get_mcp_service()
        await service.initialize()
        registered = await service.register_client("module exec", "basic")
        session = await service.create_session(registered.client_id)
        record = await mcp_service.execute_tool(
            session.session_id, "echo", {"message": "via module"}, client_id=registered.client_id
        )
        assert record.result == {"message": "via module", "length": 10}
        with pytest.raises(PermissionDeniedError):
            await mcp_service.execute_tool(
                session.session_id,
                "revoke_client",
                {"client_id": "x"},
                client_id=registered.client_id,
            )
        rows = await executions_for(module_db[1], registered.client_id)
        assert [(r.tool_name, r.status) for r in rows] == [
            ("echo", "success"),
            ("revoke_client", "denied"),
        ]
        step("Module-level execute_tool() ran and recorded real executions")
