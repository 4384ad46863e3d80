"""The official MCP conformance suite's server scenarios, against `mcp-service serve`.

The server is a real `serve --transport http` process on the run's database,
with the tools the scenarios call (tests/conformance/tools.py) next to the
built-in ones. The suite's CLI cannot send a header, so it talks to a local
proxy that adds the client's API key (bearer_proxy.py). Each scenario runs in a
CLI process of its own, a few at once (each starts Node, ~1 s), and its checks are
read from the checks.json it writes.

Scenarios run: every server scenario of the suite's version (npm_suite.VERSION)
about a feature the service has. Left out, as features the service does not
have: completion-complete (no prompts to complete), tools-call-image/-audio/
-embedded-resource/-mixed-content (a tool's result is JSON: one text block and
structuredContent), tools-call-sampling, tools-call-elicitation,
elicitation-sep1034-defaults, elicitation-sep1330-enums (no tool asks the client
anything), prompts-* (none served); and resources-*, which read the suite's own
fixture resources (test://static-text, test://template/{id}/data, …) that a real
service does not serve: the service's resources, subscriptions and listen streams
have their own tests (tests/protocol/test_resources.py,
tests/integration/test_resources_http.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service import MCPService
from tests.conformance.bearer_proxy import bearer_proxy
from tests.conformance.npm_suite import Suite
from tests.integration.conftest import fetch_all
from tests.integration.mcp_peers import start_http_server, stop
from tests.toolkit import Step

pytestmark = [pytest.mark.conformance, pytest.mark.integration]

AT_ONCE = 4  # scenarios run side by side (each its own MCP session)

# Scenario -> its checks (id, status), INFO lines aside, in the order the suite writes them.
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "server-initialize": [("server-initialize", "SUCCESS")],
    "ping": [("ping", "SUCCESS")],
    "logging-set-level": [("logging-set-level", "SUCCESS")],
    "tools-list": [("tools-list", "SUCCESS")],
    "tools-call-simple-text": [("tools-call-simple-text", "SUCCESS")],
    "tools-call-with-logging": [("tools-call-with-logging", "SUCCESS")],
    "tools-call-error": [("tools-call-error", "SUCCESS")],
    "tools-call-with-progress": [("tools-call-with-progress", "SUCCESS")],
    "json-schema-2020-12": [
        ("json-schema-2020-12-tool-found", "SUCCESS"),
        ("json-schema-2020-12-$schema", "SUCCESS"),
        ("json-schema-2020-12-$defs", "SUCCESS"),
        ("json-schema-2020-12-additionalProperties", "SUCCESS"),
    ],
    "server-sse-multiple-streams": [
        ("server-accepts-multiple-post-streams", "SUCCESS"),
        ("server-sse-streams-functional", "SUCCESS"),
    ],
    # Recommended, not required (SEP-1699): resumable streams need an event store, which the
    # server does not keep (README, "Protocol conformance"). test_reconnection is not a tool.
    "server-sse-polling": [
        ("server-sse-priming-event", "WARNING"),
        ("server-sse-retry-field", "WARNING"),
    ],
    "dns-rebinding-protection": [
        ("localhost-host-rebinding-rejected", "SUCCESS"),
        ("localhost-host-valid-accepted", "SUCCESS"),
    ],
}


async def run_scenario(suite: Suite, url: str, scenario: str, out: Path) -> list[tuple[str, str]]:
    """One scenario in a CLI process of its own; its checks other than INFO."""
    process = await asyncio.create_subprocess_exec(
        *suite.command,
        "server",
        "--url",
        url,
        "--scenario",
        scenario,
        "--output-dir",
        str(out),
        env=suite.env,
        cwd=out.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{scenario}: the conformance CLI did not finish in 120 s") from None
    written = sorted(out.glob("*/checks.json"))
    assert len(written) == 1, f"{scenario}: no checks.json:\n{output.decode()[-3000:]}"
    checks = json.loads(written[0].read_text())
    return [(c["id"], c["status"]) for c in checks if c["status"] != "INFO"]


async def test_the_official_conformance_scenarios_for_the_service_s_features(
    conformance_suite: Suite,
    database_url: str,
    service: MCPService,
    raw_db: AsyncEngine,
    tmp_path: Path,
    step: Step,
) -> None:
    registered = await service.register_client("conformance", "basic")
    server = start_http_server(
        database_url, tmp_path / "server.log", MCP_TOOL_MODULES="tests.conformance.tools"
    )
    try:
        async with bearer_proxy(server.base, registered.api_key) as proxy:
            turns = asyncio.Semaphore(AT_ONCE)

            async def run(scenario: str) -> list[tuple[str, str]]:
                async with turns:
                    url = f"{proxy}/mcp"
                    return await run_scenario(conformance_suite, url, scenario, tmp_path / scenario)

            found = await asyncio.gather(*(run(scenario) for scenario in EXPECTED))
            results = dict(zip(EXPECTED, found, strict=True))
    finally:
        assert stop(server) == 0
    assert results == EXPECTED
    step(f"{len(EXPECTED)} scenarios: every required check passes; 2 SSE resumability warnings")

    rows = await fetch_all(
        raw_db,
        "SELECT tool_name, status FROM tool_executions WHERE client_id = :c ORDER BY tool_name",
        c=registered.client_id,
    )
    assert [(r.tool_name, r.status) for r in rows] == [
        ("test_error_handling", "error"),
        ("test_reconnection", "error"),
        ("test_simple_text", "success"),
        ("test_tool_with_logging", "success"),
        ("test_tool_with_progress", "success"),
    ]
    step("Every tool call the scenarios made is recorded, the unknown test_reconnection too")
