"""`mcp-service serve`: the MCP server over stdio or streamable HTTP.

Both print one line on stderr once they serve (stdout belongs to the protocol on
stdio); nothing they print or log contains an API key.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

from mcp.server.auth.settings import AuthSettings

from mcp_service.protocol.auth import ServiceTokenVerifier, StartupError, authenticate_stdio
from mcp_service.protocol.server import build_server
from mcp_service.service import MCPService

MCP_PATH = "/mcp"


def _announce(message: str) -> None:
    print(f"mcp-service: {message}", file=sys.stderr, flush=True)


async def serve_stdio(service: MCPService, *, log_level: str = "WARNING") -> None:
    """Serve one client on stdin/stdout until stdin closes or SIGTERM; the key is checked first."""
    client = await authenticate_stdio(service)
    server = build_server(service, "stdio", log_level=log_level)
    session_id = await server.router.open_stdio(client.client_id)
    _announce(f"serving MCP over stdio for client {client.client_id} (session {session_id})")
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    exiting: list[asyncio.Task[None]] = []

    async def exit_on_sigterm() -> None:
        # The SDK reads stdin in a thread that no cancellation can interrupt, so the
        # serving task cannot return while the client keeps stdin open. Cancel the
        # calls in flight (each records its row as cancelled), close the session,
        # flush the database, and leave.
        main.cancel()
        await server.drained(timeout=5)
        await server.router.close_all()
        await service.shutdown()
        sys.stderr.flush()
        os._exit(0)

    loop.add_signal_handler(
        signal.SIGTERM, lambda: exiting or exiting.append(loop.create_task(exit_on_sigterm()))
    )
    try:
        await server.run_stdio_async()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        if exiting:
            # Cancelled by SIGTERM, this task ends as soon as stdin closes (a client
            # leaving on its cancelled call's error), and asyncio.run would then cancel
            # the exit half-way through closing the session: wait for it; it exits.
            await asyncio.shield(exiting[0])
        else:
            await server.router.close_all()


def bind(host: str, port: int) -> socket.socket:
    """Bind before the app exists, so `--port 0` is resolved and the metadata URLs are exact."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def serve_http(
    service: MCPService, host: str, port: int, *, log_level: str = "WARNING"
) -> None:
    """Serve streamable HTTP at http://host:port/mcp until SIGINT/SIGTERM."""
    import uvicorn  # only http needs it: stdio starts faster without

    from mcp_service.protocol.uvicorn_server import AnnouncingServer

    sock = bind(host, port)
    url_host = f"[{host}]" if ":" in host else host
    base = f"http://{url_host}:{sock.getsockname()[1]}"
    server = build_server(
        service,
        "http",
        log_level=log_level,
        token_verifier=ServiceTokenVerifier(service),
        # API keys are issued out of band (`mcp-service register-client`); the metadata
        # names this server as its own authority. Keys are per service, not per audience.
        auth=AuthSettings(
            issuer_url=base,  # type: ignore[arg-type]
            resource_server_url=f"{base}{MCP_PATH}",  # type: ignore[arg-type]
            validate_token_resource=False,
        ),
    )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        host=host,
        session_idle_timeout=service.settings.session_idle_timeout,
    )
    config = uvicorn.Config(
        app,
        log_level=log_level.lower(),
        access_log=log_level.upper() == "DEBUG",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    runner = AnnouncingServer(
        config, lambda: _announce(f"serving MCP over streamable HTTP at {base}{MCP_PATH}")
    )
    try:
        await runner.serve(sockets=[sock])
    finally:
        sock.close()
        await server.router.close_all()
