"""Resources on the MCP front: a client's executions and documents, and their changes.

`resources/list`, `resources/templates/list` and `resources/read` answer for the
authenticated client of the request only (mcp_service/resources.py reads its rows): a
URI of another client's row is the same JSON-RPC error as a URI naming no row,
-32602 with `data: {"uri": …}` (what the SDK answers for a resource it does not have).

Changes come from the service's change bus (mcp_service/change_bus.py), which
delivers a client's changes to that client's listeners only:

- Handshake protocols: `resources/subscribe` (a URI the client can read) and
  `resources/unsubscribe`; a connection that subscribed or listed is sent
  `notifications/resources/updated` for its subscribed URIs and
  `notifications/resources/list_changed` when its client's list changes. A
  connection keeps at most MAX_SUBSCRIPTIONS URIs; pending notifications are one
  per URI (level triggers), sent in order by one task per connection.
- 2026-07-28: `subscriptions/listen`, the SDK's ListenHandler, on a bus view that
  holds only the listening client's changes. A filter naming another client's URI
  is acknowledged (as any URI is) and never fires. A client holds at most
  MAX_LISTENS_PER_CLIENT streams open on one process (the SDK's cap is for all).

The tool list is fixed while a server runs: `tools/list_changed` is never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import (
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
)
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    EmptyResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_service.change_bus import Change
from mcp_service.errors import NotFoundError
from mcp_service.failures import describe_failure
from mcp_service.protocol.session_router import SessionRouter, connection_of
from mcp_service.resources import (
    DOCUMENT_TEMPLATE,
    DOCUMENTS_URI,
    EXECUTION_TEMPLATE,
    RECENT_EXECUTIONS,
    RECENT_EXECUTIONS_URI,
)
from mcp_service.service import MCPService

log = logging.getLogger(__name__)

JSON = "application/json"
MAX_SUBSCRIPTIONS = 100  # URIs one handshake connection may subscribe to
# Listen streams one client may hold open on one server process: the SDK's ListenHandler
# bounds them all together (1024), and one client must not take every place.
MAX_LISTENS_PER_CLIENT = 16
_WATCH_KEY = "mcp_service.resource_watch"  # in the connection's state
_LIST = object()  # a pending list_changed, beside pending URIs
_T = TypeVar("_T")

STATIC = [
    Resource(
        name="recent-executions",
        uri=RECENT_EXECUTIONS_URI,
        description=f"Your last {RECENT_EXECUTIONS} tool calls, newest first.",
        mime_type=JSON,
    ),
    Resource(
        name="documents",
        uri=DOCUMENTS_URI,
        description="Your newest corpus documents (no bodies) and how many you have.",
        mime_type=JSON,
    ),
]
TEMPLATES = [
    ResourceTemplate(
        name="execution",
        uri_template=EXECUTION_TEMPLATE,
        description="One of your tool calls, with its arguments and result.",
        mime_type=JSON,
    ),
    ResourceTemplate(
        name="document",
        uri_template=DOCUMENT_TEMPLATE,
        description="One of your corpus documents, whole.",
        mime_type=JSON,
    ),
]


def not_found(uri: str, error: NotFoundError) -> MCPError:
    return MCPError(INVALID_PARAMS, error.message, data={"uri": uri})


def events_of(change: Change) -> list[ServerEvent]:
    events: list[ServerEvent] = [ResourceUpdated(uri=uri) for uri in change.updated]
    if change.list_changed:
        events.append(ResourcesListChanged())
    return events


# The client whose listen stream is subscribing (set around the SDK's ListenHandler).
_LISTENER = contextvars.ContextVar[str]("mcp_service_listening_client")


class ClientScopedBus:
    """The SDK's SubscriptionBus over the change bus, seen by one client at a time.

    `subscribe` registers for the client of the listen request being served (the
    ListenHandler calls it synchronously inside that request), so a stream is
    delivered that client's changes and nobody else's.
    """

    def __init__(self, service: MCPService) -> None:
        self._service = service

    async def publish(self, event: ServerEvent) -> None:
        client_id = _LISTENER.get()
        if isinstance(event, ResourceUpdated):
            await self._service.changes.publish([Change(client_id, (event.uri,))])
        elif isinstance(event, ResourcesListChanged):
            await self._service.changes.publish([Change(client_id, list_changed=True)])

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        def deliver(change: Change) -> None:
            for event in events_of(change):
                listener(event)

        return self._service.changes.subscribe(_LISTENER.get(), deliver)


class _Watch:
    """One handshake connection's subscriptions, and the task that notifies it."""

    def __init__(self, connection: Connection, service: MCPService, client_id: str) -> None:
        self._connection = connection
        self.uris: set[str] = set()
        self._pending: dict[object, None] = {}  # URIs and _LIST, in arrival order
        self._wake = asyncio.Event()
        self._unsubscribe = service.changes.subscribe(client_id, self._changed)
        self._task = asyncio.get_running_loop().create_task(self._send(), name="mcp-resource-watch")

    def _changed(self, change: Change) -> None:
        for uri in change.updated:
            if uri in self.uris:
                self._pending[uri] = None
        if change.list_changed:
            self._pending[_LIST] = None
        if self._pending:
            self._wake.set()

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            items, self._pending = list(self._pending), {}
            for item in items:
                try:
                    if item is _LIST:
                        await self._connection.send_resource_list_changed()
                    else:
                        assert isinstance(item, str)
                        await self._connection.send_resource_updated(item)
                except Exception:  # the client went away: the connection's end stops this
                    log.debug("resource notification dropped", exc_info=True)

    async def close(self) -> None:
        self._unsubscribe()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class ResourceFront:
    """The resource and subscription handlers, registered on the SDK's lowlevel server."""

    def __init__(self, service: MCPService, router: SessionRouter) -> None:
        self._service = service
        self._router = router
        self.listen = ListenHandler(ClientScopedBus(service))
        self._listening: dict[str, int] = {}  # open listen streams by client

    def install(self, lowlevel: Server[Any]) -> None:
        lowlevel.add_request_handler("resources/list", PaginatedRequestParams, self.list_resources)
        lowlevel.add_request_handler(
            "resources/templates/list", PaginatedRequestParams, self.list_templates
        )
        lowlevel.add_request_handler("resources/read", ReadResourceRequestParams, self.read)
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self.subscribe)
        lowlevel.add_request_handler(
            "resources/unsubscribe", UnsubscribeRequestParams, self.unsubscribe
        )
        lowlevel.add_request_handler(
            "subscriptions/listen", SubscriptionsListenRequestParams, self.listen_for_client
        )
        advertise_list_changes(lowlevel)

    def _client(self, ctx: ServerRequestContext[Any, Any]) -> str:
        return self._router.binding(ctx).client_id

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams
    ) -> ListResourcesResult:
        client_id = self._client(ctx)
        documents = await self._guarded(self._service.resources.documents(client_id))
        self._watch(ctx, client_id)  # a connection that listed is told when the list changes
        listed = [
            Resource(
                name=f"document-{d['document_id']}",
                title=d["title"],
                uri=d["uri"],
                mime_type=JSON,
                size=d["characters"],
            )
            for d in documents
        ]
        return ListResourcesResult(resources=[*STATIC, *listed])

    async def list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams
    ) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=list(TEMPLATES))

    async def read(
        self, ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        uri = str(params.uri)
        try:
            content = await self._guarded(self._service.resources.read(self._client(ctx), uri))
        except NotFoundError as exc:
            raise not_found(uri, exc) from None
        text = json.dumps(content, ensure_ascii=False)
        contents = TextResourceContents(uri=uri, text=text, mime_type=JSON)
        return ReadResourceResult(contents=[contents])

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        uri = str(params.uri)
        client_id = self._client(ctx)
        if not await self._guarded(self._service.resources.exists(client_id, uri)):
            raise not_found(uri, NotFoundError(f"resource {uri[:300]!r} not found"))
        watch = self._watch(ctx, client_id)
        if watch is None:
            raise MCPError(INVALID_PARAMS, "this connection cannot be sent notifications")
        if uri not in watch.uris and len(watch.uris) >= MAX_SUBSCRIPTIONS:
            raise MCPError(
                INVALID_PARAMS, f"a connection subscribes to at most {MAX_SUBSCRIPTIONS} resources"
            )
        watch.uris.add(uri)
        return EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        connection = connection_of(ctx)
        watch = connection.state.get(_WATCH_KEY) if connection is not None else None
        if isinstance(watch, _Watch):
            watch.uris.discard(str(params.uri))
        return EmptyResult()

    async def listen_for_client(
        self, ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams
    ) -> SubscriptionsListenResult:
        client_id = self._client(ctx)
        open_streams = self._listening.get(client_id, 0)
        if open_streams >= MAX_LISTENS_PER_CLIENT:
            raise MCPError(
                INTERNAL_ERROR,
                f"at most {MAX_LISTENS_PER_CLIENT} listen streams per client are open at once",
            )
        self._listening[client_id] = open_streams + 1
        token = _LISTENER.set(client_id)
        try:
            return await self.listen(ctx, params)
        finally:
            _LISTENER.reset(token)
            left = self._listening[client_id] - 1
            if left:
                self._listening[client_id] = left
            else:
                del self._listening[client_id]

    def _watch(self, ctx: ServerRequestContext[Any, Any], client_id: str) -> _Watch | None:
        """The connection's watch, made at its first list or subscribe (None: no connection)."""
        connection = connection_of(ctx)
        if (
            connection is None
            or not connection.has_standalone_channel
            or connection.protocol_version in MODERN_PROTOCOL_VERSIONS  # listen streams instead
        ):
            return None
        watch = connection.state.get(_WATCH_KEY)
        if not isinstance(watch, _Watch):
            watch = _Watch(connection, self._service, client_id)
            connection.state[_WATCH_KEY] = watch
            connection.exit_stack.push_async_callback(watch.close)
        return watch

    @staticmethod
    async def _guarded(read: Awaitable[_T]) -> _T:
        """A read's result; a failure other than not-found is logged, never detailed."""
        try:
            return await read
        except NotFoundError:
            raise
        except Exception as exc:
            log.error("reading a resource failed: %s", describe_failure(exc))
            raise MCPError(INTERNAL_ERROR, "the server failed; see its log") from None


def advertise_list_changes(lowlevel: Server[Any]) -> None:
    """Handshake `initialize` advertises `resources.listChanged` (2026-07-28 derives it).

    mcp 2.3 takes the flag only as an argument of `create_initialization_options`,
    which its transports call without one; this supplies it.
    """
    make = lowlevel.create_initialization_options

    def options(
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        chosen = notification_options or NotificationOptions(resources_changed=True)
        return make(chosen, experimental_capabilities, extensions)

    lowlevel.create_initialization_options = options  # type: ignore[method-assign]  # see above
