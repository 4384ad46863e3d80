"""tools/call throughput through the whole service against a bare MCPServer echo tool.

Both servers are real subprocesses driven by the official SDK client over the
same transport in the same run: `mcp-service serve` (key check, session,
permission, schema validation, execution row committed before the answer)
against an `MCPServer` with one `echo` tool and nothing else. Target: the
service keeps at least 0.5x of the bare throughput. Printed, never asserted.

    python benchmarks/protocol_throughput.py            # the table
    python benchmarks/protocol_throughput.py --calls 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_TIER, PYTHON, ROOT, header, row

READY = re.compile(r"at (http://\S+/mcp)")

SCRIPT = str(Path(__file__).resolve())


# -- the bare baseline server (run as a subprocess of this script) -----------------------


def bare_server() -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("bare-echo", log_level="WARNING")

    @server.tool()
    async def echo(message: str) -> dict[str, Any]:
        """Return the message and its length."""
        return {"message": message, "length": len(message)}

    return server


async def run_bare(transport: str) -> None:
    server = bare_server()
    if transport == "stdio":
        await server.run_stdio_async()
        return
    import uvicorn

    from mcp_service.protocol.transports import bind

    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning", access_log=False)

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            print(f"bare echo serving at {url}", file=sys.stderr, flush=True)

    await Announcing(config).serve(sockets=[sock])


# -- clients -----------------------------------------------------------------------------


@asynccontextmanager
async def http_server(command: list[str], env: dict[str, str], log: Path) -> AsyncIterator[str]:
    with log.open("w") as sink:
        proc = await asyncio.create_subprocess_exec(*command, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 20
        while not (found := READY.search(text := await asyncio.to_thread(log.read_text))):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {text[-2000:]}")
            await asyncio.sleep(0.02)
        yield found.group(1)
    finally:
        proc.terminate()
        await proc.wait()


def stdio_client(command: list[str], env: dict[str, str], mode: str) -> Any:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(ROOT))
    return Client(params, mode=mode)


def http_client(url: str, mode: str, key: str | None) -> Any:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else None
    http = create_mcp_http_client(headers=headers)
    client = Client(streamable_http_client(url, http_client=http), mode=mode)
    return http, client


async def throughput(client: Any, calls: int, concurrency: int) -> float:
    """Calls per second: `calls` echo calls, `concurrency` of them in flight at a time."""
    message = "benchmark " * 8
    for _ in range(20):  # warm up: first key check, first statements, JIT-free but cache-warm
        assert not (await client.call_tool("echo", {"message": message})).is_error

    async def worker(n: int) -> None:
        for _ in range(n):
            result = await client.call_tool("echo", {"message": message})
            assert not result.is_error, result

    shares = [calls // concurrency + (i < calls % concurrency) for i in range(concurrency)]
    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in shares))
    return calls / (time.perf_counter() - start)


# -- the run -----------------------------------------------------------------------------


async def measure(
    calls: int, concurrency: int, transports: list[str], modes: list[str], rounds: int
) -> None:
    from mcp_service import MCPService
    from mcp_service.config import Settings

    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    key = (await service.register_client("protocol benchmark", "basic")).api_key
    await service.shutdown()

    env = {**os.environ, "MCP_DATABASE_URL": url, "MCP_LIMITS_BASIC": BENCH_TIER}
    served = [PYTHON, "-m", "mcp_service.cli", "serve"]
    bare = [PYTHON, SCRIPT, "--bare"]

    for transport in transports:
        for mode in modes:
            for level in (1, concurrency):
                # Alternating rounds: the machine's load drifts, so bare and service are
                # measured in turn and the median of the per-round ratios is printed.
                pairs = []
                for _ in range(rounds):
                    base = await _one(transport, mode, bare, env, None, workdir, calls, level)
                    full = await _one(transport, mode, served, env, key, workdir, calls, level)
                    pairs.append((full, base))
                pairs.sort(key=lambda p: p[0] / p[1])
                full, base = pairs[len(pairs) // 2]
                label = "sequential" if level == 1 else f"{level} in flight"
                row(
                    f"tools/call {transport} {mode}, {label} (median of {rounds})",
                    f"{full:.0f} calls/s",
                    ">= 0.5x bare",
                    f"bare MCPServer {base:.0f} calls/s",
                    f"{full / base:.2f}x",
                )


async def _one(
    transport: str,
    mode: str,
    command: list[str],
    env: dict[str, str],
    key: str | None,
    workdir: Path,
    calls: int,
    concurrency: int,
) -> float:
    bare = key is None
    if transport == "memory":
        return await _in_memory(env["MCP_DATABASE_URL"], key, mode, calls, concurrency)
    if transport == "stdio":
        stdio_env = {"MCP_DATABASE_URL": env["MCP_DATABASE_URL"], "MCP_LIMITS_BASIC": BENCH_TIER}
        if not bare:
            stdio_env["MCP_API_KEY"] = key
        args = [*command, "stdio"] if bare else command
        async with stdio_client(args, stdio_env, mode) as client:
            return await throughput(client, calls, concurrency)
    args = [*command, "http"] if bare else [*command, "--transport", "http", "--port", "0"]
    async with http_server(args, env, workdir / "server.log") as url:
        http, client = http_client(url, mode, key)
        async with http, client:
            return await throughput(client, calls, concurrency)


async def _in_memory(url: str, key: str | None, mode: str, calls: int, concurrency: int) -> float:
    """The same comparison with no transport at all: what the pipeline itself costs."""
    from mcp import Client

    if key is None:
        async with Client(bare_server(), mode=mode) as client:
            return await throughput(client, calls, concurrency)
    from mcp_service import MCPService
    from mcp_service.config import Settings
    from mcp_service.protocol import build_server

    service = MCPService(
        Settings.from_env({"MCP_DATABASE_URL": url, "MCP_LIMITS_BASIC": BENCH_TIER})
    )
    await service.initialize()
    try:
        server = build_server(service, "stdio")
        client_id = (await service.validate_client_access(key)).client_id
        await server.router.open_stdio(client_id)
        async with Client(server, mode=mode) as client:
            return await throughput(client, calls, concurrency)
    finally:
        await service.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", choices=["stdio", "http"], help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transport", action="append", choices=["stdio", "http", "memory"])
    parser.add_argument("--mode", action="append", choices=["legacy", "auto"])
    args = parser.parse_args(argv)
    if args.bare:
        asyncio.run(run_bare(args.bare))
        return
    header()
    transports = args.transport or ["stdio", "http", "memory"]
    asyncio.run(
        measure(args.calls, args.concurrency, transports, args.mode or ["legacy"], args.rounds)
    )


if __name__ == "__main__":
    main()
