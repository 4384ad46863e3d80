"""Resources and subscriptions through the official SDK client, in memory (issue 16).

A client reads its own executions and documents, and nobody else's: another
client's URI answers exactly as a missing id does. Subscribed (handshake
`resources/subscribe`, or a 2026-07-28 `subscriptions/listen` stream), it hears
exactly one `resources/updated` per URI per committed change, and
`resources/list_changed` when a document joins its list; a second client hears
nothing of it. "Nothing else" is checked with a fence: the listener's own next
change, whose notification follows any stray one in the same ordered stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS

from mcp_service import MCPService
from mcp_service.protocol.resources import MAX_LISTENS_PER_CLIENT
from mcp_service.protocol.server import build_server
from mcp_service.resources import (
    DOCUMENT_TEMPLATE,
    DOCUMENTS_URI,
    EXECUTION_TEMPLATE,
    RECENT_EXECUTIONS,
    RECENT_EXECUTIONS_URI,
    document_uri,
)
from tests.integration.mcp_peers import MODES
from tests.protocol.resource_peers import (
    AFTER_CORPUS_ADD,
    LIST_CHANGED,
    Heard,
    add_document,
    echo,
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


@asynccontextmanager
async def connected(
    service: MCPService, client_id: str, mode: str, heard: Heard | None = None
) -> AsyncIterator[Client]:
    """The SDK client on a server bound to `client_id` (as `serve --transport stdio` binds it)."""
    server = build_server(service, "stdio")
    await server.router.open_stdio(client_id)
    try:
        handler = heard.handler() if heard is not None else None
        async with Client(server, mode=mode, message_handler=handler) as client:
            yield client
    finally:
        await server.router.close_all()


def missing(uri: str) -> tuple[int, str, object]:
    return (INVALID_PARAMS, f"resource {uri!r} not found", {"uri": uri})


async def refusal(client: Client, uri: str, subscribe: bool = False) -> tuple[int, str, object]:
    with pytest.raises(MCPError) as refused:
        if subscribe:
            await client.subscribe_resource(uri)
        else:
            await client.read_resource(uri)
    return (refused.value.code, refused.value.message, refused.value.data)


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_reads_its_own_resources_and_no_one_elses(
    mode: str, service: MCPService, step: Step
) -> None:
    owner = await service.register_client(f"resource owner {mode}", "basic")
    other = await service.register_client(f"resource other {mode}", "basic")
    async with connected(service, owner.client_id, mode) as client:
        templates = await client.list_resource_templates()
        assert [(t.name, t.uri_template) for t in templates.resource_templates] == [
            ("execution", EXECUTION_TEMPLATE),
            ("document", DOCUMENT_TEMPLATE),
        ]
        document_id = await add_document(client, "Owner's notes", "alpha beta gamma")
        execution_id = await echo(client, "hello")
        listed = await client.list_resources()
        assert [r.uri for r in listed.resources] == [
            RECENT_EXECUTIONS_URI,
            DOCUMENTS_URI,
            document_uri(document_id),
        ]
        assert listed.resources[2].title == "Owner's notes"
        step(f"{mode}: both templates listed; the list has the two lists and the document")

        recent = await read_json(client, RECENT_EXECUTIONS_URI)
        assert recent["limit"] == RECENT_EXECUTIONS
        assert [(e["tool_name"], e["status"]) for e in recent["executions"]] == [
            ("echo", "success"),
            ("corpus_add", "success"),
        ]
        one = await read_json(client, f"mcp-service://executions/{execution_id}")
        assert (one["tool_name"], one["arguments"], one["result"]) == (
            "echo",
            {"message": "hello"},
            {"message": "hello", "length": 5},
        )
        documents = await read_json(client, DOCUMENTS_URI)
        assert (documents["total"], [d["title"] for d in documents["documents"]]) == (
            1,
            ["Owner's notes"],
        )
        document = await read_json(client, document_uri(document_id))
        assert (document["title"], document["body"]) == ("Owner's notes", "alpha beta gamma")
        step(f"{mode}: the owner reads its recent calls, one call, its documents, one document")

    async with connected(service, other.client_id, mode) as intruder:
        theirs = [f"mcp-service://executions/{execution_id}", document_uri(document_id)]
        absent = ["mcp-service://executions/00000000-0000-4000-8000-000000000000"]
        absent += [document_uri(999_999_999), "mcp-service://nothing", "mcp-service://documents/x"]
        for uri in theirs + absent:
            assert await refusal(intruder, uri) == missing(uri)
        assert (await read_json(intruder, RECENT_EXECUTIONS_URI))["executions"] == []
        assert (await read_json(intruder, DOCUMENTS_URI))["documents"] == []
        listed = await intruder.list_resources()
        assert [r.uri for r in listed.resources] == [RECENT_EXECUTIONS_URI, DOCUMENTS_URI]
    step(f"{mode}: another client's URIs answer -32602 'not found' exactly as missing ids do")


async def test_handshake_subscribe_notifies_its_own_client_only(
    service: MCPService, step: Step
) -> None:
    a = await service.register_client("subscriber a", "basic")
    b = await service.register_client("subscriber b", "basic")
    heard_a, heard_b = Heard(), Heard()
    async with (
        connected(service, a.client_id, "legacy", heard_a) as client_a,
        connected(service, b.client_id, "legacy", heard_b) as client_b,
    ):
        caps = client_a.server_capabilities.resources
        assert caps is not None and (caps.subscribe, caps.list_changed) == (True, True)
        for client in (client_a, client_b):
            await client.subscribe_resource(RECENT_EXECUTIONS_URI)
            await client.subscribe_resource(DOCUMENTS_URI)
        step("initialize advertises resources subscribe and listChanged; both clients subscribe")

        document_id = await add_document(client_a, "a's", "one document")
        await heard_a.exactly(AFTER_CORPUS_ADD)
        step("A's corpus_add: A hears recent, documents and list_changed, once each")
        a_call = await echo(client_a, "a call")
        await heard_a.exactly([*AFTER_CORPUS_ADD, RECENT_EXECUTIONS_URI])
        step("A's echo: exactly one more update, of recent executions")

        await echo(client_b, "b's own call")
        await heard_b.exactly([RECENT_EXECUTIONS_URI])
        step("B heard nothing of A's changes: its first notification is its own call")

        for uri in (document_uri(document_id), f"mcp-service://executions/{a_call}"):
            assert await refusal(client_b, uri, subscribe=True) == missing(uri)
        step("B cannot subscribe to A's document or call: not found, as a missing id")

        await client_a.subscribe_resource(document_uri(document_id))
        await client_a.unsubscribe_resource(RECENT_EXECUTIONS_URI)
        await echo(client_a, "not heard")
        await add_document(client_a, "a's second", "two")
        await heard_a.exactly(
            [*AFTER_CORPUS_ADD, RECENT_EXECUTIONS_URI, DOCUMENTS_URI, LIST_CHANGED]
        )
        step("After unsubscribing recent executions, A hears only documents and the list")
    assert heard_b.items == [RECENT_EXECUTIONS_URI]


async def test_listen_streams_a_clients_own_changes_only(service: MCPService, step: Step) -> None:
    a = await service.register_client("listener a", "basic")
    b = await service.register_client("listener b", "basic")
    heard_a, heard_b = Heard(), Heard()
    async with (
        connected(service, a.client_id, "auto") as client_a,
        connected(service, b.client_id, "auto") as client_b,
    ):
        assert client_a.protocol_version == "2026-07-28"
        first = await add_document(client_a, "a's first", "one")
        # B names A's document too: acknowledged, as any URI is, and never delivered.
        watched_b = [RECENT_EXECUTIONS_URI, DOCUMENTS_URI, document_uri(first)]
        async with (
            listening(client_a, heard_a, [RECENT_EXECUTIONS_URI, DOCUMENTS_URI]),
            listening(client_b, heard_b, watched_b),
        ):
            step("Both clients listen (2026-07-28 subscriptions/listen)")
            await add_document(client_a, "a's second", "two")
            await heard_a.exactly(AFTER_CORPUS_ADD)
            await echo(client_a, "a call")
            await heard_a.exactly([*AFTER_CORPUS_ADD, RECENT_EXECUTIONS_URI])
            step("A hears exactly recent, documents, list_changed; then one recent for its echo")
            await echo(client_b, "b's own call")
            await heard_b.exactly([RECENT_EXECUTIONS_URI])
            step("B heard nothing of A's changes, not even of A's document it named")


async def test_one_client_cannot_take_every_listen_stream(service: MCPService, step: Step) -> None:
    a = await service.register_client("many listens a", "basic")
    b = await service.register_client("many listens b", "basic")
    async with (
        connected(service, a.client_id, "auto") as client_a,
        connected(service, b.client_id, "auto") as client_b,
        AsyncExitStack() as streams,
    ):
        first = await streams.enter_async_context(AsyncExitStack())
        await first.enter_async_context(client_a.listen(resources_list_changed=True))
        for _ in range(MAX_LISTENS_PER_CLIENT - 1):
            await streams.enter_async_context(client_a.listen(resources_list_changed=True))
        with pytest.raises(MCPError) as refused:
            await streams.enter_async_context(client_a.listen(resources_list_changed=True))
        assert (refused.value.code, refused.value.message) == (
            INTERNAL_ERROR,
            f"at most {MAX_LISTENS_PER_CLIENT} listen streams per client are open at once",
        )
        step(f"A client's listen stream beyond {MAX_LISTENS_PER_CLIENT} is refused")
        await streams.enter_async_context(client_b.listen(resources_list_changed=True))
        await first.aclose()
        await streams.enter_async_context(client_a.listen(resources_list_changed=True))
    step("Another client still listens; a stream A closes gives A its place back")
