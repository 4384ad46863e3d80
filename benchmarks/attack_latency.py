"""A victim's echo latency while one abusive client attacks the same HTTP server.

For each attack of the hardening issue, one abusive client (basic tier, default
limits: it may call every tool the attacks need) runs the attack in a loop
against a real `mcp-service serve --transport http` while a victim client (its
own key) calls `echo` sequentially. The victim's
p50/p99 under attack is printed as a ratio to the same p50/p99 with no attack,
measured in the same run. Target: p99 within 5x of idle.

Two of the attacks are the per-client limits at work: a flood of calls past its
limit (a readonly client, whose tier this server allows 5 calls a second: a basic
client on a loaded machine could not send more than its 50), and a basic client
keeping its 16 calls in flight while retrying for more, with a tool of this
module's own (`hold`, served with MCP_TOOL_MODULES=benchmarks.attack_latency: it
waits for its deadline without touching the database).

Also: how long SIGTERM takes to end a server holding 3,000 open sessions, against
one holding none (the first HTTP server took 19 s with 10,000).

    python benchmarks/attack_latency.py
    python benchmarks/attack_latency.py --calls 500
    python benchmarks/attack_latency.py --attack limit  # only attacks whose name has "limit"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
from _common import PYTHON, ROOT, header, row

from mcp_service.permissions import Permission
from mcp_service.tools import Tool, ToolContext

READY = "serving MCP over streamable HTTP at "
# The victim's tier (admin) is sized for a benchmark; the abuser keeps the basic defaults;
# the flooder's (readonly) is small enough that its flood is past it on any machine.
SERVER_ENV = {
    "MCP_LIMITS_ADMIN": "calls_per_second=100000,burst=100000,in_flight=10000",
    "MCP_LIMITS_READONLY": "calls_per_second=5,burst=10",
    "MCP_TOOL_MODULES": "benchmarks.attack_latency",  # the `hold` tool below
}


async def _hold(_ctx: ToolContext, _args: dict[str, Any]) -> dict[str, Any]:
    """Wait until the call's deadline cancels it (or its client leaves)."""
    await asyncio.Event().wait()
    return {}


# The tools the benchmark's server adds (MCP_TOOL_MODULES).
TOOLS = (
    Tool(
        name="hold",
        description="Wait for the call's deadline without touching the database.",
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        permission=Permission.READ,
        handler=_hold,
        uses_database=False,
    ),
)
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}


def headers(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }


async def start_server(url: str, log: Path, **env: str) -> tuple[asyncio.subprocess.Process, str]:
    with log.open("w") as sink:
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "mcp_service.cli",
            "serve",
            "--transport",
            "http",
            "--port",
            "0",
            cwd=ROOT,
            env={**os.environ, "MCP_DATABASE_URL": url, **SERVER_ENV, **env},
            stdout=sink,
            stderr=sink,
        )
    deadline = time.monotonic() + 30
    while READY not in (text := await asyncio.to_thread(log.read_text)):
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {text[-2000:]}")
        await asyncio.sleep(0.05)
    return proc, text.split(READY, 1)[1].split()[0]


async def victim_latencies(url: str, key: str, calls: int) -> list[float]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"})
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        for _ in range(20):
            await client.call_tool("echo", {"message": "warm"})
        seconds = []
        for n in range(calls):
            start = time.perf_counter()
            result = await client.call_tool("echo", {"message": f"victim {n}"})
            seconds.append(time.perf_counter() - start)
            assert not result.is_error, result
    return seconds


# -- the attacks: each loops until cancelled ------------------------------------------------


async def loop_posts(url: str, key: str, body: bytes, **extra: str) -> None:
    async with httpx2.AsyncClient(timeout=60) as http:
        while True:
            await http.post(url, headers={**headers(key), **extra}, content=body)


def tool_call(name: str, arguments: dict[str, Any]) -> bytes:
    params = {
        "name": name,
        "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    }
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    ).encode()


def modern(tool: str) -> dict[str, str]:
    """The headers the 2026-07-28 protocol asks of a tools/call."""
    return {"MCP-Protocol-Version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": tool}


async def quadratic_tags(url: str, key: str) -> None:
    tags = {"title": "t", "body": "b", "tags": [{"k": i} for i in range(2_500)]}
    await loop_posts(url, key, tool_call("corpus_add", tags), **modern("corpus_add"))


async def huge_body(url: str, key: str) -> None:
    body = tool_call("analyze_workload", {"samples": [-1] * 1_000_000})
    await loop_posts(url, key, body, **modern("analyze_workload"))


async def repeated_token_search(url: str, key: str) -> None:
    query = tool_call("corpus_search", {"query": "a " * 32})
    await loop_posts(url, key, query, **modern("corpus_search"))


async def session_hoarding(url: str, key: str) -> None:
    await loop_posts(url, key, json.dumps(INIT).encode())


async def wrong_keys(url: str, _key: str) -> None:
    n = 0
    async with httpx2.AsyncClient(timeout=60) as http:
        while True:
            n += 1
            await http.post(url, headers=headers(f"mcp_{n:016x}_{'x' * 43}"), content=b"{}")


async def slow_connections(url: str, _key: str) -> None:
    address = httpx2.URL(url)
    held = []
    try:
        for _ in range(300):
            _reader, writer = await asyncio.open_connection(address.host, address.port)
            writer.write(b"POST /mcp HTTP/1.1\r\nhost: x\r\n")
            held.append(writer)
        await asyncio.Event().wait()
    finally:
        for writer in held:
            writer.close()


# Words sharing prefixes, all in each document's title and none in its 99,990-letter body:
# the snippet's regular expression once scanned every body with them (0.23 s a document).
PREFIX_WORDS = " ".join("a" * k + "b" for k in range(1, 18))
PREFIX_DOCUMENTS = 100


async def prefix_word_searches(url: str, key: str) -> None:
    query = tool_call("corpus_search", {"query": PREFIX_WORDS, "limit": 100})
    await asyncio.gather(
        *(loop_posts(url, key, query, **modern("corpus_search")) for _ in range(8))
    )


async def concurrent_writes(url: str, key: str) -> None:
    body = tool_call("corpus_add", {"title": "t", "body": "word " * 10_000})
    await asyncio.gather(*(loop_posts(url, key, body, **modern("corpus_add")) for _ in range(8)))


async def hang_ups(url: str, key: str) -> None:
    """Clients that send a 50 KB corpus_add and hang up 50 ms later, mid-call."""
    body = tool_call("corpus_add", {"title": "t", "body": "word " * 10_000})
    sent = {**headers(key), **modern("corpus_add")}

    async def one() -> None:
        async with httpx2.AsyncClient(timeout=0.05) as http:
            while True:
                with contextlib.suppress(httpx2.TimeoutException):
                    await http.post(url, headers=sent, content=body)

    await asyncio.gather(*(one() for _ in range(8)))


async def large_valid_calls(url: str, key: str) -> None:
    samples = [{"latency_ms": float(i % 997)} for i in range(10_000)]
    body = tool_call("analyze_workload", {"samples": samples})
    await loop_posts(url, key, body, **modern("analyze_workload"))


async def call_flood(url: str, key: str) -> None:
    """Echo calls of the flooder on 4 connections, each sent as soon as the last is answered:
    past its 5 a second (its burst of 10 first), every call is refused and recorded."""
    body = tool_call("echo", {"message": "flood"})
    await asyncio.gather(*(loop_posts(url, key, body, **modern("echo")) for _ in range(4)))


async def held_in_flight(url: str, key: str) -> None:
    """17 connections calling `hold`: 16 calls in flight (the basic tier's limit) until their
    deadline, and the 17th refused, again and again."""
    body = tool_call("hold", {})
    await asyncio.gather(*(loop_posts(url, key, body, **modern("hold")) for _ in range(17)))


ATTACKS: list[tuple[str, Callable[[str, str], Awaitable[None]]]] = [
    ("2,500 object tags (quadratic uniqueItems)", quadratic_tags),
    ("4 MB bodies of a million samples", huge_body),
    ("repeated-token searches", repeated_token_search),
    ("opening sessions past its limit", session_hoarding),
    ("wrong keys", wrong_keys),
    ("300 slowloris connections", slow_connections),
    ("10,000-sample calls (valid, the largest allowed)", large_valid_calls),
    ("8 searches at once, 17 prefix words over 100 long documents", prefix_word_searches),
    ("8 corpus_add calls of 50 KB at once", concurrent_writes),
    ("8 clients hanging up 50 ms into a corpus_add", hang_ups),
    ("a flood of calls over the per-second limit", call_flood),
    ("a client holding its in-flight limit", held_in_flight),
]


async def measure(calls: int, only: str = "") -> None:
    from mcp_service import MCPService
    from mcp_service.config import Settings
    from mcp_service.limits import Limits

    work = Path(tempfile.mkdtemp(prefix="mcp-attack-"))
    url = f"sqlite+aiosqlite:///{work / 'attack.db'}"
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    victim = (await service.register_client("victim", "admin")).api_key
    abuser = await service.register_client("abuser", "basic")
    flooder = (await service.register_client("flooder", "readonly")).api_key
    await service.shutdown()
    # The abuser's own documents (a search reads only its caller's corpus), added once.
    writer = MCPService(Settings(database_url=url, limits=Limits.off()))
    await writer.initialize()
    session = await writer.create_session(abuser.client_id)
    documents = [{"title": "a", "body": " ".join(["a"] * 50_000)}]
    documents += [{"title": PREFIX_WORDS, "body": "a" * 99_990}] * PREFIX_DOCUMENTS
    for document in documents:
        await writer.execute_tool(
            session.session_id, "corpus_add", document, client_id=abuser.client_id
        )
    await writer.close_session(session.session_id)
    await writer.shutdown()

    proc, mcp_url = await start_server(url, work / "server.log")
    try:
        idle = await victim_latencies(mcp_url, victim, calls)
        p50, p99 = percentiles(idle)
        row("victim echo p50, no attack", f"{p50 * 1000:.2f} ms", "-", "-", "1.00x")
        row("victim echo p99, no attack", f"{p99 * 1000:.2f} ms", "-", "-", "1.00x")
        for name, attack in ATTACKS:
            if only not in name:
                continue
            key = flooder if attack is call_flood else abuser.api_key
            task = asyncio.create_task(attack(mcp_url, key))
            await asyncio.sleep(0.5)  # the attack is under way
            under = await victim_latencies(mcp_url, victim, calls)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            a50, a99 = percentiles(under)
            base = f"idle p50 {p50 * 1000:.2f} ms / p99 {p99 * 1000:.2f} ms"
            row(
                f"victim echo p50 during {name}",
                f"{a50 * 1000:.2f} ms",
                "-",
                base,
                f"{a50 / p50:.2f}x",
            )
            row(
                f"victim echo p99 during {name}",
                f"{a99 * 1000:.2f} ms",
                "<= 5x idle",
                base,
                f"{a99 / p99:.2f}x",
            )
    finally:
        proc.terminate()
        await proc.wait()
    if not only:
        await shutdown_rows(url, work)


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def shutdown_seconds(url: str, work: Path, key: str, sessions: int) -> float:
    proc, mcp_url = await start_server(
        url, work / f"shutdown-{sessions}.log", MCP_LIMITS_ADMIN="sessions=100000"
    )
    async with httpx2.AsyncClient(timeout=60) as http:
        for _ in range(sessions):
            response = await http.post(mcp_url, headers=headers(key), content=json.dumps(INIT))
            assert response.status_code == 200, response.text
    start = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    await proc.wait()
    return time.perf_counter() - start


async def shutdown_rows(url: str, work: Path) -> None:
    from mcp_service import MCPService
    from mcp_service.config import Settings

    service = MCPService(Settings(database_url=url))
    await service.initialize()
    key = (await service.register_client("crowd", "admin")).api_key
    await service.shutdown()
    empty = await shutdown_seconds(url, work, key, 0)
    full = await shutdown_seconds(url, work, key, 3_000)
    row(
        "SIGTERM to exit, 3,000 open sessions",
        f"{full:.2f} s",
        "fast (was 19 s at 10,000)",
        f"no sessions {empty:.2f} s",
        f"{full / empty:.2f}x",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--attack", default="", help="only the attacks whose name contains this (no shutdown row)"
    )
    args = parser.parse_args(argv)
    header()
    asyncio.run(measure(args.calls, args.attack))


if __name__ == "__main__":
    main()
