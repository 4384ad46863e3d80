"""Watch mode: change batches from the file system, and the plan that turns them into runs.

`WatchPlan` is a small state machine, fed events and answering with the run to
start, if any — no clock, no I/O, so every rule is testable by feeding it:

- idle: a change that affects tests starts a run at once;
- running: a change is merged into one pending rerun (however many arrive), which
  starts when the run ends — never two runs at a time, never a change lost;
- a run's selection is the test files the changes affect, plus the tests that
  failed last time (by node id, unless their file is selected anyway); only files
  pytest collected in an earlier run, or new ones: a test file (by the project's
  `python_files`, pytest_config.py) that pytest's configuration leaves out
  (norecursedirs, -k, -m) is not run by naming it;
- `run_all()` asks for everything in scope, now or when the run ends.

`change_batches` wraps watchfiles: one set of paths per debounced burst of saves,
with the project's noise (venv, caches, the state directory, .git) filtered out.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from mcp_dashboard.import_graph import (
    CACHE_FILE,
    ChangeKind,
    Effect,
    Impact,
    ImportGraph,
    project_relative,
)
from mcp_dashboard.pytest_config import python_files
from mcp_dashboard.state import RunState
from mcp_dashboard.status import is_final, needs_rerun

DEBOUNCE_MS = 1_600  # the longest a burst of saves is gathered before it is one batch
STEP_MS = 50  # a batch ends after this long without a new change
REASONS_SHOWN = 3  # changed files named in a reason; the rest are counted

V = TypeVar("V")


class Phase(StrEnum):
    IDLE = "idle"
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class Request:
    """A run the plan asks for. `targets` go to pytest: test files and node ids, relative
    to the project root; for `run_all`, the scope's own paths (none: pytest's discovery)."""

    targets: tuple[str, ...]
    reason: str
    run_all: bool = False
    tests: tuple[str, ...] = ()  # the affected test files
    failed: tuple[str, ...] = ()  # node ids that failed last time, not covered by `tests`


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What a finished run says, node ids and files relative to the project root."""

    passed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # failed, errored, interrupted; a file that failed to collect
    files: tuple[str, ...] = ()  # every test file the run collected


@dataclass
class _Pending:
    effects: dict[str, Effect] = field(default_factory=dict)  # by path: the latest wins
    run_all: str | None = None  # why everything runs

    def __bool__(self) -> bool:
        return bool(self.effects) or self.run_all is not None


class WatchPlan:
    """What watch mode runs next. Call `start()`, then `changed()`, `run_all()` and
    `finished()` as things happen; each returns the `Request` to start now, or None."""

    def __init__(self, scope: Sequence[str] = ()) -> None:
        self.scope = tuple(_normal(p) for p in scope)
        self.phase = Phase.IDLE
        self.failed: set[str] = set()  # node ids (file relative to the root) to rerun
        self.collected: set[str] | None = None  # test files pytest collects; None: not known
        self.status = "watching"  # one line for a header: what changed, why these tests
        self.runs = 0  # runs started: the plan's own and those `began` tells of
        self.deleted: frozenset[str] = frozenset()  # files the last batch planned deleted
        self._pending = _Pending()
        self._running: Request | None = None

    @property
    def pending(self) -> bool:
        """A rerun is queued for when the current run ends."""
        return bool(self._pending)

    def start(self) -> Request:
        """Watch mode begins with everything in scope."""
        self._pending = _Pending(run_all="watch started: all tests")
        request = self._next()
        assert request is not None
        return request

    def run_all(self) -> Request | None:
        self._pending.run_all = "run all requested"
        return self._next() if self.phase == Phase.IDLE else None

    def began(self, reason: str, *, run_all: bool = False) -> None:
        """A run the front end started itself (the dashboard's `f` or `a`): changes queue
        behind it as behind the plan's own runs, and `finished` is still to be called."""
        self.phase = Phase.RUNNING
        self._running = Request((), reason, run_all=run_all)
        self.runs += 1
        self.status = reason

    def changed(self, impact: Impact) -> Request | None:
        """Files changed. Idle: the run to start (None if no test is affected); running:
        queued, merged with what is already queued."""
        if not impact.effects:
            return None
        for effect in impact.effects:
            self._pending.effects[effect.path] = effect
        if self.phase == Phase.RUNNING:
            self.status = f"queued: {_describe(list(self._pending.effects.values()))}"
            return None
        return self._next()

    def finished(self, outcomes: Outcomes) -> Request | None:
        """The run ended: remember what failed (a test that did not run keeps its last
        verdict) and what pytest collects; then the queued rerun, if any."""
        failed = dict.fromkeys(outcomes.failed)
        self.failed = set(still_to_rerun(dict.fromkeys(self.failed), outcomes.passed, failed))
        if self._running is not None and self._running.run_all:
            self.collected = set(outcomes.files) or None  # nothing collected: a usage error
        elif self.collected is not None:
            self.collected.update(outcomes.files)
        self._running = None
        self.phase = Phase.IDLE
        self.status = "watching"
        return self._next()

    def _next(self) -> Request | None:
        pending, self._pending = self._pending, _Pending()
        if not pending:
            return None
        effects = sorted(pending.effects.values(), key=lambda e: e.path)
        gone = {e.path for e in effects if e.kind == ChangeKind.DELETED}
        self.deleted = frozenset(gone)
        self.failed = {n for n in self.failed if _file_of(n) not in gone}
        if self.collected is not None:
            self.collected -= gone
            self.collected |= {e.path for e in effects if e.kind == ChangeKind.ADDED}
        if pending.run_all is not None:
            request = Request(self.scope, pending.run_all, run_all=True)
        else:
            tests = tuple(sorted({t for e in effects for t in e.tests if self._runs(t)}))
            failed = tuple(sorted(n for n in self.failed if _file_of(n) not in tests))
            reason = _describe(effects)
            if not tests:
                self.status = reason
                return None
            if failed:
                reason += f"; {_count(len(failed), 'test')} failed last time"
            request = Request(self._targets(tests) + failed, reason, tests=tests, failed=failed)
        self.phase = Phase.RUNNING
        self._running = request
        self.runs += 1
        self.status = request.reason
        return request

    def _runs(self, test: str) -> bool:
        if self.collected is not None and test not in self.collected:
            return False
        if not self.scope:
            return True
        for path in self.scope:
            file = _file_of(path)
            if file in (".", test) or test.startswith(file + "/"):
                return True
        return False

    def _targets(self, tests: tuple[str, ...]) -> tuple[str, ...]:
        """A scope of node ids narrows its file to those ids."""
        narrowed = {t: [p for p in self.scope if "::" in p and _file_of(p) == t] for t in tests}
        return tuple(target for t in tests for target in (narrowed[t] or [t]))


class WatchSession:
    """What watch mode keeps between runs, for either front end: the project's import
    graph and the plan. `start`, `changed` and `finished` read files (blocking: call them
    from a worker thread in the app); `batches()` is the async stream of changes.

    Each returns the `Request` to start now, or None; `status` is the header's line."""

    def __init__(
        self,
        root: Path,
        state_dir: Path,
        scope: Sequence[str] = (),
        pytest_args: Sequence[str] = (),
    ) -> None:
        self.root = root.resolve()
        self.state_dir = state_dir
        # A test file is what pytest collects as one: the project's `python_files`.
        patterns = python_files(self.root, scope, pytest_args)
        self.graph = ImportGraph(
            self.root, state_dir / CACHE_FILE, ignored=[state_dir], test_patterns=patterns
        )
        self.plan = WatchPlan([_relative(p, self.root) for p in scope])

    def start(self) -> Request:
        self.graph.scan()
        return self.plan.start()

    def changed(self, paths: Iterable[Path]) -> Request | None:
        return self.plan.changed(self.graph.update(paths))

    def finished(self, state: RunState) -> Request | None:
        return self.plan.finished(outcomes(state, self.root))

    def run_all(self) -> Request | None:
        return self.plan.run_all()

    def forget_deleted(self, state: RunState) -> RunState:
        """`state` without the collection errors of the test files the last batch deleted,
        when that batch started no run (none will say they are gone); `status` says so."""
        if not self.plan.deleted or self.plan.phase != Phase.IDLE:
            return state
        rootdir = state.rootdir or str(self.root)
        kept = tuple(
            p
            for p in state.collect_problems
            if not (
                p.failed and _file_of(_rebase(rootdir, p.nodeid, self.root)) in self.plan.deleted
            )
        )
        cleared = len(state.collect_problems) - len(kept)
        if not cleared:
            return state
        self.plan.status += f"; {_count(cleared, 'collection error')} cleared"
        return dataclasses.replace(state, collect_problems=kept)

    def began(self, reason: str, *, run_all: bool = False) -> None:
        self.plan.began(reason, run_all=run_all)

    @property
    def status(self) -> str:
        return self.plan.status

    def batches(self) -> AsyncIterator[frozenset[Path]]:
        return change_batches(self.root, ignored=[self.state_dir])


def still_to_rerun(
    before: Mapping[str, V], passed: Iterable[str], failed: Mapping[str, V]
) -> dict[str, V]:
    """What still needs a rerun after a run (node id -> what is known of it, e.g. its
    status): the run's failures, and the earlier ones it did not run — a test the run
    did not run (cancelled before it, outside its selection) keeps its last verdict; a
    test it passed needs none. Earlier ones first, in their order; then the run's."""
    ended = set(passed)
    kept = {n: v for n, v in before.items() if n not in ended and n not in failed}
    return kept | dict(failed)


def outcomes(state: RunState, root: Path) -> Outcomes:
    """A finished run's outcomes, node ids rebased from pytest's rootdir onto `root`."""
    rootdir = state.rootdir or str(root)
    passed, failed = [], []
    for nodeid, test in state.tests.items():
        if needs_rerun(test.status):
            failed.append(_rebase(rootdir, nodeid, root))
        elif is_final(test.status):
            passed.append(_rebase(rootdir, nodeid, root))
    failed += [_rebase(rootdir, p.nodeid, root) for p in state.collection_errors if p.nodeid]
    files = {_file_of(_rebase(rootdir, n, root)) for n in state.tests} | {
        _file_of(n) for n in failed
    }
    return Outcomes(tuple(passed), tuple(failed), tuple(sorted(files)))


def _rebase(rootdir: str, nodeid: str, root: Path) -> str:
    file, sep, rest = nodeid.partition("::")
    absolute = os.path.normpath(os.path.join(rootdir, file))
    relative = os.path.relpath(absolute, root)
    file = absolute if relative.startswith("..") else relative
    return file.replace(os.sep, "/") + sep + rest


def _relative(path: str, root: Path) -> str:
    """A PATHS word relative to the root, as the import graph names files."""
    file, sep, rest = path.partition("::")
    absolute = os.path.normpath(root / file)
    relative = os.path.relpath(absolute, root)
    return (absolute if relative.startswith("..") else relative) + sep + rest


def _normal(path: str) -> str:
    file, sep, rest = path.partition("::")
    return os.path.normpath(file).replace(os.sep, "/") + sep + rest


def _file_of(nodeid: str) -> str:
    return nodeid.partition("::")[0]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _describe(effects: list[Effect]) -> str:
    """`pkg/core.py changed: 3 test files import it; tests/test_x.py changed`."""
    parts = [_say(e) for e in effects[:REASONS_SHOWN]]
    if len(effects) > REASONS_SHOWN:
        parts.append(f"and {_count(len(effects) - REASONS_SHOWN, 'more file')}")
    return "; ".join(parts)


def _say(effect: Effect) -> str:
    head = f"{effect.path} {effect.kind}"
    n = len(effect.tests)
    if effect.is_test:
        return head
    if effect.conftest_dir is not None:
        where = f"{effect.conftest_dir}/" if effect.conftest_dir else "the project"
        return f"{head}: {_count(n, 'test file')} under {where}"
    if n == 0:
        return f"{head}: no test imports it"
    verb = "imported" if effect.kind == ChangeKind.DELETED else ("imports" if n == 1 else "import")
    return f"{head}: {_count(n, 'test file')} {verb} it"


class ProjectFilter:
    """watchfiles' filter: a Python file of the project (import_graph.project_relative),
    or a path without a suffix, which may be a directory moved or deleted whole. Any
    other file (a log, a database, this command's own output redirected into the
    project) is not a change: it affects no test, and a line per change to it was
    printed forever when the output file lived in the project."""

    def __init__(self, root: Path, ignored: Iterable[Path] = ()) -> None:
        self.root = root.resolve()
        self.ignored = tuple(p.resolve() for p in ignored)

    def __call__(self, change: object, path: str) -> bool:
        if Path(path).suffix not in (".py", ""):
            return False
        return project_relative(self.root, path, self.ignored) is not None


async def change_batches(
    root: Path,
    *,
    ignored: Iterable[Path] = (),
    debounce_ms: int = DEBOUNCE_MS,
    step_ms: int = STEP_MS,
) -> AsyncIterator[frozenset[Path]]:
    """The paths changed under `root`, one set per debounced burst. Cancel to stop.

    The watch is in place once the first `__anext__` has run one step (watchfiles sets
    it up before it first waits), so a caller that starts this in a task and yields to
    the loop once misses no change made after that.
    """
    from watchfiles import awatch

    watch_filter = ProjectFilter(root, ignored)
    async for changes in awatch(
        root, watch_filter=watch_filter, debounce=debounce_ms, step=step_ms
    ):
        yield frozenset(Path(path) for _, path in changes)
