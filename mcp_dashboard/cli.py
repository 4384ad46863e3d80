"""`mcp-dashboard`: run a pytest suite and watch it; `--ci` is the headless front end.

`mcp-dashboard --ci [PATHS…]` runs pytest through the runner, prints a line per
finished test and a summary per critical path, records the run in the history,
and exits with pytest's own status. Without `--ci` and without a terminal on
stdout it does the same; with a terminal it opens the interactive dashboard
when that is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mcp_dashboard.github_summary import markdown_summary
from mcp_dashboard.headless import HeadlessPrinter
from mcp_dashboard.launch import Launcher, exit_code
from mcp_dashboard.runner import Run, RunConfig
from mcp_dashboard.state import RunState, reduce

OUTPUT_TAIL = 40


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-dashboard",
        description="Run a pytest suite live. With no PATHS: the realistic integration suite.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATHS", help="test files, dirs or node ids")
    parser.add_argument("--ci", action="store_true", help="plain text output, pytest's exit status")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k expression")
    parser.add_argument("-m", dest="markexpr", metavar="EXPR", help="pytest -m marker expression")
    parser.add_argument("--category", metavar="NAME", help="only tests with this marker")
    parser.add_argument("--pattern", metavar="TEXT", help="only node ids / files containing TEXT")
    parser.add_argument(
        "--rerun-failed",
        action="store_true",
        help="run exactly the tests that failed or errored in the last run of the same PATHS, "
        "and the test it was running if it died",
    )
    parser.add_argument("--json-report", type=Path, metavar="FILE", help="pytest-json-report file")
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help="JUnit XML report file")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print each step line")
    parser.add_argument("-n", dest="workers", metavar="N", help="pytest-xdist workers (or auto)")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="MCP_DATABASE_URL for the tests (default: $MCP_DATABASE_URL, else a new SQLite "
        "file per run); a SQLite file or PostgreSQL shows live tables",
    )
    parser.add_argument("--history", type=Path, metavar="FILE", help="run history SQLite file")
    parser.add_argument(
        "--monitor",
        action="store_true",
        help="no tests: watch a running service's tables (database from --database-url "
        "or MCP_DATABASE_URL)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The suite's database, like the service's: the flag, else the environment, else
    # (in Run) a fresh SQLite file per run.
    args.database_url = args.database_url or os.environ.get("MCP_DATABASE_URL") or None
    if args.monitor:
        return monitor(args)
    if not args.ci and sys.stdout.isatty():
        from mcp_dashboard.app import run_app

        return run_app(args)
    return run_ci(args, sys.stdout)


def monitor(args: argparse.Namespace) -> int:
    from mcp_dashboard.monitor import MonitorApp, describe
    from mcp_service.config import Settings
    from mcp_service.errors import MCPServiceError

    try:
        url = args.database_url or Settings.from_env().database_url
        describe(url)
    except (ValueError, MCPServiceError) as exc:
        print(f"mcp-dashboard: error: {exc}", file=sys.stderr)
        return 2
    if not sys.stdout.isatty():
        print("mcp-dashboard: error: --monitor needs a terminal", file=sys.stderr)
        return 2
    MonitorApp(url).run()
    return 0


def run_ci(args: argparse.Namespace, out: TextIO) -> int:
    with Launcher(args, Path.cwd()) as launcher:
        targets = launcher.initial_targets()
        if args.rerun_failed:
            message, failed = launcher.last_failures()
            out.write(message + "\n")
            if failed is None:
                return 0
            targets = failed
        config = launcher.config(targets)
        run_id = launcher.begin(config)
        printer = HeadlessPrinter(out, verbose=args.verbose)
        state, run = asyncio.run(drive(config, printer))
        state = launcher.finish(run_id, state)
    printer.summary(state)
    if state.status == "aborted" or state.exit_status in (3, 4) or state.started_at is None:
        _output_tail(out, list(run.output))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown_summary(state))
    return exit_code(state)


async def drive(config: RunConfig, printer: HeadlessPrinter) -> tuple[RunState, Run]:
    """Run pytest, fold every event into the state, let the printer draw each change.

    SIGINT and SIGTERM cancel the run (pytest gets SIGINT, then harsher signals).
    """
    state = RunState()
    loop = asyncio.get_running_loop()
    async with Run(config) as run:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(run.cancel()))
        try:
            async for event in run:
                new = reduce(state, event)
                printer.update(state, new, getattr(event, "nodeid", None))
                state = new
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return state, run


def _output_tail(out: TextIO, lines: list[str]) -> None:
    tail = [line for line in lines if line.strip()][-OUTPUT_TAIL:]
    if tail:
        out.write(f"--- pytest output (last {len(tail)} lines) ---\n")
        out.write("\n".join(tail) + "\n")


if __name__ == "__main__":
    sys.exit(main())
