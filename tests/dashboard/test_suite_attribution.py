"""The realistic suite under mcp-dashboard's plugin, two workers: each row carries its test's trace.

Tests of tests/integration that reach the service every way the suite does (straight
in process, through the in-memory client, through the stdio and HTTP servers they
start, a thousand calls at once, refusals) run as one real pytest child, through the
runner with the plugin and `-n 2`, on a database made for the run. The plugin's
stream, reduced as the dashboard reduces it, names each test's trace; call_counter.py
writes down each tool call where the test makes it. Then the database must say the
same, exactly: each execution row carries the trace of the test whose call made it.

Run once per engine (the module's fixture), asserted by the tests below.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from mcp_dashboard.events import Event
from mcp_dashboard.runner import Run, RunConfig, sqlite_url
from mcp_dashboard.state import RunState, reduce_all
from mcp_dashboard.status import TestStatus
from tests.dashboard.call_counter import CALL_LOG_ENV
from tests.dashboard.helpers import ROOT
from tests.databases import postgres_database
from tests.integration.conftest import fetch_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.database,
    pytest.mark.critical_path("tracing"),
]

PROTOCOL = "tests/integration/test_mcp_protocol_realistic.py"
SERVICE = "tests/integration/test_mcp_service_realistic.py::TestMCPServiceRealisticIntegration"
SUBSET = (
    # 8 clients at once, 6 over HTTP and 2 over stdio, both protocol modes, 25 calls each.
    f"{PROTOCOL}::test_concurrent_clients_exact_counts",
    # Every tool and its refusals, through the HTTP server the module starts and shares.
    f"{PROTOCOL}::test_every_tool_over_http[legacy]",
    "tests/integration/test_protocol_in_memory.py"
    "::test_every_tool_and_the_readonly_refusal_through_the_in_memory_client[legacy]",
    "tests/integration/test_pipeline_concurrency.py"
    "::test_thousand_concurrent_calls_over_twenty_sessions_exact_counts",
    f"{SERVICE}::test_realistic_error_handling_and_resilience",
    f"{SERVICE}::test_realistic_end_to_end_user_scenario",
)
ROWS_BOUND = 100_000  # far above what the subset writes: every read is bounded


@dataclass(frozen=True)
class SuiteRun:
    state: RunState  # the plugin's stream, reduced as the dashboard reduces it
    output: str  # what pytest printed: says why, when a test of the subset failed
    calls: list[dict[str, Any]]  # call_counter.py's lines
    executions: list[tuple[str, str | None]]  # (id, trace_id) of every tool_executions row
    stamps: dict[str, list[str | None]]  # the trace_id of every clients and sessions row

    @property
    def traces(self) -> dict[str, str]:
        """Each test's trace id, as the plugin reported it."""
        return {nodeid: test.trace_id for nodeid, test in self.state.tests.items()}


async def run_subset(database_url: str, work: Path) -> SuiteRun:
    call_log = work / "calls.jsonl"
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", "-p", "tests.dashboard.call_counter", *SUBSET],
        cwd=ROOT,
        state_dir=work / "state",
        database_url=database_url,
        env={CALL_LOG_ENV: str(call_log)},
        workers=2,
    )
    events: list[Event] = []
    async with Run(config) as run:
        async for event in run:
            events.append(event)
        output = "\n".join(run.output)
    engine = create_async_engine(database_url)
    try:
        bound = {"bound": ROWS_BOUND}
        executions = await fetch_all(
            engine, "SELECT id, trace_id FROM tool_executions LIMIT :bound", **bound
        )
        stamps = {
            table: [
                row.trace_id
                for row in await fetch_all(
                    engine, f"SELECT trace_id FROM {table} LIMIT :bound", **bound
                )
            ]
            for table in ("clients", "sessions")
        }
    finally:
        await engine.dispose()
    calls = [json.loads(line) for line in call_log.read_text().splitlines()]
    return SuiteRun(
        reduce_all(events), output, calls, [(row.id, row.trace_id) for row in executions], stamps
    )


@pytest.fixture(scope="module")
def suite(database_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteRun]:
    """The subset, run once on a database of its own: its rows are the only rows there."""
    work = tmp_path_factory.mktemp("attribution")
    if database_backend == "postgresql":
        with postgres_database("mcp_attribution") as url:
            yield asyncio.run(run_subset(url, work))
    else:
        yield asyncio.run(run_subset(sqlite_url(work / "suite.db"), work))


def test_the_subset_passes_on_two_workers_each_test_in_a_trace_of_its_own(
    suite: SuiteRun,
) -> None:
    tests = suite.state.tests
    assert suite.state.exit_status == 0, suite.output
    assert {nodeid: test.status for nodeid, test in tests.items()} == dict.fromkeys(
        SUBSET, TestStatus.PASSED
    )
    assert all(len(trace_id) == 32 for trace_id in suite.traces.values())
    assert len(set(suite.traces.values())) == len(SUBSET)
    assert {test.worker for test in tests.values()} == {"gw0", "gw1"}


def test_every_call_was_counted_where_it_was_made_and_answered(suite: SuiteRun) -> None:
    """The counts are the tests' own: made in process and through stdio and HTTP servers,
    each answered with an execution id, or refused before the pipeline recorded it."""
    assert {call["nodeid"] for call in suite.calls} == set(SUBSET)
    by_way = Counter(call["via"] for call in suite.calls)
    assert set(by_way) == {"pipeline", "stdio_client", "streamable_http_client"}
    # At least: 1,000 calls at once in one test; 8 clients of 25 calls each in another.
    assert by_way["pipeline"] >= 1000 and by_way["stdio_client"] >= 2 * 25
    assert by_way["streamable_http_client"] >= 6 * 25
    assert [c for c in suite.calls if c["outcome"] == "raised"] == []
    # The one refusal the subset makes on purpose: a call by a client that does not
    # exist has no client to record a row against (pipeline.py), so it has no id.
    refused = [(c["nodeid"], c["via"]) for c in suite.calls if c["outcome"] == "refused"]
    assert refused == [(f"{SERVICE}::test_realistic_error_handling_and_resilience", "pipeline")]


def test_every_execution_row_carries_the_trace_of_the_test_that_made_it(suite: SuiteRun) -> None:
    tests_of = {trace_id: nodeid for nodeid, trace_id in suite.traces.items()}
    strays = [(rid, trace_id) for rid, trace_id in suite.executions if trace_id not in tests_of]
    assert strays == []
    rows_of: dict[str, set[str]] = {nodeid: set() for nodeid in SUBSET}
    for rid, trace_id in suite.executions:
        assert trace_id is not None
        rows_of[tests_of[trace_id]].add(rid)
    answered: dict[str, list[str]] = {nodeid: [] for nodeid in SUBSET}
    made: Counter[str] = Counter()
    for call in suite.calls:
        made[call["nodeid"]] += 1
        if call["outcome"] == "answered":
            answered[call["nodeid"]].append(call["execution_id"])
    refused = Counter(c["nodeid"] for c in suite.calls if c["outcome"] == "refused")
    for nodeid in SUBSET:
        # Exact counts: one row per call the test made that reached the pipeline …
        assert len(rows_of[nodeid]) == made[nodeid] - refused[nodeid], nodeid
        # … and they are the very rows its calls were answered with.
        assert sorted(rows_of[nodeid]) == sorted(answered[nodeid]), nodeid
    assert len(suite.executions) == sum(made.values()) - sum(refused.values())


def test_every_client_and_session_row_carries_a_trace_of_the_run(suite: SuiteRun) -> None:
    """Clients registered by the tests, and sessions opened in process, by the HTTP
    server per connection, and by each stdio server at its start (TRACEPARENT)."""
    traces = set(suite.traces.values())
    for table, stamps in suite.stamps.items():
        assert stamps, table
        assert [t for t in stamps if t not in traces] == [], table
