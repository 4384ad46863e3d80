"""Arguments built to be expensive: refused after bounded work, never at another client's cost.

Before: 2,500 object tags (31 KB) held the event loop for 10 s; `[-1] * 1_000_000`
(4 MB) took the process from 106 MB to 3.67 GB.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService, ValidationError
from tests.adversarial.conftest import (
    Register,
    StartServer,
    peak_rss_mb,
    post_raw,
    raw_http,
    rpc,
)
from tests.adversarial.leaks import mcp_client
from tests.integration.conftest import fetch_all
from tests.toolkit import Step, text_of

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("hostile clients")]

# What a server may take, at its peak, through every attack in this module (it starts
# at ~100 MB here; the 4 MB body once took it to 3.67 GB).
RSS_BOUND_MB = 300
TAGS_ATTACK = {"title": "t", "body": "b", "tags": [{"k": i} for i in range(2_500)]}


async def test_quadratic_tags_are_refused_at_once_while_another_client_is_served(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("tags abuser", "basic"), await register("victim", "readonly")
    server = serve()
    async with (
        mcp_client(server.url, abuser.api_key) as bad,
        mcp_client(server.url, victim.api_key) as good,
    ):
        attack = asyncio.create_task(bad.call_tool("corpus_add", TAGS_ATTACK))
        echoed = await good.call_tool("echo", {"message": "still here"})
        refused = await attack
    assert echoed.structured_content == {"message": "still here", "length": 10}
    assert refused.is_error
    assert text_of(refused) == (
        "invalid_input: invalid arguments for corpus_add: tags: 2500 items; the limit is 20"
    )
    step("2,500 object tags: refused after one len(); the victim's echo was answered")

    rows = await fetch_all(
        raw_db,
        "SELECT status, arguments FROM tool_executions WHERE client_id = :c",
        c=abuser.client_id,
    )
    [(status, arguments)] = [tuple(r) for r in rows]
    stored = json.loads(arguments) if isinstance(arguments, str) else arguments
    assert (status, stored) == ("error", {"_unrecordable": "arguments hold more than 4096 values"})
    assert peak_rss_mb(server.pid) < RSS_BOUND_MB
    step("One error row keeps the size of what was sent, not the 2,500 items")


async def test_a_four_megabyte_body_is_refused_before_it_is_read_into_memory(
    register: Register, serve: StartServer, raw_db: AsyncEngine, step: Step
) -> None:
    abuser, victim = await register("body abuser"), await register("victim", "readonly")
    server = serve()
    samples = {"samples": [-1] * 1_000_000}
    body = json.dumps(rpc("tools/call", {"name": "analyze_workload", "arguments": samples}))
    assert len(body) > 4_000_000
    # Declared: refused on the headers alone, before a byte of the body is read.
    declared = await raw_http(server.url, abuser.api_key, body.encode(), send_body=False)
    assert declared.startswith(b"HTTP/1.1 413 ")
    assert b"request body over 1048576 bytes" in declared
    # A client that sends the whole body before reading still gets the 413, not a reset.
    sent = await post_raw(server.url, abuser.api_key, body.encode())
    assert (sent.status_code, sent.json()["error"]["message"]) == (
        413,
        "request body over 1048576 bytes",
    )
    # Not declared (chunked): refused once the first 1 MiB has arrived.
    chunked = await raw_http(server.url, abuser.api_key, body.encode(), chunked=True)
    assert chunked.startswith(b"HTTP/1.1 413 ")
    async with mcp_client(server.url, victim.api_key) as good:
        assert not (await good.call_tool("echo", {"message": "ok"})).is_error
    assert peak_rss_mb(server.pid) < RSS_BOUND_MB
    assert (
        await fetch_all(
            raw_db, "SELECT id FROM tool_executions WHERE client_id = :c", c=abuser.client_id
        )
        == []
    )
    step(f"A {len(body) // 1_000_000} MB body, declared or chunked: 413, RSS under the bound")


async def test_a_million_items_cost_bounded_memory_in_process(service: MCPService) -> None:
    client = (await service.register_client("in-process abuser", "basic")).client
    session = await service.create_session(client.client_id)
    samples = {"samples": [-1] * 1_000_000}
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as refused:
            await service.execute_tool(
                session.session_id, "analyze_workload", samples, client_id=client.client_id
            )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.message == (
        "invalid arguments for analyze_workload: samples: 1000000 items; the limit is 10000"
    )
    # One error object, not one per item: the whole call allocates under a megabyte.
    assert peak < 1_000_000


async def test_the_largest_valid_call_runs_off_the_event_loop(
    register: Register, serve: StartServer, step: Step
) -> None:
    """10,000 samples in 1,000 batches: the victim is answered while it runs."""
    worker, victim = await register("heavy", "basic"), await register("victim", "readonly")
    server = serve()
    samples = [{"latency_ms": float(i % 997), "cost": 0.001} for i in range(10_000)]
    progressed = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        progressed.set()

    async with (
        mcp_client(server.url, worker.api_key) as heavy,
        mcp_client(server.url, victim.api_key) as good,
    ):
        work = asyncio.create_task(
            heavy.call_tool(
                "analyze_workload_batches",
                {"samples": samples, "batch_size": 10},
                progress_callback=on_progress,
            )
        )
        await progressed.wait()
        echoed = await good.call_tool("echo", {"message": "meanwhile"})
        assert not work.done(), "the victim was answered only after the heavy call"
        assert echoed.structured_content == {"message": "meanwhile", "length": 9}
        result = await work
    assert not result.is_error
    assert result.structured_content["overall"]["count"] == 10_000
    assert len(result.structured_content["batches"]) == 1_000
    assert peak_rss_mb(server.pid) < RSS_BOUND_MB
    step("10,000 samples checked and summarised in a thread: the victim was answered meanwhile")
