"""tools/call throughput through HTTP with 1, 2 and 3 service processes on one database.

Each process is a real `mcp-service serve --transport http`; each has its own
load process (the official SDK client, `--concurrency` calls in flight), so the
client is not the bottleneck of one process. All load processes start at one
agreed instant; throughput is all calls over the time until the last one ends.
SQLite (one file) and PostgreSQL (a database made for this run, dropped after)
are measured in the same run, each row with its scaling factor against one
process of the same engine. Printed, never asserted.

On a machine with few cores the servers, the load and the database share them:
the factor then measures contention for the machine, not what more machines
would give. `os.cpu_count()` is printed in every row.

    python benchmarks/scale_out.py
    python benchmarks/scale_out.py --calls 3000 --concurrency 16 --engine postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import BENCH_TIER, PYTHON, ROOT, header, row
from protocol_throughput import http_client, http_server

SCRIPT = str(Path(__file__).resolve())
PROCESS_COUNTS = (1, 2, 3)
CLIENTS = 3  # registered clients; each load process uses all of them


# -- one load process: drives one server, reports when it finished -----------------------


async def load(url: str, keys: list[str], calls: int, concurrency: int, start_at: float) -> None:
    async with AsyncExitStack() as stack:
        clients = []
        for key in keys:
            http, client = http_client(url, "legacy", key)
            await stack.enter_async_context(http)
            clients.append(await stack.enter_async_context(client))
        for client in clients:  # warm: first key check, first statements
            assert not (await client.call_tool("echo", {"message": "warm"})).is_error
        await asyncio.sleep(max(0.0, start_at - time.time()))

        async def worker(n: int, client: Any) -> None:
            for _ in range(n):
                result = await client.call_tool("echo", {"message": "scale out " * 8})
                assert not result.is_error, result

        shares = [calls // concurrency + (i < calls % concurrency) for i in range(concurrency)]
        await asyncio.gather(*(worker(n, clients[i % len(clients)]) for i, n in enumerate(shares)))
    print(json.dumps({"finished": time.time(), "calls": calls}))


# -- the run -------------------------------------------------------------------------------


@contextlib.contextmanager
def database(engine: str, workdir: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'scale.db'}"
        return
    from tests.databases import postgres_database

    with postgres_database("mcp_bench") as url:
        yield url


@asynccontextmanager
async def servers(url: str, count: int, workdir: Path) -> Any:
    env = {**os.environ, "MCP_DATABASE_URL": url, "MCP_LIMITS_BASIC": BENCH_TIER}
    command = [PYTHON, "-m", "mcp_service.cli", "serve", "--transport", "http", "--port", "0"]
    async with AsyncExitStack() as stack:
        urls = await asyncio.gather(
            *(
                stack.enter_async_context(http_server(command, env, workdir / f"s{n}.log"))
                for n in range(count)
            )
        )
        yield urls


async def throughput(
    url: str, processes: int, calls: int, concurrency: int, keys: list[str]
) -> float:
    workdir = Path(tempfile.mkdtemp(prefix="mcp-scale-"))
    async with servers(url, processes, workdir) as urls:
        start_at = time.time() + 3.0  # every load process connected and warm by then
        share = [calls // processes + (i < calls % processes) for i in range(processes)]
        loads = [
            await asyncio.create_subprocess_exec(
                PYTHON,
                SCRIPT,
                "--load",
                json.dumps([server_url, keys, n, concurrency, start_at]),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            for server_url, n in zip(urls, share, strict=True)
        ]
        outputs = [await proc.communicate() for proc in loads]
        if any(proc.returncode for proc in loads):
            raise RuntimeError("a load process failed")
    finished = max(json.loads(out.splitlines()[-1])["finished"] for out, _ in outputs)
    return calls / (finished - start_at)


async def register(url: str) -> list[str]:
    from mcp_service import MCPService
    from mcp_service.config import Settings

    service = MCPService(Settings(database_url=url))
    await service.initialize()
    try:
        return [
            (await service.register_client(f"scale {n}", "basic")).api_key for n in range(CLIENTS)
        ]
    finally:
        await service.shutdown()


def measure(engines: list[str], calls: int, concurrency: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for engine in engines:
        with database(engine, Path(tempfile.mkdtemp(prefix="mcp-scale-db-"))) as url:
            keys = asyncio.run(register(url))
            results[engine] = [
                asyncio.run(throughput(url, n, calls, concurrency, keys)) for n in PROCESS_COUNTS
            ]
    return results


def print_rows(results: dict[str, list[float]]) -> None:
    """Rows of the common table (`make bench`), each process count against one process."""
    cpus = os.cpu_count()
    for engine, rates in results.items():
        for n, rate in zip(PROCESS_COUNTS, rates, strict=True):
            row(
                f"tools/call HTTP, {n} process{'es' if n > 1 else ''} on {engine} ({cpus} CPUs)",
                f"{rate:.0f} calls/s",
                "grows with processes" if n > 1 else "-",
                f"1 process {rates[0]:.0f} calls/s",
                f"{rate / rates[0]:.2f}x",
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=1500, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=12, help="in flight per process")
    parser.add_argument("--engine", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    if args.load:
        asyncio.run(load(*json.loads(args.load)))
        return
    header()
    print_rows(measure(args.engine or ["sqlite", "postgresql"], args.calls, args.concurrency))


if __name__ == "__main__":
    main()
