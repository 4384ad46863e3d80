"""What to run, and what to remember about it: shared by `--ci` and the Textual app.

Both front ends build the same pytest command from the same options, record every
run in the same history, and rerun failures by explicit node id.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from mcp_dashboard.events import HistoryLoaded
from mcp_dashboard.history import WINDOW, History, paths_key
from mcp_dashboard.runner import STATE_DIR, RunConfig
from mcp_dashboard.state import RunState, reduce

DEFAULT_SUITE = Path("tests") / "integration"
HISTORY_FILE = "history.sqlite3"


def default_paths(cwd: Path) -> list[str]:
    """The realistic suite: ./tests/integration, else the one beside this package."""
    if (cwd / DEFAULT_SUITE).is_dir():
        return [str(DEFAULT_SUITE)]
    bundled = Path(__file__).resolve().parent.parent / DEFAULT_SUITE
    return [str(bundled if bundled.is_dir() else DEFAULT_SUITE)]


def selection_args(args: argparse.Namespace) -> list[str]:
    """-k, and -m joined with --category (a marker name)."""
    selected = []
    if args.keyword:
        selected += ["-k", args.keyword]
    marks = [m for m in (args.markexpr, args.category) if m]
    if marks:
        selected += ["-m", " and ".join(f"({m})" for m in marks) if len(marks) > 1 else marks[0]]
    return selected


def exit_code(state: RunState) -> int:
    """pytest's status; a run pytest could not finish is 2 when cancelled, else 3."""
    status = state.exit_status
    if state.status == "cancelled":
        return status if status not in (None, 0) else 2
    if state.status == "aborted":
        return status if status not in (None, 0) else 3
    return 3 if status is None else status


def node_targets(rootdir: str, nodeids: list[str]) -> list[str]:
    """Explicit node ids, absolute so they work whatever the rootdir was.

    Joined as strings: a node id may hold "//" inside its parameters.
    """
    return [os.path.join(rootdir, nodeid) for nodeid in nodeids]


class Launcher:
    def __init__(
        self,
        args: argparse.Namespace,
        cwd: Path | None = None,
        *,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = args
        self.cwd = cwd or Path.cwd()
        self.state_dir = state_dir
        self.env = env or {}
        self.paths: list[str] = list(args.paths or default_paths(self.cwd))
        self.key = paths_key(self.paths, self.cwd)
        self.history_path: Path = args.history or self.cwd / STATE_DIR / HISTORY_FILE
        self.history = History(self.history_path)

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.history.close()

    def initial_targets(self) -> list[str]:
        return list(self.paths)

    def node_targets(self, state: RunState, nodeids: list[str]) -> list[str]:
        return node_targets(state.rootdir or str(self.cwd), nodeids)

    def last_failures(self) -> tuple[str, list[str] | None]:
        """What `--rerun-failed` runs: the failed and errored ids of the last run of these PATHS."""
        shown = " ".join(self.paths)
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
        return RunConfig(
            pytest_args=[*targets, *selection_args(self.args)],
            cwd=self.cwd,
            database_url=self.args.database_url,
            json_report=self.args.json_report,
            junit_xml=self.args.junit_xml,
            workers=self.args.workers,
            pattern=self.args.pattern,
            state_dir=self.state_dir,
            env=self.env,
        )

    def begin(self, config: RunConfig) -> int:
        return self.history.start_run(self.key, [*config.pytest_args], time.time())

    def finish(self, run_id: int, state: RunState) -> RunState:
        """Record the run, then fold in what the history says (flaky, slower)."""
        self.history.finish_run(run_id, state)
        assessed = tuple(self.history.assess(run_id))
        return reduce(state, HistoryLoaded(time=time.time(), tests=assessed, window=WINDOW))

    def recent_durations(self, nodeid: str) -> list[float]:
        return self.history.recent_durations(nodeid)
