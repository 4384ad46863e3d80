"""A reverse proxy that adds `Authorization: Bearer <key>` to every request it forwards.

The conformance CLI has no option for a header, and every request to `mcp-service
serve --transport http` needs the client's API key. Everything else passes as it came:
the method, path, query, body, the client's own headers (`Host` and `Origin`
included, so the server's DNS rebinding check sees what the CLI sent) and the
response, streamed (SSE) and ended when the CLI hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import uvicorn

from mcp_service.protocol.transports import bind
from tests.toolkit import until

Scope = dict[str, Any]
Message = dict[str, Any]
# Hop-by-hop headers belong to one connection, not to the message (RFC 9110 7.6.1).
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade"}


class BearerProxy:
    def __init__(self, upstream: str, key: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._authorization = f"Bearer {key}".encode()
        self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(None))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name.lower() not in HOP_BY_HOP and name.lower() != b"authorization"
        ]
        headers.append((b"authorization", self._authorization))
        query = f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        request = self._http.build_request(
            scope["method"],
            f"{self._upstream}{scope['path']}{query}",
            headers=headers,
            content=bytes(body),
        )
        relay = asyncio.create_task(self._relay(request, send))
        hangup = asyncio.create_task(_disconnected(receive))
        await asyncio.wait({relay, hangup}, return_when=asyncio.FIRST_COMPLETED)
        for task in (relay, hangup):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

    async def _relay(self, request: httpx2.Request, send: Any) -> None:
        response = await self._http.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@contextlib.asynccontextmanager
async def bearer_proxy(upstream: str, key: str) -> AsyncIterator[str]:
    """Serve a BearerProxy to `upstream` on a free local port; yields its base URL."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(BearerProxy(upstream, key), log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:

        def started() -> bool:
            if serving.done():
                serving.result()  # it failed to start: say why
            return server.started

        await until(started, "the bearer proxy to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving
        sock.close()
