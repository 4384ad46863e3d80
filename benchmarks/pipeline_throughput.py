"""In-process `execute_tool("echo")` throughput against a raw sqlite3 commit loop.

The pipeline is what every tools/call pays once the key is checked: admission
(one read of the caller's client and session rows), permission and schema checks,
the tool, and one execution row committed — with the session's request count
and the client's last-active time — before the caller is answered.

Baseline, measured in the same run on the same database file: a plain sqlite3
loop doing exactly that durable work and nothing else — BEGIN IMMEDIATE, insert
one tool_executions row, bump the session, touch the client, COMMIT — with no
framework, no admission and no event loop. It is the floor of "one committed
row per call" on this disk, so the ratio says how close the pipeline gets to
the commit cost it cannot avoid; concurrent calls can beat it (ratio > 1)
because group commit writes many rows per transaction. A bare `await echo()`
loop would be a useless baseline here: ~0.5 µs, thousands of times faster than
any call that has to reach the disk.

Printed, never asserted (the machine is shared and noisy): the median of a few
rounds, baseline and pipeline interleaved.

    python benchmarks/pipeline_throughput.py
    python benchmarks/pipeline_throughput.py --calls 4000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, row

from mcp_dashboard.tracing import TestSpans
from mcp_service import MCPService
from mcp_service.config import Settings
from mcp_service.limits import DEFAULT_LIMITS, Limits, TierLimits

MESSAGE = "benchmark " * 8
LEVELS = (1, 8, 64)

_INSERT = (
    "INSERT INTO tool_executions (id, session_id, client_id, tool_name, arguments, result, "
    "status, error_message, duration_ms, started_at, finished_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_BUMP = (
    "UPDATE sessions SET request_count = request_count + 1, last_activity_at = ? "
    "WHERE id = ? AND status = 'open'"
)
_TOUCH = "UPDATE clients SET last_active_at = ? WHERE id = ?"


def raw_commits_per_second(path: Path, client_id: str, session_id: str, calls: int) -> float:
    """The baseline: one call's durable work per transaction, straight through sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("PRAGMA synchronous=NORMAL")
        arguments = json.dumps({"message": MESSAGE})
        result = json.dumps({"message": MESSAGE, "length": len(MESSAGE)})
        start = time.perf_counter()
        for _ in range(calls):
            now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                _INSERT,
                (
                    str(uuid.uuid4()),
                    session_id,
                    client_id,
                    "echo",
                    arguments,
                    result,
                    "success",
                    None,
                    0.01,
                    now,
                    now,
                ),
            )
            conn.execute(_BUMP, (now, session_id))
            conn.execute(_TOUCH, (now, client_id))
            conn.execute("COMMIT")
        return calls / (time.perf_counter() - start)
    finally:
        conn.close()


async def pipeline_calls_per_second(
    service: MCPService, sessions: list[tuple[str, str]], calls: int, concurrency: int
) -> float:
    """`calls` echo calls through `execute_tool`, `concurrency` in flight, one session each."""

    async def worker(session_id: str, client_id: str, n: int) -> None:
        for _ in range(n):
            record = await service.execute_tool(
                session_id, "echo", {"message": MESSAGE}, client_id=client_id
            )
            assert record.status == "success"

    shares = [calls // concurrency + (i < calls % concurrency) for i in range(concurrency)]
    start = time.perf_counter()
    await asyncio.gather(
        *(worker(*sessions[i], n) for i, n in enumerate(shares)),
    )
    return calls / (time.perf_counter() - start)


async def measure(calls: int, rounds: int) -> None:
    path = Path(tempfile.mkdtemp(prefix="mcp-pipeline-")) / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    # One client sends every call: its tier is sized for that, so the limits are checked on
    # every call without refusing any; the same pipeline without limits is the second figure.
    busy = TierLimits(calls_per_second=1e12, burst=2**40, in_flight=2**20, sessions=2**20)
    limited = MCPService(
        Settings(database_url=url, limits=Limits({**DEFAULT_LIMITS, "basic": busy}))
    )
    unlimited = MCPService(Settings(database_url=url, limits=Limits.off()))
    await limited.initialize()
    await unlimited.initialize()
    try:
        client = (await limited.register_client("pipeline benchmark", "basic")).client_id
        sessions = [
            ((await limited.create_session(client)).session_id, client) for _ in range(max(LEVELS))
        ]
        for service in (limited, unlimited):
            for _ in range(50):  # warm up: statements compiled, connections open, caches hot
                await service.execute_tool(
                    sessions[0][0], "echo", {"message": "x"}, client_id=client
                )

        baseline: list[float] = []
        rates: dict[int, list[float]] = {level: [] for level in LEVELS}
        costs: dict[int, list[float]] = {level: [] for level in LEVELS}
        stamping: dict[int, list[float]] = {level: [] for level in LEVELS}

        async def traced(level: int) -> float:
            spans = TestSpans()  # as a traced test calls: every row stamped and indexed
            spans.begin_test("bench.py::test_traced")
            try:
                return await pipeline_calls_per_second(limited, sessions, calls, level)
            finally:
                spans.end_test()

        variants: dict[str, Callable[[int], Awaitable[float]]] = {
            "limits": lambda level: pipeline_calls_per_second(limited, sessions, calls, level),
            "no limits": lambda level: pipeline_calls_per_second(unlimited, sessions, calls, level),
            "traced": traced,
        }
        for n in range(rounds):
            # The raw loop writes while the service is idle, so the two never contend.
            baseline.append(
                await asyncio.to_thread(raw_commits_per_second, path, client, sessions[0][0], calls)
            )
            # Every call adds a row, so a later measurement writes to a bigger table: the
            # three variants take turns going first, or the last would always look slower.
            order = list(variants)[n % 3 :] + list(variants)[: n % 3]
            for level in LEVELS:
                measured = {name: await variants[name](level) for name in order}
                rates[level].append(measured["limits"])
                costs[level].append(measured["limits"] / measured["no limits"])
                stamping[level].append(measured["traced"] / measured["limits"])
    finally:
        await limited.shutdown()
        await unlimited.shutdown()

    base = statistics.median(baseline)
    for level in LEVELS:
        rate = statistics.median(rates[level])
        label = "sequential" if level == 1 else f"{level} concurrent"
        row(
            f"execute_tool echo in-process, {label}",
            f"{rate:.0f} calls/s",
            "-",
            f"raw sqlite3 row+commit {base:.0f}/s",
            f"{rate / base:.2f}x",
        )
    ratio_rows(
        "per-client limits checked",
        costs,
        rounds,
        ">= 0.95x (limits cost <= 5 %)",
        "the same pipeline, limits off",
    )
    ratio_rows(
        "rows stamped with the caller's trace",
        stamping,
        rounds,
        ">= 0.97x (stamping costs <= 3 %)",
        "the same pipeline, called outside a trace",
    )


def ratio_rows(
    figure: str, ratios: dict[int, list[float]], rounds: int, target: str, baseline: str
) -> None:
    """One row per concurrency level: the median of the rounds' ratios to the baseline."""
    for level in LEVELS:
        label = "sequential" if level == 1 else f"{level} concurrent"
        ratio = statistics.median(ratios[level])
        row(
            f"{figure}, {label} (median ratio of {rounds} rounds)",
            f"{ratio:.3f}x",
            target,
            baseline,
            f"{ratio:.2f}x",
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="rounds, taking turns going first; the median is printed",
    )
    args = parser.parse_args(argv)
    header()
    asyncio.run(measure(args.calls, args.rounds))


if __name__ == "__main__":
    main()
