"""Resources and change notifications over real `mcp-service serve --transport http` processes.

One server: each protocol's subscription (handshake `resources/subscribe`, 2026-07-28
`subscriptions/listen`) hears exactly its own client's changes. Two servers on one
database and one Redis: a client listening through the first hears exactly one
`resources/updated` per URI for each change made through the second, and another
client listening there hears none of it. "None" is checked with a fence: the
listener's own next change, whose notification follows any stray one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from mcp_service import MCPService
from mcp_service.resources import DOCUMENTS_URI, RECENT_EXECUTIONS_URI, document_uri
from tests.integration.mcp_peers import MODES, UNLIMITED, HttpServer, start_http_server, stop
from tests.protocol.resource_peers import (
    AFTER_CORPUS_ADD,
    LIST_CHANGED,
    Heard,
    add_document,
    echo,
    http_peer,
    listening,
    read_json,
)
from tests.toolkit import Step

pytestmark = [
    pytest.mark.integration,
    pytest.mark.critical_path("protocol"),
    # resources/subscribe is deprecated by the 2026-07-28 protocol, not by the handshake one.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

WATCHED = [RECENT_EXECUTIONS_URI, DOCUMENTS_URI]


@contextmanager
def servers(
    database_url: str, tmp_path: Path, count: int, **env: str
) -> Iterator[list[HttpServer]]:
    started: list[HttpServer] = []
    try:
        for n in range(count):
            log = tmp_path / f"server{n}.log"
            started.append(start_http_server(database_url, log, **UNLIMITED, **env))
        yield started
    finally:
        codes = [stop(server) for server in started]
    assert codes == [0] * count


def handled(heard: Heard, mode: str) -> Heard | None:
    """Who records the handshake's notifications; a listen stream's are its own (`listening`).

    The SDK also hands listen events to `message_handler`: recording both would count twice.
    """
    return heard if mode == "legacy" else None


@asynccontextmanager
async def watching(client: Client, heard: Heard, mode: str) -> AsyncIterator[None]:
    """Subscribed to both lists: `resources/subscribe` (handshake) or a listen stream."""
    if mode == "legacy":
        for uri in WATCHED:
            await client.subscribe_resource(uri)
        yield
    else:
        assert client.protocol_version == "2026-07-28"
        async with listening(client, heard, WATCHED):
            yield


@pytest.mark.parametrize("mode", MODES)
async def test_one_server_notifies_each_client_of_its_own_changes(
    mode: str, database_url: str, service: MCPService, tmp_path: Path, step: Step
) -> None:
    a = await service.register_client(f"http watcher a {mode}", "basic")
    b = await service.register_client(f"http watcher b {mode}", "basic")
    heard_a, heard_b = Heard(), Heard()
    with servers(database_url, tmp_path, 1) as [server]:
        async with AsyncExitStack() as stack:
            client_a = await stack.enter_async_context(
                http_peer(server.url, a.api_key, mode, handled(heard_a, mode))
            )
            client_b = await stack.enter_async_context(
                http_peer(server.url, b.api_key, mode, handled(heard_b, mode))
            )
            await stack.enter_async_context(watching(client_a, heard_a, mode))
            await stack.enter_async_context(watching(client_b, heard_b, mode))
            step(f"HTTP {mode}: both clients subscribed to their recent executions and documents")

            document_id = await add_document(client_a, "over http", "a body")
            await heard_a.exactly(AFTER_CORPUS_ADD)
            assert (await read_json(client_a, document_uri(document_id)))["body"] == "a body"
            await echo(client_a, "then a call")
            await heard_a.exactly([*AFTER_CORPUS_ADD, RECENT_EXECUTIONS_URI])
            step(
                f"HTTP {mode}: A hears exactly its corpus_add's three notices, then its echo's one"
            )

            await echo(client_b, "b's own")
            await heard_b.exactly([RECENT_EXECUTIONS_URI])
            with pytest.raises(MCPError) as refused:
                await client_b.read_resource(document_uri(document_id))
            assert refused.value.code == INVALID_PARAMS
            step(f"HTTP {mode}: B heard nothing of A's, and cannot read A's document")


@pytest.mark.parametrize("mode", MODES)
async def test_a_change_through_one_process_reaches_listeners_on_another(
    mode: str,
    database_url: str,
    redis_url: str,
    service: MCPService,
    tmp_path: Path,
    step: Step,
) -> None:
    a = await service.register_client(f"two processes a {mode}", "basic")
    b = await service.register_client(f"two processes b {mode}", "basic")
    heard_a, heard_b = Heard(), Heard()
    with servers(database_url, tmp_path, 2, MCP_REDIS_URL=redis_url) as [first, second]:
        async with AsyncExitStack() as stack:
            listener_a = await stack.enter_async_context(
                http_peer(first.url, a.api_key, mode, handled(heard_a, mode))
            )
            listener_b = await stack.enter_async_context(
                http_peer(first.url, b.api_key, mode, handled(heard_b, mode))
            )
            writer_a = await stack.enter_async_context(http_peer(second.url, a.api_key, mode))
            writer_b = await stack.enter_async_context(http_peer(second.url, b.api_key, mode))
            await stack.enter_async_context(watching(listener_a, heard_a, mode))
            await stack.enter_async_context(watching(listener_b, heard_b, mode))
            step(f"{mode}: A and B listen through process 1; they write through process 2")

            first_id = await add_document(writer_a, "first", "through process two")
            await heard_a.exactly(AFTER_CORPUS_ADD)
            second_id = await add_document(writer_a, "second", "again")
            await heard_a.exactly(AFTER_CORPUS_ADD * 2)
            listed = await listener_a.list_resources()
            assert [r.uri for r in listed.resources][2:] == [
                document_uri(second_id),
                document_uri(first_id),
            ]
            step(f"{mode}: each corpus_add through process 2: exactly one notice per URI on 1")

            await echo(writer_b, "b's own")
            await heard_b.exactly([RECENT_EXECUTIONS_URI])
            step(f"{mode}: B, listening on process 1, heard none of A's changes")

            if mode == "legacy":
                await listener_a.unsubscribe_resource(RECENT_EXECUTIONS_URI)
                await echo(writer_a, "unheard")
                await add_document(writer_a, "third", "after unsubscribing")
                await heard_a.exactly([*AFTER_CORPUS_ADD * 2, DOCUMENTS_URI, LIST_CHANGED])
                step("legacy: after unsubscribing recent executions, A hears only the documents")


async def test_stopping_a_server_ends_its_listen_streams_gracefully(
    database_url: str, service: MCPService, tmp_path: Path, step: Step
) -> None:
    a = await service.register_client("listening at shutdown", "basic")
    server = start_http_server(database_url, tmp_path / "server.log", **UNLIMITED)
    async with (
        http_peer(server.url, a.api_key, "auto") as client,
        client.listen(resource_subscriptions=WATCHED) as stream,
    ):
        code = await asyncio.to_thread(stop, server)
        # A graceful close ends the loop; a dropped stream would raise SubscriptionLost.
        events = [event async for event in stream]
    assert (code, events) == (0, [])
    assert "graceful shutdown exceeded" not in server.log.read_text()
    step("SIGTERM with a listen stream open: the stream ends gracefully, the server exits 0")
