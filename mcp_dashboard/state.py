"""The run state and its pure reducer: `reduce(state, event) -> new state`.

Both front ends (the `--ci` printer and the Textual app) draw a `RunState` and
nothing else, so they can never disagree about what happened. The state is made
of frozen dataclasses and `immutables.Map` (a hash array mapped trie): an event
changes one test and one path in O(log n), so a 5,000-test run stays linear, and
every earlier state stays valid for a UI that diffs old against new.

The reducer accepts events in any order and any number of times: phases are
keyed by `when`, steps by their index, tests by node id, and a test's outcome is
recomputed from the phases it has, never accumulated.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from immutables import Map

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from mcp_dashboard.events import (
    Collection,
    CollectReport,
    Crash,
    Event,
    HistoryLoaded,
    Outcome,
    RunCancel,
    RunFinish,
    RunStart,
    Step,
    TestHistory,
    TestPassed,
    TestReport,
    TestStart,
    TestTrace,
    WarningRecorded,
)
from mcp_dashboard.status import OUTCOMES, STATUSES, RunStatus, TestStatus, is_failed, is_final

MAX_WARNINGS_KEPT = 200

EXIT_REASONS = {
    0: "all tests passed",
    1: "tests failed",
    2: "interrupted",
    3: "pytest internal error",
    4: "pytest usage error",
    5: "no tests collected",
}


@dataclass(frozen=True, slots=True)
class Counts:
    """How many tests are in each status."""

    pending: int = 0
    running: int = 0
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    interrupted: int = 0

    def moved(self, old: TestStatus | None, new: TestStatus | None) -> Counts:
        """One test left status `old` (None: it is new) for `new` (None: it left)."""
        if old == new:
            return self
        values = list(_counts_of(self))
        if old is not None:
            values[_SLOT[old]] -= 1
        if new is not None:
            values[_SLOT[new]] += 1
        return Counts(*values)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(_counts_of(self), _counts_of(other), strict=True)))

    def as_tuple(self) -> tuple[int, ...]:
        return _counts_of(self)

    def as_dict(self) -> dict[TestStatus, int]:
        return dict(zip(STATUSES, _counts_of(self), strict=True))

    def of(self, status: TestStatus) -> int:
        return int(getattr(self, status))

    @property
    def failed_or_error(self) -> int:
        return self.failed + self.error

    @property
    def total(self) -> int:
        return sum(self.as_tuple())

    @property
    def done(self) -> int:
        return self.total - self.pending - self.running


_counts_of: Callable[[Counts], tuple[int, ...]] = operator.attrgetter(*STATUSES)
_SLOT = {name: index for index, name in enumerate(STATUSES)}


PHASES = ("setup", "call", "teardown")  # a test's phases, in the order pytest runs them


@dataclass(frozen=True, slots=True)
class PhaseResult:
    when: str
    outcome: Outcome
    category: str
    duration: float
    crash: Crash | None = None
    longrepr: str = ""
    reason: str = ""
    stdout: str = ""
    stderr: str = ""
    log: str = ""


@dataclass(frozen=True, slots=True)
class StepLine:
    index: int
    message: str
    when: str
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TestState:
    __test__ = False

    nodeid: str
    critical_path: str
    file: str = ""
    line: int | None = None
    name: str = ""
    markers: tuple[str, ...] = ()
    collected: bool = False
    status: TestStatus = TestStatus.PENDING
    phases: tuple[PhaseResult, ...] = ()
    steps: tuple[StepLine, ...] = ()
    worker: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    history: TestHistory | None = None
    trace_id: str = ""  # the W3C trace the test ran in (its last run, if pytest ran it again)
    # Sessions made in its trace and still open when it finished (`SessionsLeft`).
    leaked: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return is_final(self.status)

    @property
    def failed(self) -> bool:
        return is_failed(self.status)

    @property
    def by_marker(self) -> bool:
        """Grouped by a `critical_path` marker (else by its module)."""
        return self.critical_path != module_of(self.nodeid)

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    @property
    def longrepr(self) -> str:
        return "\n".join(p.longrepr for p in self.phases if p.longrepr)

    @property
    def crash(self) -> Crash | None:
        return next((p.crash for p in self.phases if p.crash and p.outcome == "failed"), None)

    @property
    def skip_crash(self) -> Crash | None:
        """Where a skip was raised (pytest's `SKIPPED [1] file:line: reason`)."""
        return next((p.crash for p in self.phases if p.crash and p.outcome == "skipped"), None)

    @property
    def stdout(self) -> str:
        return _joined(self.phases, "stdout")

    @property
    def stderr(self) -> str:
        return _joined(self.phases, "stderr")

    @property
    def log(self) -> str:
        return _joined(self.phases, "log")

    @property
    def reason(self) -> str:
        return next((p.reason for p in self.phases if p.reason), "")

    @property
    def flaky(self) -> bool:
        return self.history is not None and self.history.flaky

    @property
    def slower(self) -> bool:
        return self.history is not None and self.history.slower


def _joined(phases: Iterable[PhaseResult], name: str) -> str:
    # pytest repeats earlier phases' capture in later reports: keep the longest.
    return max((str(getattr(p, name)) for p in phases), key=len, default="")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionsLeft:
    """App-side: the sessions a finished test's trace left open, as read from the service
    database. The reducer does no I/O: the app reads the rows, then folds this in."""

    nodeid: str
    trace_id: str  # the run of the test it is about: a test run again has a new trace
    sessions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PathStats:
    """One critical path: counts per status, summed duration, the slowest test."""

    name: str
    counts: Counts = Counts()
    duration: float = 0.0
    slowest: str | None = None
    slowest_duration: float = 0.0


@dataclass(frozen=True, slots=True)
class CollectProblem:
    nodeid: str
    outcome: Outcome
    longrepr: str

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


@dataclass(frozen=True, slots=True)
class WarningInfo:
    message: str
    category: str
    filename: str
    lineno: int | None
    nodeid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    status: RunStatus = RunStatus.PENDING
    reason: str = ""
    output: str = ""  # pytest's own words when it stopped before or outside the tests
    args: tuple[str, ...] = ()
    pid: int | None = None
    rootdir: str = ""
    workers: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    exit_status: int | None = None
    tests: Map[str, TestState] = field(default_factory=Map)
    order: tuple[str, ...] = ()
    paths: Map[str, PathStats] = field(default_factory=Map)
    path_order: tuple[str, ...] = ()
    collected: int = 0
    deselected: int = 0
    collection_parts: frozenset[int] = frozenset()
    collection_parts_total: int = 0
    collect_problems: tuple[CollectProblem, ...] = ()
    warnings: tuple[WarningInfo, ...] = ()
    warning_count: int = 0
    totals: Map[str, int] = field(default_factory=Map)
    counts: Counts = Counts()  # over all paths, kept in step by the reducer
    cancel_requested: bool = False
    ignored_lines: int = 0
    history_window: int | None = None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def progress(self) -> tuple[int, int]:
        """(tests done, tests expected)."""
        return self.counts.done, max(self.collected, len(self.tests))

    @property
    def collection_complete(self) -> bool:
        parts = self.collection_parts_total
        return parts > 0 and len(self.collection_parts) >= parts

    @property
    def active(self) -> bool:
        """Started or about to: tests may still change."""
        return self.status in (RunStatus.PENDING, RunStatus.RUNNING)

    @property
    def collection_errors(self) -> tuple[CollectProblem, ...]:
        return tuple(p for p in self.collect_problems if p.failed)

    def tests_in_order(self) -> list[TestState]:
        return [self.tests[n] for n in self.order]

    def path_stats(self) -> list[PathStats]:
        return [self.paths[p] for p in self.path_order if self.paths[p].counts.total]


# -- the reducer ---------------------------------------------------------------


def reduce(state: RunState, event: Event | SessionsLeft) -> RunState:
    """The state after `event`. Never mutates `state`; unknown events change nothing."""
    handler = _HANDLERS.get(type(event))
    return state if handler is None else handler(state, event)


def reduce_all(events: Iterable[Event | SessionsLeft], state: RunState | None = None) -> RunState:
    state = state or RunState()
    for event in events:
        state = reduce(state, event)
    return state


def module_of(nodeid: str) -> str:
    """The group of a test that has no `critical_path` marker (or is not collected yet)."""
    return nodeid.split("::", 1)[0]


def outcome_of(phases: Iterable[PhaseResult]) -> TestStatus:
    """A test's single outcome from its phase results (pytest's categories)."""
    by_when: dict[str, TestStatus] = {}
    for phase in phases:
        if phase.when not in PHASES:
            return TestStatus.FAILED  # e.g. xdist's report for a test whose worker crashed
        by_when[phase.when] = _category(phase)
    setup, call, teardown = (by_when.get(w) for w in PHASES)
    outcome: TestStatus
    if setup is not None and setup != TestStatus.PASSED:
        outcome = TestStatus.ERROR if is_failed(setup) else setup
    else:
        outcome = call or TestStatus.PASSED
    if teardown is not None and is_failed(teardown) and not is_failed(outcome):
        outcome = TestStatus.ERROR
    return outcome


def _category(phase: PhaseResult) -> TestStatus:
    """pytest's category of a phase; a plugin's own category falls back to the raw outcome."""
    if phase.category in OUTCOMES:
        return TestStatus(phase.category)
    if phase.outcome == "failed" and phase.when != "call":
        return TestStatus.ERROR
    return TestStatus(phase.outcome)


def _complete(phases: tuple[PhaseResult, ...]) -> bool:
    return any(p.when not in ("setup", "call") for p in phases)


def _new_test(nodeid: str) -> TestState:
    return TestState(nodeid=nodeid, critical_path=module_of(nodeid))


def _put(
    state: RunState, old: TestState | None, new: TestState, *, append: bool = True
) -> RunState:
    """Store `new` in place of `old`, and move the test's share of its path's statistics."""
    paths = state.paths
    path_order = state.path_order
    moved_path = old is not None and old.critical_path != new.critical_path
    if old is not None and moved_path:
        left = _replaced(paths[old.critical_path], old, None)
        if left.slowest == old.nodeid:
            left = _reslowest(left, state.tests, old.nodeid)
        paths = paths.set(old.critical_path, left)
    stats = paths.get(new.critical_path)
    if stats is None:
        stats = PathStats(new.critical_path)
        path_order = (*path_order, new.critical_path)
    paths = paths.set(new.critical_path, _replaced(stats, None if moved_path else old, new))
    return _evolve(
        state,
        tests=state.tests.set(new.nodeid, new),
        paths=paths,
        path_order=path_order,
        order=(*state.order, new.nodeid) if old is None and append else state.order,
        counts=state.counts.moved(None if old is None else old.status, new.status),
    )


def _replaced(stats: PathStats, old: TestState | None, new: TestState | None) -> PathStats:
    """`stats` with `old`'s share (if any) taken out and `new`'s (if any) put in."""
    counts = stats.counts.moved(
        None if old is None else old.status, None if new is None else new.status
    )
    duration = stats.duration - (old.duration if old else 0.0) + (new.duration if new else 0.0)
    slowest, slowest_duration = stats.slowest, stats.slowest_duration
    if (
        new is not None
        and new.finished
        and (new.duration > slowest_duration or slowest == new.nodeid)
    ):
        slowest, slowest_duration = new.nodeid, new.duration
    return PathStats(stats.name, counts, duration, slowest, slowest_duration)


_EVOLVERS: dict[type, Callable[[Any, dict[str, object]], Any]] = {}
_T = TypeVar("_T", bound="DataclassInstance")


def _evolve(obj: _T, **changes: object) -> _T:
    """`dataclasses.replace` without its per-call checks: the reducer's hot path.

    Only for this module's frozen dataclasses, which have no __post_init__. Each class
    gets a copier written for its fields once (`_evolver`): a loop over the names cost
    a third of a 20,000-test run's reduce."""
    evolver = _EVOLVERS.get(type(obj))
    if evolver is None:
        evolver = _EVOLVERS[type(obj)] = _evolver(type(obj))
    result: _T = evolver(obj, changes)
    return result


def _evolver(cls: type) -> Callable[[Any, dict[str, object]], Any]:
    names = [f.name for f in fields(cls)]
    lines = ["def evolve(obj, changes):", "    new = new_(cls)", "    get = changes.get"]
    lines += [f"    set_(new, {name!r}, get({name!r}, obj.{name}))" for name in names]
    lines.append("    return new")
    scope: dict[str, Any] = {"new_": object.__new__, "set_": object.__setattr__, "cls": cls}
    exec("\n".join(lines), scope)  # noqa: S102 (field names of our own dataclasses)
    evolve: Callable[[Any, dict[str, object]], Any] = scope["evolve"]
    return evolve


def _reslowest(stats: PathStats, tests: Map[str, TestState], leaving: str) -> PathStats:
    members = [
        t
        for t in tests.values()
        if t.critical_path == stats.name and t.nodeid != leaving and t.finished
    ]
    top = max(members, key=lambda t: t.duration, default=None)
    if top is None:
        return _evolve(stats, slowest=None, slowest_duration=0.0)
    return _evolve(stats, slowest=top.nodeid, slowest_duration=top.duration)


def _started(state: RunState) -> RunState:
    if state.status == RunStatus.PENDING:
        return _evolve(state, status=RunStatus.RUNNING)
    return state


def _running_unless_over(state: RunState, test: TestState) -> TestStatus:
    """A pending test that shows signs of life runs, unless the run already ended."""
    if test.status == TestStatus.PENDING and not state.finished:
        return TestStatus.RUNNING
    return test.status


def _on_run_start(state: RunState, e: RunStart) -> RunState:
    return _evolve(
        _started(state),
        args=e.args,
        pid=e.pid,
        rootdir=e.rootdir,
        workers=e.workers,
        started_at=e.time if state.started_at is None else min(state.started_at, e.time),
    )


def _on_collection(state: RunState, e: Collection) -> RunState:
    state = _started(state)
    added = []
    for item in e.tests:
        old = state.tests.get(item.nodeid)
        base = old or _new_test(item.nodeid)
        new = _evolve(
            base,
            critical_path=item.path_of,
            file=item.file_of,
            line=item.line,
            name=item.name_of,
            markers=item.markers,
            collected=True,
        )
        if new != old:
            state = _put(state, old, new, append=False)
            if old is None:
                added.append(item.nodeid)
    return _evolve(
        state,
        order=(*state.order, *added),
        collected=e.total,
        deselected=e.deselected,
        collection_parts=state.collection_parts | {e.part},
        collection_parts_total=e.parts,
    )


def _on_collect_report(state: RunState, e: CollectReport) -> RunState:
    problem = CollectProblem(e.nodeid, e.outcome, e.longrepr)
    if problem in state.collect_problems:
        return state
    return _evolve(_started(state), collect_problems=(*state.collect_problems, problem))


def _on_test_start(state: RunState, e: TestStart) -> RunState:
    state = _started(state)
    old = state.tests.get(e.nodeid)
    test = old or _evolve(_new_test(e.nodeid), file=e.file, line=e.line)
    if test.started_at is not None:
        return state
    status = _running_unless_over(state, test)
    trace_id = e.trace_id or test.trace_id
    return _put(state, old, _evolve(test, status=status, started_at=e.time, trace_id=trace_id))


def _on_step(state: RunState, e: Step) -> RunState:
    state = _started(state)
    old = state.tests.get(e.nodeid)
    test = old or _new_test(e.nodeid)
    if any(s.index == e.index for s in test.steps):
        return state
    line = StepLine(e.index, e.message, e.when, e.time)
    if not test.steps or test.steps[-1].index < e.index:
        steps = (*test.steps, line)
    else:
        steps = tuple(sorted((*test.steps, line), key=lambda s: s.index))
    status = _running_unless_over(state, test)
    return _put(
        state, old, _evolve(test, steps=steps, status=status, worker=test.worker or e.worker)
    )


def _on_test_trace(state: RunState, e: TestTrace) -> RunState:
    state = _started(state)
    old = state.tests.get(e.nodeid)
    test = old or _new_test(e.nodeid)
    if test.trace_id == e.trace_id:
        return state
    return _put(state, old, _evolve(test, trace_id=e.trace_id, worker=test.worker or e.worker))


def _on_test_report(state: RunState, e: TestReport) -> RunState:
    state = _started(state)
    old = state.tests.get(e.nodeid)
    test = old or _new_test(e.nodeid)
    if any(p.when == e.when for p in test.phases):
        return state
    phase = PhaseResult(
        when=e.when,
        outcome=e.outcome,
        category=e.category,
        duration=e.duration,
        crash=e.crash,
        longrepr=e.longrepr,
        reason=e.reason,
        stdout=e.stdout,
        stderr=e.stderr,
        log=e.log,
    )
    phases = (*test.phases, phase)
    finished_at: float | None
    if _complete(phases):
        status = outcome_of(phases)
        finished_at = e.time if test.finished_at is None else max(test.finished_at, e.time)
    else:
        status = TestStatus.INTERRUPTED if state.finished else TestStatus.RUNNING
        finished_at = test.finished_at
    new = _evolve(
        test,
        phases=phases,
        status=status,
        finished_at=finished_at,
        worker=test.worker or e.worker,
        started_at=test.started_at if test.started_at is not None else e.time - e.duration,
    )
    return _put(state, old, new)


def _on_test_passed(state: RunState, e: TestPassed) -> RunState:
    """A test that passed, in one event (schema v2): its three phases, all passed."""
    state = _started(state)
    old = state.tests.get(e.nodeid)
    test = old or _new_test(e.nodeid)
    if test.phases:
        return state  # it already has reports: this one is a duplicate
    setup, call, teardown = e.durations
    phases = (
        PhaseResult(when="setup", outcome="passed", category="passed", duration=setup),
        PhaseResult(when="call", outcome="passed", category="passed", duration=call),
        PhaseResult(
            when="teardown",
            outcome="passed",
            category="passed",
            duration=teardown,
            stdout=e.stdout,
            stderr=e.stderr,
            log=e.log,
        ),
    )
    new = _evolve(
        test,
        phases=phases,
        status=TestStatus.PASSED,
        finished_at=e.time,
        worker=test.worker or e.worker,
        started_at=test.started_at if test.started_at is not None else e.time - sum(e.durations),
        trace_id=test.trace_id or e.trace_id,
    )
    return _put(state, old, new)


def _on_sessions_left(state: RunState, e: SessionsLeft) -> RunState:
    test = state.tests.get(e.nodeid)
    if test is None or test.trace_id != e.trace_id or test.leaked == e.sessions:
        return state
    return _put(state, test, _evolve(test, leaked=e.sessions))


def _on_warning(state: RunState, e: WarningRecorded) -> RunState:
    info = WarningInfo(e.message, e.category, e.filename, e.lineno, e.nodeid)
    kept = state.warnings if len(state.warnings) >= MAX_WARNINGS_KEPT else (*state.warnings, info)
    return _evolve(state, warnings=kept, warning_count=state.warning_count + 1)


def _on_run_finish(state: RunState, e: RunFinish) -> RunState:
    if state.finished:
        return state  # a duplicate: the first finish stands
    if e.aborted:
        status = RunStatus.CANCELLED if state.cancel_requested else RunStatus.ABORTED
    elif e.exit_status == 0:
        status = RunStatus.PASSED
    elif state.cancel_requested:
        status = RunStatus.CANCELLED
    else:
        status = RunStatus.FAILED
    state = _evolve(
        state,
        status=status,
        reason=e.reason or _reason(state, e.exit_status),
        output=e.output,
        exit_status=e.exit_status,
        finished_at=e.time,
        totals=Map(e.totals),
        ignored_lines=e.ignored_lines,
    )
    for test in [t for t in state.tests.values() if t.status == TestStatus.RUNNING]:
        ended = outcome_of(test.phases) if _complete(test.phases) else TestStatus.INTERRUPTED
        state = _put(state, test, _evolve(test, status=ended))
    return state


def _reason(state: RunState, exit_status: int | None) -> str:
    known = EXIT_REASONS.get(exit_status) if exit_status is not None else None
    reason = known or f"pytest exited with status {exit_status}"
    errors = len(state.collection_errors)
    if errors and exit_status != 0:
        reason = f"{reason}: {errors} error{'s' if errors != 1 else ''} during collection"
    return reason


def _on_cancel(state: RunState, e: RunCancel) -> RunState:
    return state if state.cancel_requested else _evolve(state, cancel_requested=True)


def _on_history(state: RunState, e: HistoryLoaded) -> RunState:
    # Every test of a run at once: one mutation of the map, not a new map per test.
    with state.tests.mutate() as tests:
        for entry in e.tests:
            test = tests.get(entry.nodeid)
            if test is not None and test.history != entry:
                tests[entry.nodeid] = _evolve(test, history=entry)
        changed = tests.finish()
    return _evolve(state, tests=changed, history_window=e.window)


# Each handler takes its own event type; `reduce` looks it up by that type.
_HANDLERS: dict[type[Event | SessionsLeft], Callable[[RunState, Any], RunState]] = {
    RunStart: _on_run_start,
    Collection: _on_collection,
    CollectReport: _on_collect_report,
    TestStart: _on_test_start,
    TestTrace: _on_test_trace,
    Step: _on_step,
    TestReport: _on_test_report,
    TestPassed: _on_test_passed,
    WarningRecorded: _on_warning,
    RunFinish: _on_run_finish,
    RunCancel: _on_cancel,
    HistoryLoaded: _on_history,
    SessionsLeft: _on_sessions_left,
}
