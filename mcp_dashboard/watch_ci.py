"""`mcp-dashboard --watch --ci`: watch mode for a terminal without the dashboard.

The first run runs everything in scope; then each saved change reruns what the
plan (watch.py) selects, each run printed as `--ci` prints it, fresh, under one
line that says what changed and why these tests. A change during a run waits
for it to end. Ctrl-C (or SIGTERM) stops a run in progress as `--ci` does, then
ends watch mode with the exit status of the last run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any, TextIO

from mcp_dashboard.headless import HeadlessPrinter, wants_colour
from mcp_dashboard.headless_run import fold
from mcp_dashboard.launch import Launcher, exit_code
from mcp_dashboard.options import Options
from mcp_dashboard.runner import STATE_DIR, Run
from mcp_dashboard.state import RunState
from mcp_dashboard.watch import Phase, Request, WatchSession

CLEAR = "\x1b[2J\x1b[H"  # a fresh screen per run, on a terminal


def watch_ci(options: Options, out: TextIO) -> int:
    return asyncio.run(CiWatch(options, out, Path.cwd()).watch())


class CiWatch:
    def __init__(self, options: Options, out: TextIO, root: Path) -> None:
        self.options = options
        self.out = out
        self.launcher = Launcher(options, root)
        state_dir = self.launcher.state_dir or root / STATE_DIR
        self.session = WatchSession(root, state_dir, self.launcher.paths)
        self.run: Run | None = None
        self.stop = asyncio.Event()

    async def watch(self) -> int:
        loop = asyncio.get_running_loop()
        batches: asyncio.Queue[frozenset[Path]] = asyncio.Queue()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        watcher: asyncio.Task[None] | None = None
        try:
            with self.launcher:
                first = await asyncio.to_thread(self.session.start)
                watcher = asyncio.create_task(self._forward(batches))
                await asyncio.sleep(0)  # the watch is in place from here (change_batches)
                return await self._loop(first, batches)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _loop(self, first: Request, batches: asyncio.Queue[frozenset[Path]]) -> int:
        code = 0
        request: Request | None = first
        running: asyncio.Task[RunState] | None = None
        stopping = asyncio.create_task(self.stop.wait())
        while True:
            if running is None and self.stop.is_set():
                return code
            if request is not None:
                running = asyncio.create_task(self._run(request))
                request = None
            changes = asyncio.create_task(batches.get())
            waits: set[asyncio.Future[Any]] = {stopping, changes}
            if running is not None:
                waits.add(running)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if not changes.done():
                changes.cancel()
            if running is not None and running.done():
                state = running.result()
                running = None
                code = exit_code(state)
                request = self.session.finished(state)
                if request is None:
                    root = self.session.root
                    self._say(f"watch: waiting for changes in {root} (Ctrl-C to stop)")
            if stopping.done():
                if running is not None:
                    if self.run is not None:
                        await self.run.cancel()  # as --ci does: pytest gets SIGINT first
                    code = exit_code(await running)
                return code
            if changes.done() and not changes.cancelled():
                request = await asyncio.to_thread(self.session.changed, changes.result())
                if request is None and self.session.plan.phase == Phase.IDLE:
                    self._say(f"watch: {self.session.status}")  # a change with nothing to run

    async def _forward(self, batches: asyncio.Queue[frozenset[Path]]) -> None:
        async for batch in self.session.batches():
            batches.put_nowait(batch)

    async def _run(self, request: Request) -> RunState:
        """One `--ci` run of the request's targets, recorded in the history."""
        if self.out.isatty():
            self.out.write(CLEAR)
        self._say(f"watch: run {self.session.plan.runs}: {request.reason}")
        options = self.options
        config = self.launcher.config(list(request.targets))
        run_id = await asyncio.to_thread(self.launcher.begin, config)
        printer = HeadlessPrinter(
            self.out,
            verbosity=options.verbosity,
            steps=options.steps,
            colour=wants_colour(self.out, options.color, os.environ),
        )
        async with Run(config) as run:
            self.run = run
            if self.stop.is_set():
                await run.cancel()
            state = await fold(run, printer)
        self.run = None
        state = await asyncio.to_thread(self.launcher.finish, run_id, state)
        printer.summary(state, list(run.output))
        return state

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
