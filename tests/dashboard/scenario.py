"""A fixed run of the realistic suite's shape: events with fixed times, so pictures are stable."""

from __future__ import annotations

from mcp_dashboard.events import (
    CollectedTest,
    Collection,
    Crash,
    Event,
    RunFinish,
    Step,
    TestReport,
    TestStart,
)
from tests.dashboard.builders import start

T0 = 1_800_000_000.0
FILE = "tests/integration/test_mcp_service_realistic.py"
CLASS = "TestMCPServiceRealisticIntegration"

TESTS = [
    (
        "registration",
        "test_realistic_client_registration_with_database_persistence",
        0.91,
        ["Successfully registered client: 4be1c0de", "Concurrent registrations: 100/100 rows"],
    ),
    (
        "permissions",
        "test_realistic_permission_validation_with_real_auth",
        0.29,
        ["Admin client permissions validated", "Revoked key refused on the very next request"],
    ),
    (
        "sessions",
        "test_realistic_session_lifecycle_management",
        0.62,
        ["Created 3 sessions", "Session cleanup: 2 inactive sessions expired, 5 still open"],
    ),
    (
        "tools",
        "test_realistic_tool_execution_pipeline",
        0.17,
        ["echo executed and recorded in the database"],
    ),
    (
        "lifecycle",
        "test_realistic_service_initialization_and_stability",
        0.07,
        ["Service initialized on a new database file"],
    ),
    (
        "end_to_end",
        "test_realistic_end_to_end_user_scenario",
        0.07,
        ["Enterprise client registered: 9a7f3e21", "Session processed 6 requests"],
    ),
    (
        "resilience",
        "test_realistic_error_handling_and_resilience",
        0.14,
        ["10 bad registrations rejected; no partial rows"],
    ),
    (
        "resilience",
        "test_realistic_concurrent_operations_stress",
        1.65,
        ["10 clients opened 50 sessions concurrently"],
    ),
]
FAILING = "test_realistic_tool_execution_pipeline"
TRACEBACK = """\
    async def test_realistic_tool_execution_pipeline(self, service, raw_db, tag, step):
        ...
>       assert found.result["total"] == 1
E       assert 2 == 1

tests/integration/test_mcp_service_realistic.py:352: AssertionError"""


def nodeid(name: str) -> str:
    return f"{FILE}::{CLASS}::{name}"


def events(*, finished: bool = True) -> list[Event]:
    out: list[Event] = [
        start(T0, rootdir="/repo", args=(FILE,), pid=4242),
        Collection(
            time=T0 + 0.3,
            tests=tuple(
                CollectedTest(nodeid=nodeid(n), critical_path=p, file=FILE, line=60 + i, name=n)
                for i, (p, n, _, _) in enumerate(TESTS)
            ),
            total=len(TESTS),
        ),
    ]
    clock = T0 + 0.4
    for i, (_, name, duration, steps) in enumerate(TESTS):
        node = nodeid(name)
        out.append(TestStart(time=clock, nodeid=node, file=FILE, line=60 + i))
        for k, message in enumerate(steps):
            out.append(
                Step(time=clock + 0.01 * (k + 1), nodeid=node, index=k, message=f"✓ {message}")
            )
        if not finished and i == len(TESTS) - 2:
            break  # the last but one test is still running
        failed = name == FAILING
        out.append(
            TestReport(
                time=clock,
                nodeid=node,
                when="setup",
                outcome="passed",
                category="passed",
                duration=0.01,
            )
        )
        out.append(
            TestReport(
                time=clock + duration,
                nodeid=node,
                when="call",
                outcome="failed" if failed else "passed",
                category="failed" if failed else "passed",
                duration=duration,
                longrepr=TRACEBACK if failed else "",
                crash=Crash(path=f"/repo/{FILE}", lineno=352, message="assert 2 == 1")
                if failed
                else None,
                stdout="✓ echo executed and recorded in the database\n" if failed else "",
            )
        )
        out.append(
            TestReport(
                time=clock + duration,
                nodeid=node,
                when="teardown",
                outcome="passed",
                category="passed",
                duration=0.0,
            )
        )
        clock += duration + 0.02
    if finished:
        out.append(
            RunFinish(
                time=clock + 0.1,
                exit_status=1,
                totals={"passed": 7, "failed": 1},
                duration=clock + 0.1 - T0,
            )
        )
    return out
