"""A trace per test: ids in the event stream, the current context in the test, TRACEPARENT
for the processes it starts, and one trace per test under xdist too."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace

from mcp_dashboard.events import Event, TestTrace
from mcp_dashboard.state import reduce_all
from mcp_dashboard.tracing import TRACEPARENT, TestSpans
from tests.dashboard.builders import collected, nodeid, phases, start
from tests.dashboard.helpers import child_env, record

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
    traces = {e.nodeid.split("::")[1]: e for e in recorded.of(TestTrace)}
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
    spans.begin_phase()  # outside a test: no span
    assert current() == outside
    spans.end_phase()

    test = spans.begin_test()
    assert current() == (test.trace_id, test.span_id)
    assert os.environ[TRACEPARENT] == test.traceparent
    spans.begin_phase()
    trace_id, phase_span = current()
    assert (trace_id, os.environ[TRACEPARENT]) == (test.trace_id, test.traceparent)
    assert phase_span != test.span_id
    spans.end_phase()
    assert current() == (test.trace_id, test.span_id)
    spans.end_test()

    assert (current(), os.environ[TRACEPARENT]) == (outside, theirs)
    second = spans.begin_test()
    spans.end_test()
    assert second.trace_id != test.trace_id


def test_the_reducer_keeps_a_tests_last_trace() -> None:
    test = nodeid("test_a")
    first = TestTrace(time=1.0, nodeid=test, trace_id="1" * 32, span_id="2" * 16)
    again = TestTrace(time=2.0, nodeid=test, trace_id="3" * 32, span_id="4" * 16)
    events: list[Event] = [start(), collected(("test_a", "p")), first, *phases("test_a"), again]
    assert reduce_all(events[:3]).tests[test].trace_id == "1" * 32
    assert reduce_all(events).tests[test].trace_id == "3" * 32
    assert reduce_all([*events, again]) == reduce_all(events)  # a repeated line changes nothing
