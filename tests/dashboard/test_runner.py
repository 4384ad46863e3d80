"""The runner and the plugin together, on real child pytest processes."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from mcp_dashboard.events import (
    Collection,
    CollectReport,
    Event,
    RunFinish,
    Step,
    TestPassed,
    TestReport,
    TestStart,
    TestTrace,
    WarningRecorded,
)
from mcp_dashboard.runner import Run, RunConfig, pytest_command
from mcp_dashboard.state import Counts, reduce_all
from tests.dashboard.helpers import fixture, record

# Batches go out only when something urgent is written: which lines a run sends no longer
# depends on how fast it runs (MCP_DASHBOARD_FLUSH_MS, docs/events.md).
NEVER_IDLE_FLUSH = {"MCP_DASHBOARD_FLUSH_MS": "3600000"}

OUT = "outcomes/test_outcomes.py"
UNMARKED = "outcomes/test_unmarked.py"


def ids(*names: str, file: str = OUT) -> list[str]:
    return [f"{file}::{name}" for name in names]


async def test_outcomes_suite_events_in_order_and_complete(workdir: Path) -> None:
    rec = await record(
        workdir,
        fixture("outcomes"),
        json_report=Path("report.json"),
        junit_xml=workdir / "junit.xml",
        env=NEVER_IDLE_FLUSH,
    )
    types = [e.type for e in rec.events]
    assert types[0] == "run_start"
    assert types[1] == "collection"
    assert types[-1] == "run_finish"
    assert types.count("run_start") == types.count("collection") == types.count("run_finish") == 1

    start = rec.start
    assert start.rootdir == str(Path(fixture()))
    assert start.pid == rec.run.pid
    assert fixture("outcomes") in start.args
    [collection] = rec.of(Collection)
    order = [
        *ids(
            "test_pass", "test_fail", "test_skip", "test_xfail", "test_xpass", "test_error_in_setup"
        ),
        *ids("test_plain_one", "test_plain_two", file=UNMARKED),
    ]
    assert [t.nodeid for t in collection.tests] == order
    assert [t.path_of for t in collection.tests] == [
        *["registration"] * 2,
        *["sessions"] * 3,
        "tools",
        *[UNMARKED] * 2,
    ]
    error_test = collection.tests[5]
    source = Path(fixture(OUT)).read_text().splitlines()
    line = source.index('@pytest.mark.critical_path("tools")') + 1  # pytest: first decorator
    assert (error_test.file_of, error_test.line, error_test.name_of) == (
        OUT,
        line,
        "test_error_in_setup",
    )
    # What the node id already says is left out of the line (schema v2).
    assert (error_test.critical_path, error_test.file, error_test.name) == ("tools", "", "")
    assert collection.tests[6].critical_path == ""  # its module
    assert error_test.markers == ("integration", "critical_path")  # closest first

    # Per test: its start, carrying its trace; then for a test whose phases all passed one
    # `test_pass` line (the reader names its test and its time from the start before it);
    # any other test sends its phases in order. No `test_trace` line without xdist.
    passes = {e.nodeid: e for e in rec.of(TestPassed)}
    assert list(passes) == [order[0], order[6], order[7]]
    starts = {e.nodeid: e for e in rec.of(TestStart)}
    assert rec.of(TestTrace) == []
    for nodeid in order:
        mine = [e for e in rec.events if getattr(e, "nodeid", None) == nodeid]
        shape = [(e.type, getattr(e, "when", None)) for e in mine if e.type.startswith("test_")]
        assert len(starts[nodeid].trace_id) == 32 and starts[nodeid].span_id == ""
        if nodeid in passes:
            assert shape == [("test_start", None), ("test_pass", None)]
            assert passes[nodeid].time == starts[nodeid].time + sum(passes[nodeid].durations)
            continue
        phases = [w for t, w in shape if t == "test_report"]
        assert shape[0] == ("test_start", None)
        assert phases in (["setup", "call", "teardown"], ["setup", "teardown"])
    reports = {(e.nodeid, e.when): e for e in rec.of(TestReport)}
    assert len(reports) == len(rec.of(TestReport)) == 14  # 4 x 3 phases + 2
    assert {
        nodeid: reports[(nodeid, "call")].category
        for nodeid in order
        if (nodeid, "call") in reports
    } == {
        order[1]: "failed",
        order[2]: "skipped",
        order[3]: "xfailed",
        order[4]: "xpassed",
    }
    setup_error = reports[(order[5], "setup")]
    assert (setup_error.outcome, setup_error.category) == ("failed", "error")
    assert "RuntimeError: setup exploded" in setup_error.longrepr
    failed = reports[(order[1], "call")]
    assert failed.crash is not None
    assert failed.crash.lineno == source.index('    assert 1 + 1 == 3, "arithmetic is broken"') + 1
    assert failed.crash.path == fixture(OUT)
    assert "AssertionError: arithmetic is broken" in failed.crash.message
    assert "assert (1 + 1) == 3" in failed.longrepr
    assert failed.stdout == "output before the failure\n"
    assert failed.log == "INFO     mcp.steps:conftest.py:18 ✓ about to fail"
    assert reports[(order[2], "call")].reason == "not on this platform"
    assert reports[(order[3], "call")].reason == "known bug 42"

    steps = rec.of(Step)
    assert [(s.nodeid, s.index, s.message, s.when) for s in steps] == [
        (order[0], 0, "✓ registered a client", "call"),
        (order[0], 1, "✓ stored only its hash", "call"),
        (order[1], 0, "✓ about to fail", "call"),
    ]
    for s in steps:
        position = rec.events.index(s)
        started = next(e for e in rec.of(TestStart) if e.nodeid == s.nodeid)
        ended = passes.get(s.nodeid) or reports[(s.nodeid, "call")]
        assert rec.events.index(started) < position < rec.events.index(ended)

    # The child used the run's own database file; a passing test keeps what it printed.
    assert passes[order[0]].stdout == f"database: {rec.run.database_url}\n"
    assert rec.state.tests[order[0]].stdout == passes[order[0]].stdout
    assert rec.run.database_url == f"sqlite+aiosqlite:///{rec.run.run_dir / 'service.db'}"
    assert rec.run.run_dir.parent == workdir / ".mcp-dashboard" / "runs"

    [warning] = rec.of(WarningRecorded)
    assert (warning.message, warning.category, warning.nodeid) == (
        "a recorded warning",
        "UserWarning",
        order[7],
    )
    finish = rec.finish
    assert (finish.exit_status, finish.source, finish.aborted) == (1, "plugin", False)
    assert finish.totals == {
        "passed": 3,
        "failed": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
        "error": 1,
        "warnings": 1,
    }
    assert rec.run.ignored == Counter()

    state = rec.state
    assert state.status == "failed"
    assert state.counts == Counts(passed=3, failed=1, error=1, skipped=1, xfailed=1, xpassed=1)
    assert state.paths["registration"].counts == Counts(passed=1, failed=1)
    assert state.paths[UNMARKED].counts == Counts(passed=2)

    # pytest's terminal output is kept apart, and the reports agree on the counts.
    assert any("1 failed, 3 passed, 1 skipped" in line for line in rec.run.output)
    assert not any(line.startswith("{") for line in rec.run.output)
    summary = json.loads((workdir / "report.json").read_text())["summary"]
    assert summary == {
        "passed": 3,
        "failed": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
        "error": 1,
        "total": 8,
        "collected": 8,
    }
    suite = ET.parse(workdir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "8",
        "failures": "1",
        "errors": "1",
        "skipped": "2",  # pytest's JUnit counts an xfail as skipped
    }


async def test_steps_stream_live_while_the_test_runs(workdir: Path) -> None:
    """The test waits for a file that this reader creates only when it has the test's first
    step: the step cannot have been batched until the test ended. (How fast steps arrive is
    a figure in benchmarks/stream_latency.py, not an assertion here.)"""
    gate = workdir / "gate"
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", fixture("gate")],
        cwd=workdir,
        env={"FIXTURE_GATE": str(gate)},
    )
    events: list[Event] = []
    async with Run(config) as run:
        async for event in run:
            events.append(event)
            if isinstance(event, Step) and event.message == "✓ waiting at the gate":
                gate.touch()
    waiting = "gate/test_gate.py::test_waits_at_the_gate"
    steps = [e for e in events if isinstance(e, Step) and e.nodeid == waiting]
    assert [s.message for s in steps] == ["✓ waiting at the gate", "✓ through the gate"]
    [passed] = [e for e in events if isinstance(e, TestPassed) and e.nodeid == waiting]
    assert events.index(steps[0]) < events.index(steps[1]) < events.index(passed)
    assert reduce_all(events).tests[waiting].status == "passed"


async def test_a_child_killed_by_sigkill_ends_with_an_aborted_finish(workdir: Path) -> None:
    rec = await record(workdir, fixture("killer"))
    assert rec.run.returncode == -9
    finish = rec.finish
    assert finish.type == "run_finish"
    assert (finish.source, finish.aborted, finish.exit_status) == ("runner", True, None)
    assert finish.reason == "pytest was killed by SIGKILL"
    assert finish.totals == {"passed": 1}
    k = "killer/test_killer.py::"
    assert [(s.nodeid, s.message) for s in rec.of(Step)] == [
        (k + "test_before_the_kill", "✓ still alive"),
        (k + "test_kills_its_process", "✓ about to be killed"),
    ]
    state = rec.state
    assert state.status == "aborted"
    assert {t.name: t.status for t in state.tests_in_order()} == {
        "test_before_the_kill": "passed",
        "test_kills_its_process": "interrupted",
        "test_never_reached": "pending",
    }
    assert state.progress == (2, 3)


async def test_collection_error_is_reported_never_success(workdir: Path) -> None:
    rec = await record(workdir, fixture("broken"))
    [problem] = rec.of(CollectReport)
    assert (problem.nodeid, problem.outcome) == ("broken/test_broken.py", "failed")
    assert "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'" in problem.longrepr
    assert not rec.of(TestStart)
    finish = rec.finish
    assert (finish.exit_status, finish.totals) == (2, {"error": 1})
    state = rec.state
    assert state.status == "failed"
    assert state.reason == "interrupted: 1 error during collection"
    assert state.counts == Counts(pending=1)


async def test_no_tests_collected_is_reported_as_such(workdir: Path) -> None:
    rec = await record(workdir, fixture("outcomes"), "-k", "nothing_is_called_this")
    [collection] = rec.of(Collection)
    assert (collection.total, collection.deselected, collection.tests) == (0, 8, ())
    assert rec.finish.exit_status == 5
    assert (rec.state.status, rec.state.reason) == ("failed", "no tests collected")


async def test_usage_error_before_pytest_starts(workdir: Path) -> None:
    rec = await record(workdir, "--no-such-option")
    [finish] = rec.events
    assert isinstance(finish, RunFinish)
    assert (finish.source, finish.aborted, finish.exit_status) == ("runner", False, 4)
    assert finish.reason == "pytest usage error: unrecognized arguments: --no-such-option"
    # pytest's own words come along, for the dashboard to show.
    assert finish.output.splitlines()[:2] == [
        "ERROR: usage: __main__.py [options] [file_or_dir] [file_or_dir] [...]",
        "__main__.py: error: unrecognized arguments: --no-such-option",
    ]
    assert (rec.state.status, rec.state.reason) == ("failed", finish.reason)
    assert rec.state.output == finish.output


async def test_a_usage_error_after_the_start_waits_for_pytests_words(workdir: Path) -> None:
    """pytest prints why only after the session finished: the finish waits for it."""
    rec = await record(workdir, fixture("outcomes"), "-m", "(unbalanced")
    finish = rec.finish
    assert (finish.source, finish.exit_status) == ("plugin", 4)
    assert finish.output.splitlines()[-1] == (
        "ERROR: Wrong expression passed to '-m': (unbalanced: "
        "at column 12: expected right parenthesis; got end of input"
    )
    assert finish.reason.startswith("pytest usage error: Wrong expression passed to '-m'")
    assert rec.state.reason == finish.reason


async def test_xdist_each_report_once_and_workers_steps_live(workdir: Path) -> None:
    rec = await record(workdir, fixture("parallel"), workers=2, env=NEVER_IDLE_FLUSH)
    p = "parallel/test_parallel.py::"
    names = [f"test_parallel[{n}]" for n in range(8)]
    failed, skipped = p + "test_parallel[5]", p + "test_parallel_skip"
    assert rec.start.workers == 2
    [collection] = rec.of(Collection)
    assert collection.worker == "gw0"
    assert [t.nodeid for t in collection.tests] == [p + n for n in [*names, "test_parallel_skip"]]
    # Each test once: a passing one as one line, the others as their phase reports.
    passes = Counter(e.nodeid for e in rec.of(TestPassed))
    assert passes == Counter(p + n for n in names if p + n != failed)
    reports = Counter((e.nodeid, e.when) for e in rec.of(TestReport))
    assert reports == Counter(
        [(failed, "setup"), (failed, "call"), (failed, "teardown")]
    ) + Counter([(skipped, "setup"), (skipped, "teardown")])
    assert Counter(e.nodeid for e in rec.of(TestStart)) == Counter(
        p + n for n in [*names, "test_parallel_skip"]
    )
    # Every test knows its trace: from its worker's line, or on its `test_pass`.
    traced = {t.nodeid: t.trace_id for t in rec.state.tests_in_order()}
    assert all(len(trace) == 32 for trace in traced.values()), [
        (e.type, getattr(e, "nodeid", "")[-20:]) for e in rec.events
    ]
    assert len(set(traced.values())) == 9
    assert all(e.trace_id == traced[e.nodeid] for e in rec.of(TestPassed))
    steps = rec.of(Step)
    assert sorted((s.nodeid, s.index, s.message) for s in steps) == sorted(
        (p + f"test_parallel[{n}]", i, f"✓ case {n} {word}")
        for n in range(8)
        for i, word in enumerate(("begins", "ends"))
    )
    assert {s.worker for s in steps} == {"gw0", "gw1"}
    results: list[TestReport | TestPassed] = [*rec.of(TestReport), *rec.of(TestPassed)]
    workers = {e.nodeid: e.worker for e in results}
    assert all(workers[s.nodeid] == s.worker for s in steps)
    for s in steps:  # each step arrived before its test's result
        result = next(
            e for e in results if e.nodeid == s.nodeid and getattr(e, "when", "call") == "call"
        )
        assert rec.events.index(s) < rec.events.index(result)
    assert rec.finish.exit_status == 1
    assert rec.finish.totals == {"passed": 7, "failed": 1, "skipped": 1}
    state = rec.state
    assert state.counts == Counts(passed=7, failed=1, skipped=1)
    assert {p.name: p.counts.total for p in state.path_stats()} == {
        "registration": 2,
        "permissions": 2,
        "sessions": 2,
        "tools": 3,
    }
    assert state.tests[p + "test_parallel[5]"].status == "failed"


async def test_garbage_in_the_stream_is_counted_and_skipped(workdir: Path) -> None:
    rec = await record(workdir, fixture("garbage"))
    assert rec.run.ignored == Counter(malformed=3, unknown=1, oversized=1)
    finish = rec.finish
    assert (finish.exit_status, finish.ignored_lines) == (0, 5)
    assert [s.message for s in rec.of(Step)] == ["✓ after the junk"]
    assert rec.state.counts == Counts(passed=2)
    assert rec.state.ignored_lines == 5


async def test_a_truncated_last_line_is_counted(workdir: Path) -> None:
    rec = await record(workdir, fixture("truncated"))
    assert rec.run.ignored == Counter(truncated=1)
    # A test's start goes out at once, so the test that died is known; its trace line was
    # still in the plugin's batch.
    assert [e.type for e in rec.events] == ["run_start", "collection", "test_start", "run_finish"]
    finish = rec.finish
    assert (finish.source, finish.aborted, finish.ignored_lines) == ("runner", True, 1)


async def test_cancel_interrupts_pytest_and_the_run_is_cancelled(workdir: Path) -> None:
    """The test at the gate waits until it is opened (never, here): only SIGINT ends it."""
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", fixture("gate")],
        cwd=workdir,
        env={"FIXTURE_GATE": str(workdir / "never-opened")},
    )
    events: list[Event] = []
    async with Run(config) as run:
        async for event in run:
            events.append(event)
            if isinstance(event, Step) and event.message == "✓ waiting at the gate":
                await run.cancel()
                await run.cancel()  # idempotent
    assert run.returncode == 2  # pytest's "interrupted"
    types = [e.type for e in events]
    assert types.count("run_cancel") == 1
    finish = events[-1]
    assert isinstance(finish, RunFinish) and finish.source == "plugin"
    state = reduce_all(events)
    assert (state.status, state.exit_status) == ("cancelled", 2)
    assert state.tests["gate/test_gate.py::test_waits_at_the_gate"].status == "interrupted"


async def test_cancel_escalates_to_sigkill_when_signals_are_ignored(workdir: Path) -> None:
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", fixture("stubborn")],
        cwd=workdir,
        interrupt_grace=0.3,
        terminate_grace=0.3,
    )
    events: list[Event] = []
    async with Run(config) as run:
        async for event in run:
            events.append(event)
            if event.type == "step":
                await run.cancel()
    assert run.returncode == -9
    finish = events[-1]
    assert isinstance(finish, RunFinish)
    assert (finish.source, finish.aborted, finish.reason) == (
        "runner",
        True,
        "pytest was killed by SIGKILL",
    )
    assert reduce_all(events).status == "cancelled"


async def test_leaving_early_kills_the_child(workdir: Path) -> None:
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", fixture("slow")],
        cwd=workdir,
        env={"FIXTURE_STEP_PAUSE": "20"},
    )
    async with Run(config) as run:
        async for event in run:
            if event.type == "step":
                break
    assert run.returncode == -9
    await asyncio.sleep(0)


def test_command_line_carries_plugin_and_report_options(tmp_path: Path) -> None:
    config = RunConfig(
        pytest_args=["tests", "-k", "x"],
        cwd=tmp_path,
        workers=3,
        pattern="realistic",
        json_report=Path("r.json"),
        junit_xml=Path("/abs/j.xml"),
        python="py",
    )
    assert pytest_command(config, tmp_path / "e.jsonl") == [
        "py",
        "-m",
        "pytest",
        "-p",
        "mcp_dashboard.pytest_plugin",
        f"--mcp-events={tmp_path / 'e.jsonl'}",
        "-n",
        "3",
        "--mcp-pattern=realistic",
        "--json-report",
        f"--json-report-file={tmp_path / 'r.json'}",
        "--junit-xml=/abs/j.xml",
        "tests",
        "-k",
        "x",
    ]
