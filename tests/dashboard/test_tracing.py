"""A trace per test: ids in the event stream, the current context in the test, TRACEPARENT
for the processes it starts, and one trace per test under xdist too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace

from mcp_dashboard.events import Event, TestTrace
from mcp_dashboard.options import parse
from mcp_dashboard.pytest_plugin import OTLP_ENV
from mcp_dashboard.state import reduce_all
from mcp_dashboard.tracing import TRACEPARENT, TestSpans
from tests.dashboard.builders import collected, nodeid, phases, start
from tests.dashboard.helpers import child_env, record
from tests.otlp_receiver import otlp_receiver

# Each test writes what it saw, in its setup, its body and a child process, to SEEN/<name>.
SUITE = """
import json, os, subprocess, sys
from pathlib import Path

import pytest
from opentelemetry import trace

SEEN = Path(os.environ["SEEN"])


def context() -> dict[str, str]:
    span = trace.get_current_span().get_span_context()
    return {"trace": f"{span.trace_id:032x}", "span": f"{span.span_id:016x}"}


def child() -> str:
    code = "import os; print(os.environ.get('TRACEPARENT', ''))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout


@pytest.fixture
def seen_in_setup(request):
    return {**context(), "env": os.environ.get("TRACEPARENT", "")}


def note(name, setup):
    body = {**context(), "env": os.environ["TRACEPARENT"], "child": child().strip()}
    SEEN.joinpath(name).write_text(json.dumps({"setup": setup, "body": body}))


@pytest.mark.parametrize("n", range(3))
def test_sync(n, seen_in_setup):
    note(f"test_sync[{n}]", seen_in_setup)


async def test_async(seen_in_setup):
    note("test_async", seen_in_setup)
"""


@pytest.fixture
def suite(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "project"
    seen = tmp_path / "seen"
    project.mkdir()
    seen.mkdir()
    (project / "test_traced.py").write_text(textwrap.dedent(SUITE))
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    return project, seen


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{trace_id}-{span_id}-01"


@pytest.mark.parametrize("workers", [None, 2])
async def test_each_test_runs_in_its_own_trace_which_its_code_and_children_see(
    suite: tuple[Path, Path], workers: int | None
) -> None:
    project, seen = suite
    env = child_env(SEEN=str(seen))
    env.pop(TRACEPARENT, None)
    recorded = await record(project, env=env, workers=workers)
    assert recorded.finish.exit_status == 0
    traces = {nodeid.split("::")[1]: e for nodeid, e in recorded.traces().items()}
    names = {"test_sync[0]", "test_sync[1]", "test_sync[2]", "test_async"}
    assert set(traces) == names
    assert len({e.trace_id for e in traces.values()}) == 4  # one trace per test
    if workers:
        assert {e.worker for e in traces.values()} <= {"gw0", "gw1"}
        assert None not in {e.worker for e in traces.values()}

    for name, event in traces.items():
        assert len(event.trace_id) == 32 and len(event.span_id) == 16
        saw = json.loads((seen / name).read_text())
        setup, body = saw["setup"], saw["body"]
        # The test's code runs inside the test's trace, in a phase span below the test's own.
        assert setup["trace"] == body["trace"] == event.trace_id
        assert len({setup["span"], body["span"], event.span_id}) == 3
        # Processes the test starts see the test's own span as their parent.
        assert (
            setup["env"]
            == body["env"]
            == body["child"]
            == traceparent(event.trace_id, event.span_id)
        )

    state = recorded.state
    assert {state.tests[e.nodeid].trace_id for e in traces.values()} == {
        e.trace_id for e in traces.values()
    }


def current() -> tuple[str, str]:
    span = trace.get_current_span().get_span_context()
    return f"{span.trace_id:032x}", f"{span.span_id:016x}"


def test_the_span_and_traceparent_last_only_as_long_as_the_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    theirs = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    monkeypatch.setenv(TRACEPARENT, theirs)
    outside = current()
    spans = TestSpans()
    spans.begin_phase("setup")  # outside a test: no span
    assert current() == outside
    spans.end_phase()

    test = spans.begin_test("t.py::test_a")
    assert current() == (test.trace_id, test.span_id)
    assert os.environ[TRACEPARENT] == test.traceparent
    spans.begin_phase("call")
    trace_id, phase_span = current()
    assert (trace_id, os.environ[TRACEPARENT]) == (test.trace_id, test.traceparent)
    assert phase_span != test.span_id
    spans.end_phase()
    assert current() == (test.trace_id, test.span_id)
    spans.end_test()

    assert (current(), os.environ[TRACEPARENT]) == (outside, theirs)
    second = spans.begin_test("t.py::test_b")
    spans.end_test()
    assert second.trace_id != test.trace_id
    # Ids only: a test's own span id is its trace id's last 64 bits (its start line's
    # trace id then names both).
    assert (test.span_id, second.span_id) == (test.trace_id[16:], second.trace_id[16:])
    monkeypatch.delenv(TRACEPARENT)
    spans.begin_test("t.py::test_c")
    spans.end_test()
    assert TRACEPARENT not in os.environ  # none before it, none after


def test_a_test_begun_in_its_setup_moves_from_phase_to_phase() -> None:
    """What the plugin calls: the test and its setup at once, then one call per phase."""
    spans = TestSpans()
    test = spans.begin_test("t.py::test_a", phase="setup")
    setup = current()
    spans.next_phase("call")
    call = current()
    spans.next_phase("teardown")
    teardown = current()
    assert {setup[0], call[0], teardown[0]} == {test.trace_id}
    assert len({setup[1], call[1], teardown[1], test.span_id}) == 4  # a span per phase
    spans.next_phase("")  # the teardown ended: the test's own span again
    assert current() == (test.trace_id, test.span_id)
    spans.end_test()


def test_the_reducer_keeps_a_tests_last_trace() -> None:
    test = nodeid("test_a")
    first = TestTrace(time=1.0, nodeid=test, trace_id="1" * 32, span_id="2" * 16)
    again = TestTrace(time=2.0, nodeid=test, trace_id="3" * 32, span_id="4" * 16)
    events: list[Event] = [start(), collected(("test_a", "p")), first, *phases("test_a"), again]
    assert reduce_all(events[:3]).tests[test].trace_id == "1" * 32
    assert reduce_all(events).tests[test].trace_id == "3" * 32
    assert reduce_all([*events, again]) == reduce_all(events)  # a repeated line changes nothing


EXPORTED_SUITE = """
import json, os
from pathlib import Path

import pytest
from opentelemetry import trace

SEEN = Path(os.environ["SEEN"])


def note(name):
    span = trace.get_current_span().get_span_context()
    SEEN.joinpath(name).write_text(f"{span.span_id:016x}")


def test_passes():
    note("test_passes")


def test_fails():
    note("test_fails")
    assert 1 == 2


def test_skips():
    note("test_skips")
    pytest.skip("not today")
"""


@pytest.mark.parametrize("workers", [None, 2])
async def test_exported_spans_reach_an_otlp_receiver_with_tests_as_roots(
    tmp_path: Path, workers: int | None
) -> None:
    project, seen = tmp_path / "project", tmp_path / "seen"
    project.mkdir()
    seen.mkdir()
    (project / "test_exported.py").write_text(textwrap.dedent(EXPORTED_SUITE))
    env = child_env(SEEN=str(seen))
    for name in (TRACEPARENT, *OTLP_ENV):
        env.pop(name, None)
    with otlp_receiver() as receiver:
        recorded = await record(project, "--otlp-endpoint", receiver.url, env=env, workers=workers)
        spans = receiver.received()
    assert recorded.finish.exit_status == 1

    traces = recorded.traces()
    roots = {s.name: s for s in spans if not s.parent_span_id}
    assert (
        sorted(roots)
        == sorted(traces)
        == [
            "test_exported.py::test_fails",
            "test_exported.py::test_passes",
            "test_exported.py::test_skips",
        ]
    )
    children = {
        name: [s for s in spans if s.parent_span_id == root.span_id] for name, root in roots.items()
    }
    assert len(spans) == 3 * 4  # each test and its three phases, nothing else
    for test, root in roots.items():
        event = traces[test]
        assert (root.trace_id, root.span_id) == (event.trace_id, event.span_id)
        assert [c.name for c in children[test]] == ["setup", "call", "teardown"]
        assert {c.trace_id for c in children[test]} == {event.trace_id}
        assert root.attributes["test.case.name"] == test
        assert root.attributes["code.filepath"] == "test_exported.py"
        assert root.resource["service.name"] == "pytest"
        instance = root.resource["service.instance.id"]
        assert instance == "main" if workers is None else instance in {"gw0", "gw1"}
        # The test's own code ran in its call span.
        call = children[test][1]
        assert (seen / test.split("::")[1]).read_text() == call.span_id

    passes, fails, skips = (
        roots[f"test_exported.py::test_{n}"] for n in ("passes", "fails", "skips")
    )
    assert (passes.attributes["test.case.result.status"], passes.status_code) == ("pass", 0)
    assert (fails.attributes["test.case.result.status"], fails.status_code) == ("fail", 2)
    assert "test.case.result.status" not in skips.attributes and skips.status_code == 0
    failed_call = children["test_exported.py::test_fails"][1]
    assert (failed_call.status_code, failed_call.status_message) == (2, "AssertionError")
    assert [c.status_code for c in children["test_exported.py::test_skips"]] == [0, 0, 0]


def test_an_endpoint_without_the_otlp_extra_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import sys\n"
        "# As if the otlp extra were not installed: the exporter cannot be imported.\n"
        "sys.modules['opentelemetry.exporter.otlp.proto.http.trace_exporter'] = None\n"
    )
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    command = [sys.executable, "-m", "pytest", "-p", "mcp_dashboard.pytest_plugin"]
    options = [f"--mcp-events={tmp_path / 'events.jsonl'}", "--otlp-endpoint=http://127.0.0.1:9"]
    done = subprocess.run(
        [*command, *options],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert done.stderr.strip() == (
        "ERROR: --otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) needs the OpenTelemetry SDK: "
        "pip install 'mcp-service-dashboard[otlp]'"
    )


def test_the_dashboard_passes_the_endpoint_to_pytest_with_its_value() -> None:
    options = parse(["--otlp-endpoint", "http://127.0.0.1:4318", "tests/unit"])
    assert options.pytest_options == ("--otlp-endpoint", "http://127.0.0.1:4318")
    assert options.paths == ("tests/unit",)
