"""A client over its calls-per-second or in-flight limit is refused; other clients are not.

Each test runs a real HTTP server whose basic tier allows 5 calls at once from a
full bucket, refilled at 0.01 call per second (nothing refills during a test), and
2 calls in flight. The abuser (basic) goes over a limit; a readonly victim, with
its own budget, opens a session and is answered while the abuser is held back.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.adversarial.conftest import Register, StartServer
from tests.adversarial.leaks import mcp_client
from tests.integration.conftest import fetch_all
from tests.toolkit import Step, text_of, until

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

BURST = 5
LIMITS = f"calls_per_second=0.01,burst={BURST},in_flight=2"
FLOOD = 15  # calls past the burst


async def statuses(raw_db: AsyncEngine, client_id: str) -> list[tuple[str, str]]:
    rows = await fetch_all(
        raw_db,
        "SELECT tool_name, status FROM tool_executions WHERE client_id = :c",
        c=client_id,
    )
    return sorted((r.tool_name, r.status) for r in rows)


async def test_a_flood_over_the_per_second_limit_is_refused_and_others_are_served(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("flooder"), await register("victim", "readonly")
    server = serve(MCP_LIMITS_BASIC=LIMITS)
    async with mcp_client(server.url, abuser.api_key) as bad:
        answers = [await bad.call_tool("echo", {"message": str(n)}) for n in range(BURST + FLOOD)]
        assert [a.is_error for a in answers] == [False] * BURST + [True] * FLOOD
        refused = answers[BURST:]
        assert {text_of(a) for a in refused} == {
            f"rate_limited: client {abuser.client_id} is over 0.01 calls per second "
            f"(burst {BURST}), the limit of its tier (basic)"
        }
        waits = [a.structured_content["retry_after"] for a in refused]
        # A token in 100 s from the empty bucket, each later refusal a little sooner.
        assert waits[-1] > 0
        assert waits[0] <= 100
        assert waits == sorted(waits, reverse=True)
        assert {a.structured_content["error"] for a in refused} == {"rate_limited"}
        step(f"{BURST} calls from a full bucket answered, the next {FLOOD}: rate_limited")

        async with mcp_client(server.url, victim.api_key) as good:
            echoed = await good.call_tool("echo", {"message": "served"})
        assert echoed.structured_content == {"message": "served", "length": 6}
        still = await bad.call_tool("echo", {"message": "again"})
        assert text_of(still) == text_of(refused[0])
    step("Meanwhile another client opened a session and was answered; the flooder still held")

    assert await statuses(raw_db, abuser.client_id) == sorted(
        [("echo", "success")] * BURST + [("echo", "rate_limited")] * (FLOOD + 1)
    )
    assert await statuses(raw_db, victim.client_id) == [("echo", "success")]
    step(f"{FLOOD + 1} rate_limited rows for the flooder, one success for the victim")


async def test_a_client_holding_its_in_flight_limit_is_refused_and_others_are_served(
    register: Register, serve: StartServer, tmp_path: Path, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("holder"), await register("victim", "readonly")
    report, gate = tmp_path / "queue.json", tmp_path / "gate"
    server = serve(
        MCP_LIMITS_BASIC=LIMITS,
        MCP_TOOL_MODULES="tests.adversarial.write_queue_tools",
        MCP_TOOL_TIMEOUT="120",
        MCP_TEST_QUEUE=str(report),
        MCP_TEST_GATE=str(gate),
    )

    def running() -> int:
        return int(json.loads(report.read_text())["running"]) if report.exists() else 0

    async with (
        mcp_client(server.url, abuser.api_key, read_timeout=120) as bad,
        mcp_client(server.url, victim.api_key, read_timeout=120) as good,
    ):
        held = [asyncio.create_task(bad.call_tool("gated_read", {})) for _ in range(2)]
        await until(lambda: running() == 2, "the abuser's 2 calls to be in flight")
        refused = [await bad.call_tool("echo", {"message": str(n)}) for n in range(3)]
        assert {text_of(a) for a in refused} == {
            f"rate_limited: client {abuser.client_id} has 2 calls in flight; "
            "the limit of its tier (basic) is 2"
        }
        assert [a.structured_content["retry_after"] for a in refused] == [1.0] * 3
        step("2 calls in flight: the abuser's 3 more calls were refused with retry_after 1 s")

        async with mcp_client(server.url, victim.api_key) as newcomer:
            first = await newcomer.call_tool("echo", {"message": "new session"})
        echoed = await good.call_tool("echo", {"message": "served"})
        assert not any(call.done() for call in held)
        assert first.structured_content == {"message": "new session", "length": 11}
        assert echoed.structured_content == {"message": "served", "length": 6}
        step("Another client opened a session and was answered while the abuser's calls held")
        gate.touch()
        done = [await call for call in held]
    assert [d.structured_content for d in done] == [{"held": True}] * 2
    assert await statuses(raw_db, abuser.client_id) == sorted(
        [("gated_read", "success")] * 2 + [("echo", "rate_limited")] * 3
    )
    assert await statuses(raw_db, victim.client_id) == [("echo", "success")] * 2
    step("3 rate_limited rows for the abuser; its held calls then finished")
