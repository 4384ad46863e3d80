"""`mcp-dashboard --watch --ci`: watch mode for a terminal without the dashboard.

The first run runs everything in scope; then each saved change reruns what the
plan (watch.py) selects, each run printed as `--ci` prints it, fresh, under one
line that says what changed and why these tests, with the tool-call report when
its tests made tool calls (compared with earlier runs only for a run of
everything: run_calls.py). A change during a run waits for it to end. Ctrl-C (or
SIGTERM) stops a run in progress as `--ci` does, then ends watch mode with the
exit status of the last run.

With a terminal on stdin (in the foreground), keys as in Jest's and Vitest's watch
mode, listed after each summary: `a` runs everything, `f` reruns the tests that
failed, Enter reruns the last run, `q` quits (exit status 0: a deliberate quit,
not a verdict). The terminal is in cbreak mode meanwhile (a key at a time, not
echoed, Ctrl-C still a signal) and restored on the way out. A key pressed during
a run is kept for when it ends (`a` joins the queued rerun as "run all").
Without a terminal on stdin (a pipe, /dev/null, CI) no key is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from mcp_dashboard.headless import HeadlessPrinter, wants_colour
from mcp_dashboard.headless_run import fold
from mcp_dashboard.launch import Launcher, exit_code
from mcp_dashboard.options import Options
from mcp_dashboard.run_calls import measure_calls
from mcp_dashboard.runner import STATE_DIR, Run
from mcp_dashboard.state import RunState
from mcp_dashboard.watch import Phase, Request, WatchSession

CLEAR = "\x1b[2J\x1b[H"  # a fresh screen per run, on a terminal
KEYS = "watch: press a to run all, f to rerun failures, Enter to rerun the last run, q to quit"
RUN_ALL, FAILED, AGAIN, QUIT = "a", "f", "\n", "q"
KEY_NAMES = {RUN_ALL: "a", FAILED: "f", AGAIN: "Enter"}
AGAIN_SAID = "again: "  # Enter's run, once however often it is pressed


def watch_ci(options: Options, out: TextIO, keys: TextIO | None = None) -> int:
    """`keys`: where keys come from (stdin by default); read only if it is a terminal."""
    watch = CiWatch(options, out, Path.cwd(), sys.stdin if keys is None else keys)
    return asyncio.run(watch.watch())


def key_terminal(keys: TextIO | None) -> int | None:
    """The file descriptor to read keys from: a terminal this process has in the
    foreground (in the background, changing its mode would stop the process: SIGTTOU)."""
    if keys is None:
        return None
    try:
        fd = keys.fileno()
    except (OSError, ValueError):  # a closed stdin, or one without a descriptor
        return None
    if not os.isatty(fd):
        return None
    try:
        return fd if os.tcgetpgrp(fd) == os.getpgrp() else None
    except OSError:  # not our controlling terminal: no job control to fear
        return fd


@contextlib.contextmanager
def cbreak(fd: int) -> Iterator[None]:
    """The terminal in cbreak mode (a key at a time, no echo, signals kept), restored after."""
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class CiWatch:
    def __init__(
        self, options: Options, out: TextIO, root: Path, keys: TextIO | None = None
    ) -> None:
        self.options = options
        self.out = out
        self.key_fd = key_terminal(keys)
        self.quitting = False  # `q`: exit status 0
        self.deferred: str | None = None  # a key pressed during a run, for when it ends
        self.last: Request | None = None  # what Enter reruns
        self.launcher = Launcher(options, root)
        state_dir = self.launcher.state_dir or root / STATE_DIR
        self.session = WatchSession(root, state_dir, self.launcher.paths, options.pytest_options)
        self.run: Run | None = None
        self.stop = asyncio.Event()

    async def watch(self) -> int:
        loop = asyncio.get_running_loop()
        batches: asyncio.Queue[frozenset[Path]] = asyncio.Queue()
        keys: asyncio.Queue[str] = asyncio.Queue()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        watcher: asyncio.Task[None] | None = None
        try:
            with self.launcher, self._reading_keys(loop, keys):
                first = await asyncio.to_thread(self.session.start)
                watcher = asyncio.create_task(self._forward(batches))
                await asyncio.sleep(0)  # the watch is in place from here (change_batches)
                code = await self._loop(first, batches, keys)
                return 0 if self.quitting else code
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    @contextlib.contextmanager
    def _reading_keys(
        self, loop: asyncio.AbstractEventLoop, keys: asyncio.Queue[str]
    ) -> Iterator[None]:
        fd = self.key_fd
        if fd is None:
            yield
            return

        def read() -> None:
            try:
                data = os.read(fd, 64)
            except OSError:
                data = b""
            if not data:  # the terminal went away: no more keys
                loop.remove_reader(fd)
            for key in data.decode(errors="replace").replace("\r", "\n"):
                keys.put_nowait(key)

        def resumed() -> None:
            """Back from Ctrl-Z: the shell gave the terminal its own mode meanwhile."""
            with contextlib.suppress(OSError):
                tty.setcbreak(fd, termios.TCSANOW)

        with cbreak(fd):
            loop.add_reader(fd, read)
            loop.add_signal_handler(signal.SIGCONT, resumed)
            try:
                yield
            finally:
                loop.remove_signal_handler(signal.SIGCONT)
                loop.remove_reader(fd)

    async def _loop(
        self,
        first: Request,
        batches: asyncio.Queue[frozenset[Path]],
        keys: asyncio.Queue[str],
    ) -> int:
        code = 0
        request: Request | None = first
        running: asyncio.Task[RunState] | None = None
        stopping = asyncio.create_task(self.stop.wait())
        while True:
            if running is None and self.stop.is_set():
                return code
            if request is not None:
                self.last = request
                running = asyncio.create_task(self._run(request))
                request = None
            changes = asyncio.create_task(batches.get())
            pressed = asyncio.create_task(keys.get())
            waits: set[asyncio.Future[Any]] = {stopping, changes, pressed}
            if running is not None:
                waits.add(running)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in (changes, pressed):
                if not waiting.done():
                    waiting.cancel()
            if running is not None and running.done():
                state = running.result()
                running = None
                code = exit_code(state)
                request = self.session.finished(state)
                if request is None and self.deferred is not None:
                    key, self.deferred = self.deferred, None
                    request = self._key(key)
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
                # Running (a rerun just started this turn): queued behind it, None back.
                changed = await asyncio.to_thread(self.session.changed, changes.result())
                request = changed or request
                if request is None and self.session.plan.phase == Phase.IDLE:
                    self._say(f"watch: {self.session.status}")  # a change with nothing to run
            if pressed.done() and not pressed.cancelled():
                key = pressed.result()
                if request is not None and key != QUIT:
                    self.deferred = key  # a run starts this very turn: the key waits for it
                else:
                    request = self._key(key) or request

    def _key(self, key: str) -> Request | None:
        """What a key asks for: the run to start now, or None (queued, or nothing to do)."""
        if key == QUIT:
            self.quitting = True
            self.stop.set()
            return None
        if key not in KEY_NAMES:
            return None
        plan = self.session.plan
        if key == RUN_ALL:
            request = self.session.run_all()
            if request is None:
                self._say("watch: run all queued: it starts when this run ends")
            return request
        if plan.phase == Phase.RUNNING:
            self.deferred = key
            self._say(f"watch: {KEY_NAMES[key]} queued: it starts when this run ends")
            return None
        if key == FAILED:
            failed = tuple(sorted(plan.failed))
            if not failed:
                self._say("watch: no failures to rerun")
                return None
            count = len(failed)
            request = Request(
                failed, f"rerun of {count} failed test{'' if count == 1 else 's'}", failed=failed
            )
        else:
            if self.last is None:
                return None
            reason = self.last.reason.removeprefix(AGAIN_SAID)
            request = dataclasses.replace(self.last, reason=AGAIN_SAID + reason)
        self.session.began(request.reason, run_all=request.run_all)
        return request

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
        # Only a run of everything is measured against the runs before it (run_calls.py).
        calls = await asyncio.to_thread(
            measure_calls,
            self.launcher.history,
            run_id,
            state,
            run.database_url,
            compare=request.run_all,
        )
        printer.summary(state, list(run.output), calls)
        if self.key_fd is not None:
            self._say(KEYS)
        return state

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
