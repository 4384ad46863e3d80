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
from starlette.middleware import Middleware

from mcp_service import span_export
from mcp_service.protocol.auth import ServiceTokenVerifier, StartupError, authenticate_stdio
from mcp_service.protocol.log_hygiene import quiet_loop_errors
from mcp_service.protocol.server import ServiceMCPServer, build_server
from mcp_service.service import MCPService
from mcp_service.tracing import environment_trace

MCP_PATH = "/mcp"
# The exit status of a server that stopped because its SQLite file was deleted or replaced.
EXIT_DATABASE_LOST = 3


def _announce(message: str) -> None:
    print(f"mcp-service: {message}", file=sys.stderr, flush=True)


def shutting_down(server: ServiceMCPServer) -> None:
    """Shutdown began: sessions are closed together, and listen streams end now, gracefully
    (each sends its final result), instead of at uvicorn's graceful-shutdown timeout."""
    server.router.closing = True
    server.resources.listen.close()


async def serve_stdio(service: MCPService, *, log_level: str = "WARNING") -> None:
    """Serve one client on stdin/stdout until stdin closes or SIGTERM; the key is checked first."""
    client = await authenticate_stdio(service)
    server = build_server(service, "stdio", log_level=log_level)
    with environment_trace():  # the session row belongs to the trace that started us
        session_id = await server.router.open_stdio(client.client_id)
    _announce(f"serving MCP over stdio for client {client.client_id} (session {session_id})")
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    quiet_loop_errors(loop)
    exiting: list[asyncio.Task[None]] = []

    async def leave(status: int) -> None:
        # The SDK reads stdin in a thread that no cancellation can interrupt, so the
        # serving task cannot return while the client keeps stdin open. Cancel the
        # calls in flight (each records its row as cancelled), close the session,
        # flush the database, and leave.
        main.cancel()
        await server.drained(timeout=5)
        await server.router.close_all()
        await service.shutdown()
        span_export.finish()  # os._exit runs no exit handler: send the last spans now
        sys.stderr.flush()
        os._exit(status)

    def exit_with(status: int) -> None:
        if not exiting:
            exiting.append(loop.create_task(leave(status)))

    loop.add_signal_handler(signal.SIGTERM, exit_with, 0)
    service.on_database_lost(lambda: loop.call_soon_threadsafe(exit_with, EXIT_DATABASE_LOST))
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
) -> int:
    """Serve streamable HTTP at http://host:port/mcp until SIGINT/SIGTERM; the exit status.

    Every connection and request is bounded (protocol/http_guard.py); a lost
    database file stops the server with EXIT_DATABASE_LOST.
    """
    import uvicorn  # only http needs it: stdio starts faster without

    from mcp_service.protocol.http_guard import (
        ByteBudget,
        FailureLimiter,
        RequestGuard,
        SessionAdmission,
        guarded_protocol,
    )
    from mcp_service.protocol.uvicorn_server import AnnouncingServer

    settings = service.settings
    sock = bind(host, port)
    url_host = f"[{host}]" if ":" in host else host
    base = f"http://{url_host}:{sock.getsockname()[1]}"
    verifier = ServiceTokenVerifier(service)
    server = build_server(
        service,
        "http",
        log_level=log_level,
        token_verifier=verifier,
        # API keys are issued out of band (`mcp-service register-client`); the metadata
        # names this server as its own authority. Keys are per service, not per audience.
        auth=AuthSettings(
            issuer_url=base,  # type: ignore[arg-type]  # pydantic coerces str to AnyHttpUrl
            resource_server_url=f"{base}{MCP_PATH}",  # type: ignore[arg-type]  # the same
            validate_token_resource=False,
        ),
    )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        host=host,
        session_idle_timeout=settings.session_idle_timeout,
        max_request_body_size=settings.http_max_request_bytes,
        max_sessions=settings.http_max_sessions,
    )
    server.router.attach(server.session_manager)
    # Innermost: after authentication, so it knows the client.
    app.user_middleware.append(
        Middleware(
            SessionAdmission,
            path=MCP_PATH,
            limits=settings.limits,
            live_sessions=server.router.live_sessions,
            tier_of=verifier.tier_of,
            shared=service.session_liveness,
        )
    )
    guarded = RequestGuard(
        app,
        path=MCP_PATH,
        hasher=service.hasher,
        max_body=settings.http_max_request_bytes,
        body_timeout=settings.http_body_timeout,
        # A burst of 10 wrong keys (a client with a stale key retries a few times), then
        # the per-second rate.
        failures=FailureLimiter(
            settings.auth_failures_per_second,
            burst=max(10.0, 4 * settings.auth_failures_per_second),
        ),
        budget=ByteBudget(settings.limits, settings.http_max_request_bytes, verifier.tier_of_key),
    )
    config = uvicorn.Config(
        guarded,
        log_level=log_level.lower(),
        access_log=log_level.upper() == "DEBUG",
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=max(1, round(settings.http_keep_alive_timeout)),
        http=guarded_protocol(settings.http_header_timeout, settings.http_max_connections),
    )
    runner = AnnouncingServer(
        config,
        lambda: _announce(f"serving MCP over streamable HTTP at {base}{MCP_PATH}"),
        on_shutdown=lambda: shutting_down(server),
    )
    loop = asyncio.get_running_loop()
    quiet_loop_errors(loop)
    lost: list[bool] = []

    def database_lost() -> None:
        lost.append(True)
        runner.should_exit = True

    service.on_database_lost(lambda: loop.call_soon_threadsafe(database_lost))
    watcher = loop.create_task(server.router.watch_revocations(settings.revocation_check_interval))
    try:
        await runner.serve(sockets=[sock])
    finally:
        watcher.cancel()
        sock.close()
        await server.router.close_all()
    return EXIT_DATABASE_LOST if lost else 0
