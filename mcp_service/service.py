"""MCPService: the facade the protocol front, the CLI and the tests all use.

Module-level `get_server_info()` and `execute_tool()` delegate to one
process-wide instance; nothing here returns canned data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from mcp_types.version import LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS

from mcp_service._version import __version__
from mcp_service.change_bus import Change, ChangeBus, LocalChangeBus
from mcp_service.clients import ClientRegistry
from mcp_service.config import Settings
from mcp_service.db import Database
from mcp_service.errors import ServiceNotInitializedError
from mcp_service.failures import describe_failure
from mcp_service.group_commit import Entry
from mcp_service.permissions import Permission, Tier, require_permission
from mcp_service.pipeline import ToolPipeline
from mcp_service.resources import ResourceReader, changes_of_calls, changes_of_write
from mcp_service.security import ApiKeyHasher
from mcp_service.session_store import SessionStore
from mcp_service.snapshots import ClientInfo, ExecutionRecord, RegisteredClient, SessionInfo
from mcp_service.tools import ToolRegistry, default_registry
from mcp_service.tools.registry import SILENT, ToolReporter

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from mcp_service.change_feed import ChangeFeed
    from mcp_service.session_liveness import SessionLiveness
    from mcp_service.shared_limits import RedisCallLimiter

SERVER_NAME = "mcp-service"

log = logging.getLogger(__name__)
_C = TypeVar("_C")


class MCPService:
    def __init__(
        self,
        settings: Settings | None = None,
        tools: ToolRegistry | None = None,
        hasher: ApiKeyHasher | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.tools = tools or default_registry(self.settings.tool_modules)
        self.hasher = hasher or ApiKeyHasher()
        self._db: Database | None = None
        self._clients: ClientRegistry | None = None
        self._sessions: SessionStore | None = None
        self._pipeline: ToolPipeline | None = None
        self._expiry_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._on_database_lost: list[Callable[[], object]] = []
        self._redis: Redis | None = None
        self.shared_limiter: RedisCallLimiter | None = None
        self._feed: ChangeFeed | None = None
        self._liveness: SessionLiveness | None = None
        # Who is told of committed changes to a client's resources (Redis when configured).
        self.changes: ChangeBus = LocalChangeBus()
        self._resources: ResourceReader | None = None

    # -- lifecycle -------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        return self._db is not None

    async def initialize(self) -> None:
        """Connect, check the schema (migrating a new SQLite file) and start the expiry task.

        A second call is a no-op.
        """
        async with self._lock:
            if self._db is not None:
                return
            db = Database(self.settings)
            try:
                await db.prepare_schema()
            except BaseException:
                await db.dispose()
                raise
            if self.settings.redis_url is not None:
                try:
                    await self._connect_redis(self.settings.redis_url)
                except BaseException:
                    await db.dispose()
                    raise
            if self._feed is not None:
                db.on_commit.append(self._feed.notice)
            if db.identity is not None:
                db.identity.on_lost.extend(self._on_database_lost)
            self._db = db
            self._clients = ClientRegistry(db, self.hasher)
            self._sessions = SessionStore(db, self.settings.session_idle_timeout, self._liveness)
            self._pipeline = ToolPipeline(db, self.tools, self.settings.tool_timeout, self)
            self._pipeline.recorder.on_committed = self._announce_calls
            self._resources = ResourceReader(db)
            self._expiry_task = asyncio.create_task(self._expire_periodically(), name="mcp-expiry")

    async def _connect_redis(self, url: str) -> None:
        # Imported only when configured: a service without Redis never loads the client.
        from mcp_service.change_feed import ChangeFeed
        from mcp_service.redis_link import connect
        from mcp_service.session_liveness import SessionLiveness
        from mcp_service.shared_limits import RedisCallLimiter

        self._redis = await connect(url)
        self.shared_limiter = RedisCallLimiter(
            self.settings.limits, self._redis, self.settings.tool_timeout
        )
        self._feed = ChangeFeed(self._redis)
        self._liveness = SessionLiveness(self._redis)
        from mcp_service.change_bus import RedisChangeBus

        self.changes = RedisChangeBus(await connect(url))
        await self.changes.start()

    def on_database_lost(self, callback: Callable[[], object]) -> None:
        """Call `callback` once if the SQLite file is deleted or replaced (db.FileIdentity)."""
        self._on_database_lost.append(callback)
        if self._db is not None and self._db.identity is not None:
            self._db.identity.on_lost.append(callback)

    async def shutdown(self) -> None:
        """Close the sessions it opened, stop background work, dispose the engine.

        Recordings still in flight commit first, so every row counted against a
        session is counted before the session closes. Safe to call twice;
        initialize() afterwards works again.
        """
        async with self._lock:
            if self._db is None:
                return
            if self._expiry_task is not None:
                self._expiry_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._expiry_task
            try:
                assert self._sessions is not None and self._pipeline is not None
                await self._pipeline.recorder.wait_idle()
                if self._db.identity is None or not self._db.identity.lost:
                    await self._close_opened_sessions()
            finally:
                await self._db.dispose()
                self._db = self._clients = self._sessions = self._pipeline = None
                self._resources = None
                await self.changes.close()
                self.changes = LocalChangeBus()
                self._expiry_task = None
                await self._close_redis()

    async def _close_redis(self) -> None:
        if self.shared_limiter is not None:
            await self.shared_limiter.wait_idle()
        if self._feed is not None:
            await self._feed.flush()
        if self._redis is not None:
            await self._redis.aclose()
        self._redis = self.shared_limiter = self._feed = self._liveness = None

    async def _close_opened_sessions(self) -> None:
        """Close this process's sessions; a database that fails now is logged, not raised:
        the rows expire by their own deadlines, and the shutdown goes on."""
        assert self._sessions is not None
        try:
            await self._sessions.close_opened()
        except Exception as exc:
            log.error(
                "closing this process's sessions at shutdown failed: %s", describe_failure(exc)
            )

    async def _expire_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expiry_interval)
            try:
                expired = await self.sessions.expire_idle()
                if expired:
                    log.info("expired %d idle sessions", len(expired))
            except Exception as exc:
                log.warning(
                    "session expiry failed (retrying next interval): %s", describe_failure(exc)
                )

    # -- components (raise a clear error before initialize) ----------------------

    @property
    def database(self) -> Database:
        return self._require(self._db)

    @property
    def clients(self) -> ClientRegistry:
        return self._require(self._clients)

    @property
    def sessions(self) -> SessionStore:
        return self._require(self._sessions)

    @property
    def pipeline(self) -> ToolPipeline:
        return self._require(self._pipeline)

    @property
    def session_liveness(self) -> SessionLiveness | None:
        """Sessions kept alive and counted in Redis (MCP_REDIS_URL), else None."""
        return self._liveness

    @property
    def resources(self) -> ResourceReader:
        return self._require(self._resources)

    @staticmethod
    def _require(component: _C | None) -> _C:
        if component is None:
            raise ServiceNotInitializedError("the service is not initialized: call initialize()")
        return component

    # -- information -------------------------------------------------------------

    async def get_server_info(self) -> dict[str, Any]:
        return {
            "name": SERVER_NAME,
            "version": __version__,
            "protocol_version": LATEST_PROTOCOL_VERSION,
            "protocol_versions": list(SUPPORTED_PROTOCOL_VERSIONS),
            # What `serve` answers initialize with (tests/integration/test_protocol_in_memory.py).
            "capabilities": {
                "tools": {"listChanged": False},
                "logging": {},
                "resources": {"subscribe": True, "listChanged": True},
            },
            "tiers": [t.value for t in Tier],
            "active_sessions": await self.sessions.count_open(),
            "tools": [tool.describe() for tool in self.tools],
        }

    # -- clients -------------------------------------------------------------

    async def register_client(
        self,
        name: str,
        tier: str,
        client_type: str = "generic",
        metadata: dict[str, Any] | None = None,
    ) -> RegisteredClient:
        return await self.clients.register(name, tier, client_type, metadata)

    async def validate_client_access(
        self, api_key: str, required_permission: str | Permission | None = None
    ) -> ClientInfo:
        """Authenticate a key (and check a permission); records the client as active."""
        client = await self.clients.authenticate(api_key)
        if required_permission is not None:
            require_permission(client.permissions, required_permission, who=client.client_id)
        await self.clients.touch(client.client_id)
        return client

    async def revoke_client(self, client_id: str) -> bool:
        return await self.clients.revoke(client_id)

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self, client_id: str, metadata: dict[str, Any] | None = None
    ) -> SessionInfo:
        return await self.sessions.create(client_id, metadata)

    async def get_session(self, session_id: str) -> SessionInfo:
        return await self.sessions.get(session_id)

    async def update_session_activity(self, session_id: str) -> SessionInfo:
        return await self.sessions.touch(session_id)

    async def close_session(self, session_id: str) -> bool:
        return await self.sessions.close(session_id)

    async def cleanup_inactive_sessions(self, idle_timeout: float | None = None) -> list[str]:
        return await self.sessions.expire_idle(idle_timeout)

    # -- tools ---------------------------------------------------------------

    async def execute_tool(
        self,
        session_id: str,
        tool_name: str,
        arguments: dict[str, Any] | None = None,
        *,
        client_id: str,
        timeout: float | None = None,
        reporter: ToolReporter = SILENT,
    ) -> ExecutionRecord:
        """Run one tool call through the pipeline; `reporter` receives its progress and logs."""
        record = await self.pipeline.execute(
            session_id,
            tool_name,
            arguments,
            client_id=client_id,
            timeout=timeout,
            reporter=reporter,
        )
        tool = self.tools.find(tool_name)
        if tool is not None and tool.writes:
            # Committed with the tool's own transaction, not by the recorder: announced here.
            await self._announce(changes_of_write(record.client_id, tool.name))
        return record

    async def _announce_calls(self, entries: Sequence[Entry]) -> None:
        """A batch of recorded calls committed: their clients' recent executions changed."""
        await self._announce(changes_of_calls(e.row["client_id"] for e in entries))

    async def _announce(self, changes: Sequence[Change]) -> None:
        try:
            await self.changes.publish(changes)
        except Exception as exc:  # an announcement never fails the call it follows
            log.warning("announcing resource changes failed: %s", describe_failure(exc))


_service: MCPService | None = None


def get_mcp_service() -> MCPService:
    """The process-wide service (settings from the environment at first use)."""
    global _service
    if _service is None:
        _service = MCPService()
    return _service


async def get_server_info() -> dict[str, Any]:
    service = get_mcp_service()
    await service.initialize()
    return await service.get_server_info()


async def execute_tool(
    session_id: str, tool_name: str, arguments: dict[str, Any] | None = None, *, client_id: str
) -> ExecutionRecord:
    service = get_mcp_service()
    await service.initialize()
    return await service.execute_tool(session_id, tool_name, arguments, client_id=client_id)


async def shutdown_mcp_service() -> None:
    """Shut the process-wide service down and forget it (it belongs to one event loop)."""
    global _service
    service, _service = _service, None
    if service is not None:
        await service.shutdown()
