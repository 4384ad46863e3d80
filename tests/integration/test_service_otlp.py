"""`mcp-service serve` exports its spans to an OTLP backend, under the spans of the tests.

A suite runs through the dashboard's plugin, exporting its test spans to a real OTLP/HTTP
receiver; the server it calls, a real `serve` subprocess, exports to the same receiver
because OTEL_EXPORTER_OTLP_ENDPOINT says so. Decoded with opentelemetry-proto, one trace
holds both: the test, its call phase, the MCP SDK's `tools/call` span in the server, the
tool-call span, and the SQL statements the tool ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_dashboard.pytest_plugin import OTLP_ENV
from mcp_dashboard.tracing import TRACEPARENT, TestSpans
from mcp_service import MCPService
from mcp_service.span_export import EXTRA, ExportUnavailable, requested
from tests.dashboard.helpers import child_env, record
from tests.integration.conftest import fetch_all
from tests.integration.mcp_peers import UNLIMITED, http_client, start_http_server, stop
from tests.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver
from tests.toolkit import Step

pytestmark = [pytest.mark.integration, pytest.mark.critical_path("tracing")]

SERVICE_NAME = "mcp-service-under-test"
# In the arguments of the calls: no span may carry it.
MARKER = "zanzibarmarker"

SUITE = f"""
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def test_calls_the_service():
    headers = {{"Authorization": "Bearer " + os.environ["SERVICE_KEY"]}}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(os.environ["SERVICE_URL"], http_client=http)
        async with Client(transport, mode="legacy") as client:
            body = {{"title": "traced", "body": "a {MARKER} document"}}
            assert not (await client.call_tool("corpus_add", body)).is_error
            assert not (await client.call_tool("corpus_search", {{"query": "{MARKER}"}})).is_error
            denied = await client.call_tool("revoke_client", {{"client_id": "{MARKER}"}})
            assert denied.is_error
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as found:
        yield found


def operations(spans: list[ReceivedSpan]) -> set[str]:
    """The SQL verbs of statement spans (named "SELECT <database>" and so on)."""
    return {s.name.split()[0] for s in spans}


def texts(span: ReceivedSpan) -> list[str]:
    """Everything a span says in words: its name, status message and attribute values."""
    values: list[Any] = [span.name, span.status_message, *span.attributes.values()]
    return [str(v) for v in values]


async def test_a_tests_span_is_the_parent_of_the_servers_tool_calls_and_their_statements(
    service: MCPService,
    raw_db: AsyncEngine,
    database_url: str,
    receiver: Receiver,
    tmp_path: Path,
    step: Step,
) -> None:
    registered = await service.register_client("otlp", "basic")
    server = start_http_server(
        database_url,
        tmp_path / "server.log",
        **UNLIMITED,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_SERVICE_NAME=SERVICE_NAME,
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_calls.py").write_text(textwrap.dedent(SUITE))
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    env = child_env(SERVICE_URL=server.url, SERVICE_KEY=registered.api_key)
    for name in (TRACEPARENT, *OTLP_ENV):
        env.pop(name, None)
    try:
        recorded = await record(project, "--otlp-endpoint", receiver.url, env=env)
    finally:
        status = stop(server)  # SIGTERM: the server sends its last spans as it stops
    assert recorded.finish.exit_status == 0, server.log.read_text()[-3000:]
    assert status == 0
    step("A suite run through the plugin called the server 3 times; SIGTERM stopped it cleanly")

    spans = receiver.received()
    tests = [s for s in spans if s.resource["service.name"] == "pytest"]
    served = [s for s in spans if s.resource["service.name"] == SERVICE_NAME]
    (test,) = [s for s in tests if not s.parent_span_id]
    (call,) = [s for s in tests if s.name == "call" and s.parent_span_id == test.span_id]
    tools_call = sorted(
        (s for s in served if s.name.startswith("tools/call ")), key=lambda s: s.name
    )
    assert [s.name for s in tools_call] == [
        "tools/call corpus_add",
        "tools/call corpus_search",
        "tools/call revoke_client",
    ]
    for span in tools_call:
        assert (span.trace_id, span.parent_span_id) == (test.trace_id, call.span_id)
        assert span.attributes["mcp.method.name"] == "tools/call"
    step("The MCP SDK's 3 tools/call spans in the server are children of the test's call phase")

    rows = await fetch_all(
        raw_db,
        "SELECT id, tool_name, status, session_id, trace_id, span_id FROM tool_executions "
        "WHERE client_id = :c ORDER BY tool_name",
        c=registered.client.client_id,
    )
    assert [(r.tool_name, r.status) for r in rows] == [
        ("corpus_add", "success"),
        ("corpus_search", "success"),
        ("revoke_client", "denied"),
    ]
    tool_spans = []
    for outer, row in zip(tools_call, rows, strict=True):
        (tool,) = [s for s in served if s.parent_span_id == outer.span_id]
        tool_spans.append(tool)
        assert tool.name == f"execute_tool {row.tool_name}"
        assert tool.trace_id == row.trace_id == test.trace_id
        assert tool.span_id == row.span_id  # the row names its own call's span
        assert tool.attributes == {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": row.tool_name,
            "mcp.session.id": row.session_id,
            "mcp_service.client.id": registered.client.client_id,
            "mcp_service.execution.id": row.id,
            "mcp_service.execution.status": row.status,
            **({"error.type": "permission_denied"} if row.status == "denied" else {}),
        }
        assert tool.status_code == (2 if row.status == "denied" else 0)
        assert tool.status_message == ""
    step("Each has one execute_tool child: the row's id, status, session and span id")

    statements = [s for s in spans if any(k.startswith("db.system") for k in s.attributes)]
    (initialize,) = [s for s in served if s.name == "initialize"]
    by_parent = {
        parent.name: [s for s in statements if s.parent_span_id == parent.span_id]
        for parent in (initialize, *tool_spans)
    }
    assert len(statements) == sum(len(found) for found in by_parent.values())
    assert {s.trace_id for s in statements} == {test.trace_id}
    # "connect" is a new pooled connection; BEGIN is sent on SQLite, implied on PostgreSQL.
    plumbing = {"connect", "BEGIN"}
    assert "INSERT" in operations(by_parent["initialize"])  # the session's row
    assert {"INSERT", "UPDATE"} <= operations(by_parent["execute_tool corpus_add"])
    assert operations(by_parent["execute_tool corpus_add"]) - plumbing <= {
        "SELECT",
        "INSERT",
        "UPDATE",
    }
    assert operations(by_parent["execute_tool corpus_search"]) - plumbing == {"SELECT"}
    # Refused before it ran: at most the admission read (on SQLite that one runs on a
    # connection of its own, outside the instrumented engine).
    assert operations(by_parent["execute_tool revoke_client"]) - plumbing <= {"SELECT"}
    step(
        f"{len(statements)} SQL statement spans, each a child of the initialize span (the "
        "session row) or of a tool-call span: no UPDATE under the refused call"
    )

    assert not [s for s in statements if {"db.statement", "db.query.text"} & set(s.attributes)]
    assert not [s for s in statements if s.status_message]
    secret = registered.api_key[-43:]  # mcp_<key id>_<secret>
    leaks = [(s.name, t) for s in spans for t in texts(s) if secret in t or MARKER in t]
    assert leaks == []
    step(f"Of {len(spans)} spans, none holds the API key, an argument, or statement text")


# A sitecustomize that finds `opentelemetry.sdk` nowhere: importing it fails with the error,
# message and module name of an environment without the package. Nothing is uninstalled,
# and only the server process is affected.
NO_SDK = """
import sys


class NoSdk:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoSdk())
"""


@pytest.fixture
def without_sdk(tmp_path: Path) -> dict[str, str]:
    """What a server's environment needs to lack the OpenTelemetry SDK (a sitecustomize
    blocks it) and to be asked for nothing by the OTEL_* variables."""
    site = tmp_path / "no_sdk"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_SDK.lstrip())
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    unset = ("OTEL_TRACES_EXPORTER", *OTLP_ENV)
    return {"PYTHONPATH": path, **dict.fromkeys(unset, "")}


async def test_without_the_sdk_a_server_serves_and_propagates_but_refuses_to_export(
    service: MCPService,
    raw_db: AsyncEngine,
    database_url: str,
    without_sdk: dict[str, str],
    tmp_path: Path,
    step: Step,
) -> None:
    asked = subprocess.run(
        [sys.executable, "-m", "mcp_service.cli", "serve", "--transport", "http", "--port", "0"],
        env={
            **os.environ,
            **without_sdk,
            "MCP_DATABASE_URL": database_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (asked.returncode, asked.stdout) == (2, "")
    assert asked.stderr == (
        "mcp-service: error: OTEL_EXPORTER_OTLP_ENDPOINT asks for span export, which needs the "
        "OpenTelemetry SDK (opentelemetry.sdk is not installed): "
        f"pip install '{EXTRA}'\n"
    )
    step("Asked to export without the SDK: exit 2 and one line naming the extra")

    registered = await service.register_client("no sdk", "basic")
    server = start_http_server(database_url, tmp_path / "server.log", **UNLIMITED, **without_sdk)
    spans = TestSpans()
    ids = spans.begin_test("tests/x.py::test_no_sdk")
    try:
        async with http_client(server.url, registered.api_key, "legacy") as client:
            assert not (await client.call_tool("echo", {"message": "-"})).is_error
    finally:
        spans.end_test()
        status = stop(server)
    assert status == 0
    rows = await fetch_all(
        raw_db,
        "SELECT trace_id, span_id FROM tool_executions WHERE client_id = :c",
        c=registered.client.client_id,
    )
    assert [tuple(r) for r in rows] == [(ids.trace_id, ids.span_id)]
    step("With nothing set it serves without the SDK, and its row carries the caller's ids")


@pytest.mark.parametrize(
    ("environ", "asked"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, None),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}, None),
    ],
)
def test_which_variables_ask_for_export(environ: dict[str, str], asked: str | None) -> None:
    assert requested(environ) == asked


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"OTEL_TRACES_EXPORTER": "zipkin"},
            "OTEL_TRACES_EXPORTER=zipkin: mcp-service exports spans with otlp only (or none)",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: mcp-service exports OTLP over http/protobuf only",
        ),
    ],
)
def test_an_export_it_cannot_do_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ExportUnavailable) as refused:
        requested(environ)
    assert refused.value.message == message
