"""The reducer: outcomes, counts, purity, and events that arrive out of order or twice."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from mcp_dashboard.events import (
    Crash,
    Event,
    HistoryLoaded,
    RunCancel,
    RunFinish,
    TestHistory,
    TestPassed,
    WarningRecorded,
)
from mcp_dashboard.state import (
    MAX_WARNINGS_KEPT,
    Counts,
    RunState,
    outcome_of,
    reduce,
    reduce_all,
)
from mcp_dashboard.status import TestStatus, collect_report_status
from tests.dashboard.builders import (
    F,
    began,
    collect_report,
    collected,
    finish,
    nodeid,
    phases,
    report,
    start,
    step,
    traced,
)

OUTCOME_STREAM: list[Event] = [
    start(),
    collected(
        ("test_pass", "registration"),
        ("test_fail", "registration"),
        ("test_skip", "sessions"),
        ("test_xfail", "sessions"),
        ("test_xpass", "sessions"),
        ("test_error", "tools"),
    ),
    began("test_pass"),
    step("test_pass", 0, "✓ registered"),
    step("test_pass", 1, "✓ hashed"),
    *phases("test_pass", stdout="hello\n"),
    began("test_fail"),
    *phases(
        "test_fail",
        "failed",
        longrepr="E assert 2 == 3",
        crash=Crash(path="/r/t.py", lineno=9, message="assert 2 == 3"),
    ),
    began("test_skip"),
    report("test_skip", "setup", "skipped", reason="no"),
    report("test_skip", "teardown"),
    began("test_xfail"),
    *phases("test_xfail", "xfailed", reason="bug 42"),
    began("test_xpass"),
    *phases("test_xpass", "xpassed"),
    began("test_error"),
    report("test_error", "setup", "error", longrepr="E RuntimeError: setup exploded"),
    report("test_error", "teardown"),
    WarningRecorded(time=3.0, message="careful", category="UserWarning"),
    finish(1, totals={"passed": 1, "failed": 1}),
]


def statuses(state: RunState) -> dict[str, TestStatus]:
    return {t.name or t.nodeid.split("::")[-1]: t.status for t in state.tests_in_order()}


def test_a_run_with_every_outcome() -> None:
    state = reduce_all(OUTCOME_STREAM)
    assert statuses(state) == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_skip": "skipped",
        "test_xfail": "xfailed",
        "test_xpass": "xpassed",
        "test_error": "error",
    }
    assert state.status == "failed"
    assert state.reason == "tests failed"
    assert state.exit_status == 1
    assert state.progress == (6, 6)
    assert [p.name for p in state.path_stats()] == ["registration", "sessions", "tools"]
    assert state.paths["registration"].counts == Counts(passed=1, failed=1)
    assert state.paths["sessions"].counts == Counts(skipped=1, xfailed=1, xpassed=1)
    assert state.paths["tools"].counts == Counts(error=1)
    assert state.counts == Counts(passed=1, failed=1, error=1, skipped=1, xfailed=1, xpassed=1)
    assert state.paths["registration"].duration == pytest.approx(0.6)
    assert state.paths["registration"].slowest_duration == pytest.approx(0.3)
    passed = state.tests[f"{F}::test_pass"]
    assert [s.message for s in passed.steps] == ["✓ registered", "✓ hashed"]
    assert passed.stdout == "hello\n"
    assert passed.duration == pytest.approx(0.3)
    failed = state.tests[f"{F}::test_fail"]
    assert failed.longrepr == "E assert 2 == 3"
    assert failed.crash == Crash(path="/r/t.py", lineno=9, message="assert 2 == 3")
    assert state.tests[f"{F}::test_xfail"].reason == "bug 42"
    assert state.tests[f"{F}::test_error"].longrepr == "E RuntimeError: setup exploded"
    assert state.warning_count == 1
    assert dict(state.totals) == {"passed": 1, "failed": 1}


def test_reduce_is_pure() -> None:
    states = [RunState()]
    for event in OUTCOME_STREAM:
        states.append(reduce(states[-1], event))
    # Every intermediate state is still exactly what replaying its prefix gives.
    for n, state in enumerate(states):
        assert state == reduce_all(OUTCOME_STREAM[:n]) if n else state == RunState()
    assert states[2].tests[f"{F}::test_pass"].status == "pending"
    assert states[3].tests[f"{F}::test_pass"].status == "running"


def test_progress_and_running_counts_while_the_run_goes() -> None:
    state = reduce_all(OUTCOME_STREAM[:5])  # test_pass started, two steps in
    assert state.status == "running"
    assert state.progress == (0, 6)
    assert state.paths["registration"].counts == Counts(pending=1, running=1)
    assert state.counts.pending == 5


def test_every_event_twice_gives_the_same_state() -> None:
    doubled = [e for event in OUTCOME_STREAM for e in (event, event)]
    assert reduce_all(doubled) == _without_warning_dupes(reduce_all(OUTCOME_STREAM))


def _without_warning_dupes(state: RunState) -> RunState:
    # Warnings are not de-duplicated (the same warning twice is two warnings).
    return replace(state, warnings=state.warnings * 2, warning_count=state.warning_count * 2)


@pytest.mark.parametrize("seed", range(20))
def test_any_order_between_start_and_finish_gives_the_same_outcomes(seed: int) -> None:
    middle = OUTCOME_STREAM[1:-1]
    shuffled = random.Random(seed).sample(middle, len(middle))
    state = reduce_all([OUTCOME_STREAM[0], *shuffled, OUTCOME_STREAM[-1]])
    expected = reduce_all(OUTCOME_STREAM)
    assert statuses(state) == statuses(expected)
    for path in expected.paths:
        assert state.paths[path].counts == expected.paths[path].counts
        assert state.paths[path].duration == pytest.approx(expected.paths[path].duration)
    assert state.tests[f"{F}::test_pass"].steps == expected.tests[f"{F}::test_pass"].steps
    assert state.progress == (6, 6)


def test_reports_before_collection_move_to_their_critical_path() -> None:
    state = reduce_all([began("t"), *phases("t", "failed", duration=0.5)])
    assert state.tests[f"{F}::t"].critical_path == F  # grouped by module until collected
    assert state.paths[F].counts == Counts(failed=1)
    assert state.paths[F].slowest == f"{F}::t"
    state = reduce(state, collected(("t", "tools")))
    assert state.paths[F].counts == Counts()
    assert state.paths[F].slowest is None
    assert state.paths["tools"].counts == Counts(failed=1)
    assert state.paths["tools"].slowest == f"{F}::t"
    assert state.path_stats()[0].name == "tools"  # the emptied path is not listed
    assert state.order == (f"{F}::t",)


def test_steps_out_of_order_are_sorted_and_deduplicated() -> None:
    state = reduce_all(
        [step("t", 2, "c"), step("t", 0, "a"), began("t"), step("t", 1, "b"), step("t", 0, "a")]
    )
    test = state.tests[f"{F}::t"]
    assert [s.message for s in test.steps] == ["a", "b", "c"]
    assert test.status == "running"
    assert test.started_at == 1.0


def test_a_step_after_the_test_finished_is_kept_without_reopening_it() -> None:
    state = reduce_all([began("t"), *phases("t"), step("t", 0, "late")])
    test = state.tests[f"{F}::t"]
    assert test.status == "passed"
    assert [s.message for s in test.steps] == ["late"]


def test_teardown_before_call_still_gives_the_call_outcome() -> None:
    events: list[Event] = [
        report("t", "setup"),
        report("t", "teardown"),
        report("t", "call", "failed"),
    ]
    assert reduce_all(events).tests[f"{F}::t"].status == "failed"


def test_a_test_is_running_until_its_teardown_report() -> None:
    state = reduce_all([began("t"), report("t", "setup"), report("t", "call", "failed")])
    assert state.tests[f"{F}::t"].status == "running"
    assert state.progress == (0, 1)


@pytest.mark.parametrize(
    ("setup", "call", "teardown", "expected"),
    [
        ("passed", "passed", "passed", "passed"),
        ("passed", "failed", "passed", "failed"),
        ("error", None, "passed", "error"),
        ("skipped", None, "passed", "skipped"),
        ("xfailed", None, "passed", "xfailed"),
        ("passed", "passed", "error", "error"),
        ("passed", "failed", "error", "failed"),
        ("passed", "skipped", "error", "error"),
        ("passed", "xpassed", "passed", "xpassed"),
        ("passed", "rerun", "passed", "passed"),  # a plugin's category falls back to the outcome
    ],
)
def test_outcome_of_phases(setup: str, call: str | None, teardown: str, expected: str) -> None:
    events: list[Event] = [report("t", "setup", setup)]
    if call is not None:
        events.append(report("t", "call", call, outcome="passed" if call == "rerun" else None))
    events.append(report("t", "teardown", teardown))
    state = reduce_all(events)
    assert state.tests[f"{F}::t"].status == expected
    assert outcome_of(state.tests[f"{F}::t"].phases) == expected


def test_xdist_crash_report_fails_the_test() -> None:
    crash = report("t", "???", "failed", longrepr="worker 'gw0' crashed while running 't'")
    state = reduce_all([began("t"), report("t", "setup"), crash])
    assert state.tests[f"{F}::t"].status == "failed"
    assert state.tests[f"{F}::t"].finished


def test_aborted_run_marks_the_running_test_interrupted() -> None:
    events: list[Event] = [
        start(),
        collected(("a", "p"), ("b", "p"), ("c", "p")),
        began("a"),
        *phases("a"),
        began("b"),
        step("b", 0, "✓ about to die"),
        finish(None, aborted=True, reason="pytest was killed by SIGKILL", source="runner"),
    ]
    state = reduce_all(events)
    assert state.status == "aborted"
    assert state.reason == "pytest was killed by SIGKILL"
    assert statuses(state) == {"a": "passed", "b": "interrupted", "c": "pending"}
    assert state.paths["p"].counts == Counts(passed=1, interrupted=1, pending=1)
    # A report that straggles in after the end does not reopen the test.
    late = reduce(state, report("b", "setup"))
    assert late.tests[f"{F}::b"].status == "interrupted"
    assert reduce(state, began("c")).tests[f"{F}::c"].status == "pending"


@pytest.mark.parametrize(
    ("final", "status"),
    [
        (finish(2), "cancelled"),
        (finish(None, aborted=True, source="runner"), "cancelled"),
        (finish(0), "passed"),
    ],
)
def test_cancel_request_decides_how_the_run_ended(final: RunFinish, status: str) -> None:
    state = reduce_all([start(), began("a"), RunCancel(time=5.0), final])
    assert state.cancel_requested
    assert state.status == status


@pytest.mark.parametrize(
    ("exit_status", "reason"),
    [
        (0, "all tests passed"),
        (1, "tests failed"),
        (3, "pytest internal error"),
        (4, "pytest usage error"),
        (5, "no tests collected"),
        (7, "pytest exited with status 7"),
    ],
)
def test_exit_status_reasons(exit_status: int, reason: str) -> None:
    state = reduce_all([start(), finish(exit_status)])
    assert state.reason == reason
    assert state.status == ("passed" if exit_status == 0 else "failed")


def test_collection_errors_are_a_failure_with_their_count() -> None:
    problem = collect_report("tests/bad.py", longrepr="E Import", t=0.5)
    state = reduce_all([start(), problem, problem, finish(2)])
    assert state.status == "failed"
    assert state.reason == "interrupted: 1 error during collection"
    assert len(state.collect_problems) == 1


def test_second_finish_is_ignored() -> None:
    state = reduce_all([start(), finish(1), finish(0)])
    assert (state.status, state.exit_status) == ("failed", 1)


def test_collection_in_parts_is_complete_after_the_last_part() -> None:
    part1 = collected(("a", "p"), ("b", "p"), part=1, parts=2, total=3)
    part2 = collected(("c", "q"), part=2, parts=2, total=3)
    state = reduce_all([start(), part1])
    assert not state.collection_complete
    assert state.progress == (0, 3)
    state = reduce_all([part2, part1, part2], state)
    assert state.collection_complete
    assert state.order == (f"{F}::a", f"{F}::b", f"{F}::c")
    assert state.counts == Counts(pending=3)


def test_history_flags_attach_to_known_tests_only() -> None:
    history = HistoryLoaded(
        time=11.0,
        tests=(
            TestHistory(nodeid=f"{F}::test_pass", flaky=True, runs=4),
            TestHistory(nodeid=f"{F}::test_fail", slower=True, median=0.1, runs=4),
            TestHistory(nodeid=f"{F}::gone", flaky=True),
        ),
    )
    state = reduce(reduce_all(OUTCOME_STREAM), history)
    assert [t.name for t in state.tests_in_order() if t.flaky] == ["test_pass"]
    assert [t.name for t in state.tests_in_order() if t.slower] == ["test_fail"]
    assert f"{F}::gone" not in state.tests
    assert state.history_window == 10


def test_warnings_are_counted_but_only_some_are_kept() -> None:
    events: list[Event] = [
        WarningRecorded(time=1.0, message=f"w{n}", category="W") for n in range(250)
    ]
    state = reduce_all(events)
    assert state.warning_count == 250
    assert len(state.warnings) == MAX_WARNINGS_KEPT


def test_unknown_objects_change_nothing() -> None:
    state = reduce_all(OUTCOME_STREAM[:3])
    assert reduce(state, object()) is state  # type: ignore[arg-type]  # not an Event: on purpose


def test_a_folded_pass_reduces_to_what_its_start_trace_and_three_reports_give() -> None:
    """Schema v2's `test_pass` line and v1's five lines for the same passing test reach the
    same test state; with or without its start first, and a repeat changes nothing."""
    trace = traced("test_pass", 1.0, trace_id="a" * 32, span_id="b" * 16)
    v1: list[Event] = [
        start(),
        collected(("test_pass", "registration")),
        began("test_pass"),
        trace,
        report("test_pass", "setup", duration=0.01),
        report("test_pass", "call", duration=0.25, stdout="hi\n"),
        report("test_pass", "teardown", duration=0.02, stdout="hi\n"),
    ]
    folded = TestPassed(
        time=2.0,
        nodeid=nodeid("test_pass"),
        durations=(0.01, 0.25, 0.02),
        trace_id="a" * 32,
        span_id="b" * 16,
        stdout="hi\n",
    )
    old = reduce_all(v1).tests[nodeid("test_pass")]
    streams: list[list[Event]] = [[*v1[:3], folded], [*v1[:2], folded], [*v1[:2], folded, folded]]
    for stream in streams:
        new = reduce_all(stream)
        test = new.tests[nodeid("test_pass")]
        assert (test.status, test.duration, test.stdout, test.trace_id) == (
            TestStatus.PASSED,
            old.duration,
            "hi\n",
            "a" * 32,
        )
        assert [(p.when, p.category) for p in test.phases] == [
            (p.when, p.category) for p in old.phases
        ]
        assert test.started_at == (1.0 if stream[2] is not folded else 2.0 - 0.28)
        assert new.counts == Counts(passed=1)


def test_a_collect_report_counts_as_an_error_when_it_failed_and_else_as_skipped() -> None:
    """The plugin and the runner both count collect reports through this one rule."""
    counted = [collect_report_status(outcome) for outcome in ("failed", "skipped")]
    assert counted == [TestStatus.ERROR, TestStatus.SKIPPED]
