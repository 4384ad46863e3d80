"""`mcp-dashboard`: run a pytest suite and watch it; `--ci` is the headless front end.

`mcp-dashboard --ci [PATHS…]` runs pytest through the runner, prints what
`pytest -q` would (with the table per critical path), records the run in the
history, and exits with pytest's own status. Without `--ci` and without a
terminal on stdout it does the same; with a terminal it opens the dashboard.
Options are parsed once, here, into `options.Options`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mcp_dashboard.db_views.engines import load_in_background
from mcp_dashboard.gc_pause import no_collection_at_exit
from mcp_dashboard.github_summary import markdown_summary
from mcp_dashboard.headless import HeadlessPrinter, wants_colour
from mcp_dashboard.headless_run import fold
from mcp_dashboard.launch import Launcher, exit_code
from mcp_dashboard.options import Options, parse
from mcp_dashboard.run_calls import measure_calls
from mcp_dashboard.runner import Run, RunConfig
from mcp_dashboard.state import RunState


def version() -> str:
    """`mcp-dashboard 0.1.0 (pytest 8.4.2, textual 8.2.8, Python 3.11.7)`."""
    from importlib import metadata

    def of(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    python = sys.version.split()[0]
    return (
        f"mcp-dashboard {of('mcp-service-dashboard')} "
        f"(pytest {of('pytest')}, textual {of('textual')}, Python {python})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv, version=version())
    # The suite's database, like the service's: the flag, else the environment, else
    # (in Run) a fresh SQLite file per run.
    database_url = options.database_url or os.environ.get("MCP_DATABASE_URL") or None
    # The live feed's Redis, like the service's: the flag, else the environment.
    redis_url = options.redis_url or os.environ.get("MCP_REDIS_URL", "").strip() or None
    options = dataclasses.replace(options, database_url=database_url, redis_url=redis_url)
    if options.monitor:
        return monitor(options)
    if options.watch and (options.ci or not sys.stdout.isatty()):
        from mcp_dashboard.watch_ci import watch_ci

        return watch_ci(options, sys.stdout)
    if not options.ci and sys.stdout.isatty():
        from mcp_dashboard.app import run_app

        return run_app(options)
    return run_ci(options, sys.stdout)


def monitor(options: Options) -> int:
    from mcp_dashboard.monitor import MonitorApp, describe
    from mcp_service.config import Settings
    from mcp_service.errors import MCPServiceError

    try:
        url = options.database_url or Settings.from_env().database_url
        describe(url)
    except (ValueError, MCPServiceError) as exc:
        print(f"mcp-dashboard: error: {exc}", file=sys.stderr)
        return 2
    if not sys.stdout.isatty():
        print("mcp-dashboard: error: --monitor needs a terminal", file=sys.stderr)
        return 2
    MonitorApp(url, redis_url=options.redis_url).run()
    return 0


def run_ci(options: Options, out: TextIO) -> int:
    with Launcher(options, Path.cwd()) as launcher:
        targets = launcher.initial_targets()
        if options.rerun_failed:
            message, failed = launcher.last_failures()
            out.write(message + "\n")
            if failed is None:
                return 0
            targets = failed
        config = launcher.config(targets)
        run_id = launcher.begin(config)
        printer = HeadlessPrinter(
            out,
            verbosity=options.verbosity,
            steps=options.steps,
            colour=wants_colour(out, options.color, os.environ),
        )
        if not options.rerun_failed:
            load_in_background()  # what reading the run's tool calls needs, during the run
        state, run = asyncio.run(drive(config, printer))
        # What is left is the run's end and the exit: no collection need walk the run.
        no_collection_at_exit()
        state = launcher.finish(run_id, state)
        # A rerun of a few tests is not measured against the runs of every test.
        whole = not options.rerun_failed
        calls = measure_calls(launcher.history, run_id, state, run.database_url) if whole else None
    printer.summary(state, list(run.output), calls)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown_summary(state, calls))
    return exit_code(state)


async def drive(config: RunConfig, printer: HeadlessPrinter) -> tuple[RunState, Run]:
    """Run pytest, fold every event into the state, let the printer draw each change.

    SIGINT and SIGTERM cancel the run (pytest gets SIGINT, then harsher signals).
    """
    loop = asyncio.get_running_loop()
    async with Run(config) as run:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(run.cancel()))
        try:
            state = await fold(run, printer)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return state, run


def console() -> int:
    """The `mcp-dashboard` command: `main`, then an exit without a last pass of the
    garbage collector over what the run left in memory."""
    code = main()
    no_collection_at_exit()
    return code


if __name__ == "__main__":
    sys.exit(console())
