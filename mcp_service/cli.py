"""`mcp-service`: manage clients and inspect the service from a shell.

The API key is printed exactly once, at registration; nothing else prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from mcp_service import schema, span_export
from mcp_service.config import Settings
from mcp_service.db import Database, sqlite_file
from mcp_service.errors import MCPServiceError, ValidationError
from mcp_service.failures import is_database_error
from mcp_service.models import Session
from mcp_service.service import MCPService
from mcp_service.snapshots import ClientInfo, SessionInfo
from mcp_service.tracing import environment_trace

DEFAULT_PORT = 8765

# A command runs on the initialized service, or (a schema command) on the database alone.
ServiceCommand = Callable[[MCPService, argparse.Namespace], Awaitable[int]]
DatabaseCommand = Callable[[Database, argparse.Namespace], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class OnDatabase:
    """A schema command: it runs without the service, so without its schema check."""

    run: DatabaseCommand


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


def _client_row(c: ClientInfo) -> dict[str, Any]:
    return {
        "client_id": c.client_id,
        "name": c.name,
        "type": c.client_type,
        "tier": c.tier,
        "created_at": _iso(c.created_at),
        "last_active_at": _iso(c.last_active_at),
        "revoked": c.is_revoked,
    }


def _session_row(s: SessionInfo) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "client_id": s.client_id,
        "status": s.status,
        "requests": s.request_count,
        "created_at": _iso(s.created_at),
        "last_activity_at": _iso(s.last_activity_at),
    }


def _output(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows)


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(none)")
        return
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))


async def _register(service: MCPService, args: argparse.Namespace) -> int:
    registered = await service.register_client(args.name, args.tier, client_type=args.type)
    if args.json:
        print(json.dumps({"client_id": registered.client_id, "api_key": registered.api_key}))
    else:
        print(f"client_id: {registered.client_id}")
        print(f"api_key:   {registered.api_key}")
        print("Store the key now: it is shown only once and cannot be recovered.", file=sys.stderr)
    return 0


async def _revoke(service: MCPService, args: argparse.Namespace) -> int:
    newly = await service.revoke_client(args.client_id)
    print(f"client {args.client_id} {'revoked' if newly else 'was already revoked'}")
    return 0


async def _clients(service: MCPService, args: argparse.Namespace) -> int:
    rows = [_client_row(c) for c in await service.clients.list(limit=args.limit)]
    _output(rows, as_json=args.json)
    return 0


async def _sessions(service: MCPService, args: argparse.Namespace) -> int:
    query = select(Session).order_by(Session.created_at.desc()).limit(args.limit)
    if args.status:
        query = query.where(Session.status == args.status)
    async with service.database.read() as db:
        rows = [_session_row(SessionInfo.from_row(s)) for s in await db.scalars(query)]
    _output(rows, as_json=args.json)
    return 0


async def _info(service: MCPService, _args: argparse.Namespace) -> int:
    print(json.dumps(await service.get_server_info(), indent=2))
    return 0


def settle_garbage_collector() -> None:
    """Keep the cyclic collector's full passes short while serving.

    A full collection walks every tracked object: ~70 ms here with the SDK loaded
    and one 10,000-sample request in memory, a pause every client feels. What
    exists once the server is set up (modules, the SDK, the service) lives as long
    as the process: frozen, it is left out of every later pass.
    """
    gc.collect()
    gc.freeze()


async def _serve(service: MCPService, args: argparse.Namespace) -> int:
    # Imported here: the MCP SDK costs ~0.6 s of imports the other subcommands don't need.
    from mcp_service.protocol import serve_http, serve_stdio
    from mcp_service.protocol.log_hygiene import configure_logging

    level = args.log_level.upper()
    configure_logging(level)  # concise, rate-limited, and never a statement's text
    if args.exporting:
        span_export.instrument(service.database.engine)
    settle_garbage_collector()
    if args.transport == "stdio":
        await serve_stdio(service, log_level=level)
        return 0
    host = "127.0.0.1" if args.host is None else args.host
    port = DEFAULT_PORT if args.port is None else args.port
    return await serve_http(service, host, port, log_level=level)


async def _db_upgrade(db: Database, args: argparse.Namespace) -> int:
    where = schema.describe(db.url)
    known = sorted(schema.known_revisions())
    if args.revision not in (*known, "head"):
        raise ValidationError(
            f"unknown revision {args.revision!r}: this mcp-service knows {', '.join(known)} "
            "(and head, the newest)"
        )
    before, after = await db.migrate(args.revision)
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: migrated from {before or 'an empty database'} to revision {after}")
    return 0


async def _db_current(db: Database, _args: argparse.Namespace) -> int:
    state = await db.schema_state()
    print(f"database: {schema.describe(db.url)}")
    print(f"revision: {state.revision or '(none)'}")
    print(f"head:     {schema.HEAD}")
    if state.is_current:
        return 0
    print(schema.refusal(state, schema.describe(db.url)).message, file=sys.stderr)
    return 1


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0: any free port), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-service",
        description="Manage the MCP service. The database comes from MCP_DATABASE_URL.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    reg = sub.add_parser("register-client", help="register a client and print its API key once")
    reg.add_argument("--name", required=True)
    reg.add_argument("--tier", required=True, choices=["admin", "basic", "readonly"])
    reg.add_argument("--type", default="generic", help="client type, e.g. ide or agent")
    reg.add_argument("--json", action="store_true", help="print {client_id, api_key} as JSON")
    reg.set_defaults(run=_register)

    rev = sub.add_parser("revoke-client", help="revoke a client's key and close its sessions")
    rev.add_argument("client_id")
    rev.set_defaults(run=_revoke)

    for name, run, helptext in (
        ("clients", _clients, "list clients, newest first"),
        ("sessions", _sessions, "list sessions, newest first"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--limit", type=int, default=50)
        p.add_argument("--json", action="store_true")
        if name == "sessions":
            p.add_argument("--status", choices=["open", "closed", "expired"])
        p.set_defaults(run=run)

    info = sub.add_parser("info", help="server name, version, tools and active sessions")
    info.set_defaults(run=_info)

    serve = sub.add_parser(
        "serve",
        help="serve the tools to MCP clients (stdio: the key comes from MCP_API_KEY)",
        description=(
            "Serve the tools over MCP. stdio serves the one client whose key is in "
            "MCP_API_KEY; http serves streamable HTTP at http://HOST:PORT/mcp and "
            "authenticates every request's 'Authorization: Bearer <api key>'."
        ),
    )
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", help="http only; default 127.0.0.1")
    serve.add_argument(
        "--port", type=_port, help=f"http only; default {DEFAULT_PORT}, 0 for any free port"
    )
    serve.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="warning"
    )
    serve.set_defaults(run=_serve, creates_database=True, exporting=False)

    db = sub.add_parser("db", help="the database schema (Alembic migrations)")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_sub.add_parser(
        "upgrade",
        help="migrate the database to this mcp-service's schema (safe to run again)",
    )
    upgrade.add_argument("revision", nargs="?", default="head", help="default: head")
    upgrade.set_defaults(run=OnDatabase(_db_upgrade), creates_database=True)
    current = db_sub.add_parser(
        "current", help="the database's schema revision; exit 1 unless it is this version's"
    )
    current.set_defaults(run=OnDatabase(_db_current))
    return parser


def _check_arguments(args: argparse.Namespace) -> None:
    if getattr(args, "transport", None) == "stdio" and (
        args.host is not None or args.port is not None
    ):
        raise ValidationError("--host and --port apply to --transport http only")


def _require_existing_file(settings: Settings, args: argparse.Namespace) -> None:
    """Only `serve` and `db upgrade` create a SQLite file: elsewhere a missing one is a typo."""
    path = sqlite_file(settings.database_url)
    if path is not None and not getattr(args, "creates_database", False) and not path.exists():
        raise ValidationError(
            f"the database file {path} does not exist: check MCP_DATABASE_URL, or create it "
            "with `mcp-service db upgrade`"
        )


def _explain(exc: Exception) -> str | None:
    """One line for a database that cannot be used; None for anything else (a bug)."""
    raw = os.environ.get("MCP_DATABASE_URL") or ""
    if isinstance(exc, ArgumentError):
        return (
            "MCP_DATABASE_URL is not a database URL; expected e.g. "
            "sqlite+aiosqlite:////path/to/mcp.db or postgresql+asyncpg://user@host/db"
        )
    try:
        url = make_url(raw) if raw else None
    except ArgumentError:
        url = None
    scheme = url.drivername if url is not None else "the database"
    where = schema.describe(url) if url is not None else "the default SQLite file"
    if isinstance(exc, NoSuchModuleError):
        return f"unsupported database {scheme!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    if isinstance(exc, ImportError):
        return f"the driver for {scheme} is not installed ({exc.name or exc})"
    if is_database_error(exc) or isinstance(exc, OSError | TimeoutError):
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        return f"cannot use the database {where}: {detail}"
    return None


async def _run(run: ServiceCommand | OnDatabase, args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    _require_existing_file(settings, args)
    if isinstance(run, OnDatabase):
        db = Database(settings)
        try:
            return await run.run(db, args)
        finally:
            await db.dispose()
    service = MCPService(settings)
    await service.initialize()
    try:
        if run is _serve:  # each session or request brings its own trace (transports.py)
            return await run(service, args)
        # A one-shot command (register-client, revoke …) started by a traced test or
        # script belongs to its trace: the rows it writes say so.
        with environment_trace():
            return await run(service, args)
    finally:
        await service.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_arguments(args)  # before the database: a typo is reported as a typo
        if args.run is _serve:
            # Spans (span_export.py) exported until the service has shut down.
            args.exporting = span_export.start()
        try:
            return asyncio.run(_run(args.run, args))
        finally:
            span_export.finish()
    except MCPServiceError as exc:
        print(f"mcp-service: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read our output stopped (`mcp-service info | head`): not the database's
        # fault, and nothing to say. Later writes (at exit) go nowhere instead of failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        explained = _explain(exc)
        if explained is None:
            raise
        print(f"mcp-service: error: {explained}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
