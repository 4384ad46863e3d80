"""Start `python -m pytest` with the event plugin and yield its events as they arrive.

The child appends JSON lines to a file in the run's directory; the runner tails
that file, polling every `poll_interval` (10 ms) while nothing is new, so an
event reaches the consumer a few milliseconds after it is written. pytest's own
terminal output is read from its stdout/stderr pipe and kept apart (`Run.output`).

Whatever the child does, the stream ends with exactly one `RunFinish`: pytest's
own, or one the runner writes when pytest died before writing it (SIGKILL, a
test calling `os._exit`), marked `aborted` and `source="runner"`. Lines that are
not events are counted by kind in `Run.ignored` and skipped.

The child runs in its own process group, so a cancel reaches xdist workers too:
SIGINT first (pytest stops cleanly and reports "interrupted"), then SIGTERM and
SIGKILL if it is still alive after each grace period. When pytest itself is gone
(however it ended), whatever is left of its group is killed: an xdist worker whose
controller was SIGKILLed would otherwise go on running tests against the database,
appending to a finished stream and holding the output pipe open.

The report files (`--json-report`, `--junit-xml`) are removed before the child
starts: pytest writes them only when it finishes, so after a killed run a report
left from an earlier run would describe that run, not this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mcp_dashboard.events import (
    MAX_LINE_BYTES,
    CollectReport,
    Event,
    ParseError,
    RunCancel,
    RunFinish,
    RunStart,
    StreamReader,
    TestPassed,
    TestReport,
)
from mcp_dashboard.status import collect_report_status

PLUGIN = "mcp_dashboard.pytest_plugin"
STATE_DIR = ".mcp-dashboard"
READ_SIZE = 256 * 1024
OUTPUT_LINES_KEPT = 100_000
OUTPUT_TAIL_LINES = 60  # of pytest's own output, sent with a finish that needs explaining
# pytest exit statuses whose explanation is in pytest's own output, printed after the
# session finished: an internal error (3) and a usage error (4).
EXPLAINED_BY_OUTPUT = (3, 4)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """What to run and where. Paths are resolved against `cwd` (default: the current directory)."""

    pytest_args: Sequence[str] = ()
    cwd: Path | None = None
    python: str = sys.executable
    state_dir: Path | None = None  # default <cwd>/.mcp-dashboard
    database_url: str | None = None  # default: a fresh SQLite file in the run's directory
    json_report: Path | None = None
    junit_xml: Path | None = None
    workers: str | int | None = None
    pattern: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    poll_interval: float = 0.01
    interrupt_grace: float = 10.0
    terminate_grace: float = 3.0
    keep_runs: int = 10  # run directories kept under <state_dir>/runs, newest first


def prepare_state_dir(path: Path) -> Path:
    """Create the state directory with a `.gitignore` of its own, so that no project, this
    one or another, ever commits runs, their databases or the history by accident."""
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# mcp-dashboard's runs and history: never committed\n*\n")
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.resolve()}"


def pytest_command(config: RunConfig, events_path: Path) -> list[str]:
    """The child's argv: pytest with the plugin, the report options, then the caller's args."""
    command = [config.python, "-m", "pytest", "-p", PLUGIN, f"--mcp-events={events_path}"]
    if config.workers is not None:
        command += ["-n", str(config.workers)]
    if config.pattern:
        command.append(f"--mcp-pattern={config.pattern}")
    if config.json_report is not None:
        command += ["--json-report", f"--json-report-file={_absolute(config, config.json_report)}"]
    if config.junit_xml is not None:
        command.append(f"--junit-xml={_absolute(config, config.junit_xml)}")
    return [*command, *config.pytest_args]


def _absolute(config: RunConfig, path: Path) -> Path:
    return path if path.is_absolute() else (config.cwd or Path.cwd()) / path


class LineSplitter:
    """Splits a byte stream into lines. A line longer than `limit` is dropped as it streams
    past (counted in `oversized`), so memory never holds more than `limit` plus one chunk."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self.oversized = 0
        self._buf = bytearray()
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return lines
            self._skipping = False
            self.oversized += 1
            start = newline + 1
        while (newline := chunk.find(b"\n", start)) >= 0:
            if len(self._buf) + newline - start > self.limit:
                self.oversized += 1
            elif self._buf:
                self._buf += chunk[start:newline]
                lines.append(bytes(self._buf))
            else:
                lines.append(chunk[start:newline])
            self._buf.clear()
            start = newline + 1
        if len(self._buf) + len(chunk) - start > self.limit:
            self._buf.clear()
            self._skipping = True
        else:
            self._buf += chunk[start:]
        return lines

    def close(self) -> bytes | None:
        """At end of stream: the unterminated last line, if any (a truncated event)."""
        if self._skipping:
            self._skipping = False
            self.oversized += 1
            return None
        rest, self._buf = bytes(self._buf), bytearray()
        return rest or None


class Run:
    """One pytest child. `async with Run(config) as run: async for event in run: ...`"""

    def __init__(
        self, config: RunConfig, *, on_output: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.cwd = (config.cwd or Path.cwd()).resolve()
        self.run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        state_dir = config.state_dir or self.cwd / STATE_DIR
        self.run_dir = (state_dir if state_dir.is_absolute() else self.cwd / state_dir).joinpath(
            "runs", self.run_id
        )
        self.events_path = self.run_dir / "events.jsonl"
        self.database_url = config.database_url or sqlite_url(self.run_dir / "service.db")
        self.command = pytest_command(config, self.events_path)
        self.output: deque[str] = deque(maxlen=OUTPUT_LINES_KEPT)
        self.ignored: Counter[str] = Counter()
        self.cancelled = False
        self._on_output = on_output
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._pending: list[Event] = []
        self._totals: Counter[str] = Counter()
        self._saw_start = False
        self._saw_finish = False
        self._held_finish: RunFinish | None = None

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> Run:
        prepare_state_dir(self.run_dir.parent.parent)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._prune()
        self.events_path.touch()
        for report in (self.config.json_report, self.config.junit_xml):
            if report is not None:
                _absolute(self.config, report).unlink(missing_ok=True)
        env = {**os.environ, **self.config.env}
        env.update(MCP_DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1")
        self._proc = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=self.cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._tasks = [
            asyncio.create_task(self._read_output()),
            asyncio.create_task(self._watch_exit()),
        ]
        return self

    async def __aenter__(self) -> Run:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Kill the child if it still runs (the consumer stopped early) and reap it."""
        if self._proc is not None and self._proc.returncode is None:
            self._signal(signal.SIGKILL)
            await self._proc.wait()
        self._kill_leftovers()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self) -> int:
        assert self._proc is not None, "start() first"
        return await self._proc.wait()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    async def cancel(self) -> None:
        """Stop the run: SIGINT, then SIGTERM and SIGKILL after the grace periods."""
        if self.cancelled:
            return
        self.cancelled = True
        self._pending.append(RunCancel(time=time.time()))
        self._wake.set()
        if self._proc is not None and self._proc.returncode is None:
            self._tasks.append(asyncio.create_task(self._escalate()))

    async def _escalate(self) -> None:
        assert self._proc is not None
        steps = (
            (signal.SIGINT, self.config.interrupt_grace),
            (signal.SIGTERM, self.config.terminate_grace),
        )
        for sig, grace in steps:
            self._signal(sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._proc.wait()
                    return
        self._signal(signal.SIGKILL)

    def _kill_leftovers(self) -> None:
        """pytest has exited: kill whatever is left of its process group (module docstring).

        Only once pytest's exit status is known: until then the group is pytest's own.
        The group id stays reserved while any member lives, so this reaches only them.
        """
        if self._proc is not None and self._proc.returncode is not None:
            self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def _prune(self) -> None:
        runs = sorted(p for p in self.run_dir.parent.iterdir() if p.is_dir())
        for old in runs[: max(0, len(runs) - self.config.keep_runs)]:
            if old != self.run_dir:
                shutil.rmtree(old, ignore_errors=True)

    # -- the child's output ----------------------------------------------------

    async def _watch_exit(self) -> None:
        assert self._proc is not None
        await self._proc.wait()
        self._wake.set()

    async def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        partial = ""
        while chunk := await self._proc.stdout.read(65536):
            text = partial + chunk.decode("utf-8", "replace")
            *lines, partial = text.split("\n")
            for line in lines:
                self._output(line)
        if partial:
            self._output(partial)

    def _output(self, line: str) -> None:
        self.output.append(line)
        if self._on_output is not None:
            self._on_output(line)

    # -- the event stream ------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    async def events(self) -> AsyncIterator[Event]:
        """Every event in arrival order, ending with exactly one RunFinish."""
        assert self._proc is not None, "start() first"
        splitter = LineSplitter()
        reader = StreamReader()
        with self.events_path.open("rb", buffering=0) as stream:
            while True:
                while self._pending:
                    yield self._pending.pop(0)
                chunk = stream.read(READ_SIZE)
                if chunk:
                    for event in self._parse_all(splitter, reader, chunk):
                        yield event
                    continue
                if self._proc.returncode is not None:
                    self._kill_leftovers()
                    while chunk := stream.read(READ_SIZE):
                        for event in self._parse_all(splitter, reader, chunk):
                            yield event
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.poll_interval):
                        await self._wake.wait()
        if splitter.close() is not None:
            self.ignored["truncated"] += 1
        self._count_oversized(splitter)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._tasks[0]  # the rest of pytest's output
        while self._pending:
            yield self._pending.pop(0)
        if self._held_finish is not None:
            held, self._held_finish = self._held_finish, None
            error = _first_error(self.output)
            yield dataclasses.replace(
                held,
                output=self.output_tail(),
                ignored_lines=self.ignored_total,
                reason=held.reason or _reason_for(held.exit_status, error),
            )
        elif not self._saw_finish:
            self._saw_finish = True
            yield self._synthetic_finish()

    def output_tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last non-blank lines of pytest's own output."""
        kept = [line for line in self.output if line.strip()]
        return "\n".join(kept[-lines:])

    def _parse_all(self, splitter: LineSplitter, reader: StreamReader, chunk: bytes) -> list[Event]:
        events = []
        lines = splitter.feed(chunk)
        self._count_oversized(splitter)
        for line in lines:
            try:
                event = reader.read(line)
            except ParseError as exc:
                self.ignored[exc.kind] += 1
                continue
            if isinstance(event, RunFinish):
                if self._saw_finish:
                    self.ignored["duplicate_finish"] += 1
                    continue
                self._saw_finish = True
                event = dataclasses.replace(event, ignored_lines=self.ignored_total)
                if event.exit_status in EXPLAINED_BY_OUTPUT:
                    # pytest prints why after the session finished: wait for its words.
                    self._held_finish = event
                    continue
            elif isinstance(event, RunStart):
                self._saw_start = True
            elif isinstance(event, TestReport):
                if event.when == "call" or event.outcome != "passed":
                    self._totals[event.category] += 1
            elif isinstance(event, TestPassed):
                self._totals["passed"] += 1
            elif isinstance(event, CollectReport):
                self._totals[collect_report_status(event.outcome)] += 1
            events.append(event)
        return events

    def _count_oversized(self, splitter: LineSplitter) -> None:
        if splitter.oversized:
            self.ignored["oversized"] = splitter.oversized

    @property
    def ignored_total(self) -> int:
        return sum(self.ignored.values())

    def _synthetic_finish(self) -> RunFinish:
        code = self.returncode
        if code is not None and code < 0:
            status, aborted = None, True
            reason = f"pytest was killed by {signal.Signals(-code).name}"
        elif self._saw_start:
            status, aborted = code, True
            reason = f"pytest exited with status {code} before finishing the run"
        else:
            status, aborted = code, False
            reason = _first_error(self.output) or f"pytest exited with status {code}"
        explain = not self._saw_start or code in EXPLAINED_BY_OUTPUT
        return RunFinish(
            time=time.time(),
            exit_status=status,
            totals=dict(self._totals),
            aborted=aborted,
            reason=reason,
            source="runner",
            ignored_lines=self.ignored_total,
            output=self.output_tail() if explain else "",
        )


def _reason_for(exit_status: int | None, error: str) -> str:
    """`pytest usage error: <pytest's words>` (or an internal error's), "" when it said none."""
    if not error:
        return ""
    what = "pytest usage error" if exit_status == 4 else "pytest internal error"
    return error if error.startswith(what) else f"{what}: {error.removeprefix('ERROR: ')}"


def _first_error(output: Sequence[str]) -> str:
    """pytest's complaint: argparse's "prog: error: …" line, else its first "ERROR" line."""
    for line in output:
        if ": error: " in line:
            return "pytest usage error: " + line.split(": error: ", 1)[1].strip()
    return next((line.strip() for line in output if line.startswith("ERROR")), "")
