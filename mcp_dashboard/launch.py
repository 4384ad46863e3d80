"""What to run, and what to remember about it: shared by `--ci` and the Textual app.

Both front ends build the same pytest command from the same options, record every
run in the same history, and rerun failures by explicit node id.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from mcp_dashboard.events import HistoryLoaded
from mcp_dashboard.fingerprint import code_fingerprint
from mcp_dashboard.gc_pause import gc_paused
from mcp_dashboard.history import WINDOW, History, Result, assess_test, paths_key
from mcp_dashboard.options import Options
from mcp_dashboard.runner import STATE_DIR, RunConfig, prepare_state_dir
from mcp_dashboard.state import RunState, reduce
from mcp_dashboard.status import RunStatus

# Inside this repository, no PATHS means the realistic suite (what `make run` shows).
REALISTIC_SUITE = Path("tests") / "integration"
REALISTIC_MARKER = REALISTIC_SUITE / "test_mcp_service_realistic.py"
HISTORY_FILE = "history.sqlite3"


def default_paths(cwd: Path) -> list[str]:
    """No PATHS: pytest's own discovery (testpaths, rootdir), except in this repository."""
    if (cwd / REALISTIC_MARKER).is_file():
        return [str(REALISTIC_SUITE)]
    return []


def exit_code(state: RunState) -> int:
    """pytest's status; a run pytest could not finish is 2 when cancelled, else 3."""
    status = state.exit_status
    if state.status == RunStatus.CANCELLED:
        return status if status else 2
    if state.status == RunStatus.ABORTED:
        return status if status else 3
    return 3 if status is None else status


def node_targets(rootdir: str, nodeids: list[str]) -> list[str]:
    """Explicit node ids, absolute so they work whatever the rootdir was.

    Joined as strings: a node id may hold "//" inside its parameters.
    """
    return [os.path.join(rootdir, nodeid) for nodeid in nodeids]


class _Begun(NamedTuple):
    """A run begun here: the code it tests, and its tests' history, read while it runs."""

    fingerprint: str
    earlier: Future[dict[str, list[Result]]]


class Launcher:
    def __init__(
        self,
        options: Options,
        cwd: Path | None = None,
        *,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.options = options
        self.cwd = cwd or Path.cwd()
        self.state_dir = state_dir
        self.env = env or {}
        self.paths: list[str] = list(options.paths or default_paths(self.cwd))
        # No PATHS (pytest's discovery) is remembered as the directory it ran in.
        self.key = paths_key(self.paths or [str(self.cwd)], self.cwd)
        if options.history is None:
            prepare_state_dir(self.cwd / STATE_DIR)
        self.history_path: Path = options.history or self.cwd / STATE_DIR / HISTORY_FILE
        self.history = History(self.history_path)
        # Reads the history during a run, and writes a run's results while its verdicts
        # are made: at 20,000 tests, either took longer than everything else after pytest.
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="history")
        self._begun: dict[int, _Begun] = {}

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        self.history.close()

    def initial_targets(self) -> list[str]:
        return list(self.paths)

    def node_targets(self, state: RunState, nodeids: list[str]) -> list[str]:
        return node_targets(state.rootdir or str(self.cwd), nodeids)

    def last_failures(self) -> tuple[str, list[str] | None]:
        """What `--rerun-failed` runs: the failed and errored ids of the last run of these PATHS."""
        shown = " ".join(self.paths) or str(self.cwd)
        last = self.history.last_run(self.key)
        if last is None:
            return f"no earlier run of {shown} in {self.history_path}: nothing to rerun", None
        failed = self.history.failed_ids(last.id)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.started))
        if not failed:
            message = f"the last run of {shown} (run {last.id}, {when}) had no failures"
            return f"{message}: nothing to rerun", None
        message = f"rerunning the {len(failed)} failed tests of run {last.id} ({when})"
        return message, node_targets(last.rootdir, failed)

    def config(self, targets: list[str]) -> RunConfig:
        options = self.options
        return RunConfig(
            pytest_args=[*targets, *options.pytest_options, *options.selection()],
            cwd=self.cwd,
            database_url=options.database_url,
            json_report=options.json_report,
            junit_xml=options.junit_xml,
            pattern=options.pattern,
            state_dir=self.state_dir,
            env=self.env,
        )

    def begin(self, config: RunConfig) -> int:
        """Record the start of a run (blocking: git and the history file; the app calls it
        from a worker thread)."""
        fingerprint = code_fingerprint(self.cwd)
        run_id = self.history.start_run(self.key, [*config.pytest_args], time.time(), fingerprint)
        # Its tests are most likely those of the last run of these PATHS.
        earlier = self._threads.submit(self.history.earlier_results, run_id)
        self._begun[run_id] = _Begun(fingerprint, earlier)
        return run_id

    def finish(self, run_id: int, state: RunState) -> RunState:
        """Record the run, and fold in what the history says (flaky, slower): its results
        are written while the verdicts are made from its tests' earlier results (read
        during the run; a test the read did not cover is read now)."""
        with gc_paused():
            writing = self._threads.submit(self.history.finish_run, run_id, state)
            try:
                begun = self._begun.pop(run_id, None)
                if begun is None:  # a run begun elsewhere
                    begun = _Begun(self.history.fingerprint(run_id), Future())
                    begun.earlier.set_result({})
                ran = [
                    (t.nodeid, Result(run_id, t.status, t.duration, begun.fingerprint))
                    for t in state.tests_in_order()
                    if t.finished
                ]
                earlier = begun.earlier.result()
                missing = [nodeid for nodeid, _ in ran if nodeid not in earlier]
                if missing:
                    earlier = {**earlier, **self.history.earlier_results(run_id, missing)}
                assessed = tuple(
                    assess_test(nodeid, [result, *earlier.get(nodeid, ())])
                    for nodeid, result in ran
                )
                loaded = HistoryLoaded(time=time.time(), tests=assessed, window=WINDOW)
                return reduce(state, loaded)
            finally:
                writing.result()  # recorded before the run is called finished (or its error)

    def recent_durations(self, nodeid: str) -> list[float]:
        return self.history.recent_durations(nodeid)
