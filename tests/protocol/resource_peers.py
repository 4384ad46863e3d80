"""What the resource tests share: a recorder of change notifications, and listen streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp.types import (
    ResourceListChangedNotification,
    ResourceUpdatedNotification,
    TextResourceContents,
)

from mcp_service.resources import DOCUMENTS_URI, RECENT_EXECUTIONS_URI
from tests.toolkit import until

LIST_CHANGED = "list_changed"
# What a successful corpus_add announces to a client subscribed to both lists.
AFTER_CORPUS_ADD = [RECENT_EXECUTIONS_URI, DOCUMENTS_URI, LIST_CHANGED]


class Heard:
    """The change notifications one client received, in order: a URI, or LIST_CHANGED."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def handler(self) -> MessageHandlerFnT:
        """A `message_handler` for the handshake protocol's notifications."""

        async def record(message: Any) -> None:
            if isinstance(message, ResourceUpdatedNotification):
                self.items.append(str(message.params.uri))
            elif isinstance(message, ResourceListChangedNotification):
                self.items.append(LIST_CHANGED)

        return record

    async def exactly(self, expected: Sequence[str]) -> None:
        """Wait until `expected` was heard, and check nothing else was."""
        await until(lambda: len(self.items) >= len(expected), f"{list(expected)} to be heard")
        assert self.items == list(expected), self.items


@asynccontextmanager
async def listening(
    client: Client, heard: Heard, uris: Sequence[str], list_changed: bool = True
) -> AsyncIterator[None]:
    """A `subscriptions/listen` stream (2026-07-28) whose events `heard` records."""
    async with client.listen(
        resources_list_changed=list_changed, resource_subscriptions=list(uris)
    ) as stream:

        async def consume() -> None:
            async for event in stream:
                if isinstance(event, ResourceUpdated):
                    heard.items.append(event.uri)
                elif isinstance(event, ResourcesListChanged):
                    heard.items.append(LIST_CHANGED)

        task = asyncio.create_task(consume())
        try:
            yield
        finally:
            task.cancel()


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    [content] = result.contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def add_document(client: Client, title: str, body: str) -> int:
    answer = await client.call_tool("corpus_add", {"title": title, "body": body})
    assert not answer.is_error, answer
    assert answer.structured_content is not None
    document_id = answer.structured_content["document_id"]
    assert isinstance(document_id, int)
    return document_id


async def echo(client: Client, message: str) -> str:
    answer = await client.call_tool("echo", {"message": message})
    assert not answer.is_error, answer
    meta = answer.meta or {}
    execution_id = meta["mcp-service/execution_id"]
    assert isinstance(execution_id, str)
    return execution_id


@asynccontextmanager
async def http_peer(
    url: str, key: str, mode: str, heard: Heard | None = None
) -> AsyncIterator[Client]:
    """The SDK client over streamable HTTP, its change notifications (handshake) in `heard`."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        client = Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            message_handler=heard.handler() if heard is not None else None,
            read_timeout_seconds=60,
        )
        async with client:
            yield client
