"""pytest plugin that writes the live event stream: `pytest -p mcp_dashboard.pytest_plugin`.

`--mcp-events PATH` (or `MCP_DASHBOARD_EVENTS`) names a file the plugin appends
JSON lines to in small batches (`_Writer`): a test's start and a failure at once,
everything else within 50 ms. A test whose phases all pass is its start and one
short `test_pass` line; a test that fails, errors or skips sends its start, its
trace and every phase report.

One object per role is registered at configure time. Without xdist,
`SessionStream` writes everything. Under pytest-xdist, `ControllerStream`
writes everything pytest reports to the controller (run start and finish,
collection errors, test start, phase reports, warnings), so each report appears
exactly once; each worker's `WorkerStream` writes what only workers see: the
step lines and each test's trace (tracing.py), live, straight to the same file
(appends of whole lines from several processes do not interleave on a local file
system), and the first worker (gw0) the collected test list with markers and
locations, which the controller never receives. A test's trace ids also travel
to the controller on its reports, so its `test_pass` line carries them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Generator, Iterable, Sequence
from io import StringIO
from pathlib import Path

import pytest
from _pytest._io import TerminalWriter  # what `report.longreprtext` renders with

from mcp_dashboard.events import (
    MAX_STEP_BYTES,
    CollectedTest,
    Collection,
    CollectReport,
    Crash,
    Event,
    RunFinish,
    RunStart,
    Step,
    TestPassed,
    TestReport,
    TestTrace,
    WarningRecorded,
    clip,
    encode,
    encode_test_pass,
    encode_test_start,
)
from mcp_dashboard.status import collect_report_status
from mcp_dashboard.tracing import Exporter, TestSpans, TraceIds, exporting_tracer

EVENTS_ENV = "MCP_DASHBOARD_EVENTS"
# How long a batch of events may wait for more before it is written (docs/events.md).
FLUSH_ENV = "MCP_DASHBOARD_FLUSH_MS"
FLUSH_MS = 50
STEP_LOGGER = "mcp.steps"
COLLECTION_PART = 500  # tests per collection event: keeps every line small
FIRST_WORKER = "gw0"  # the worker that sends the collected tests
TRACE_ATTRIBUTE = "mcp_trace"  # a test report's (trace id, span id) of its test
_PLUGIN_NAME = "mcp-dashboard-events"
# A test none of whose reports has come yet (`SessionStream.folding`).
_NONE_HELD: tuple[pytest.TestReport, ...] = ()
# The standard variables that turn exporting on without --otlp-endpoint.
OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mcp-dashboard", "live event stream for mcp-dashboard")
    group.addoption(
        "--mcp-events",
        dest="mcp_events",
        metavar="PATH",
        default=None,
        help=f"append the live JSON-lines event stream to PATH (or set {EVENTS_ENV})",
    )
    group.addoption(
        "--otlp-endpoint",
        dest="otlp_endpoint",
        metavar="URL",
        default=None,
        help="export a span per test (phases as children) to this OTLP/HTTP endpoint, as "
        "OTEL_EXPORTER_OTLP_ENDPOINT does (which is also honoured); needs the otlp extra",
    )
    group.addoption(
        "--mcp-pattern",
        dest="mcp_pattern",
        metavar="TEXT",
        default=None,
        help="run only tests whose node id or file path contains TEXT",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("mcp_events") or os.environ.get(EVENTS_ENV)
    if not path:
        return
    stream: _Stream
    if getattr(config, "workerinput", None) is not None:
        stream = WorkerStream(config, path)
    elif _distributes(config):
        stream = ControllerStream(config, path)
    else:
        stream = SessionStream(config, path)
    config.pluginmanager.register(stream, _PLUGIN_NAME)


def _flush_ms() -> float:
    text = os.environ.get(FLUSH_ENV, "")
    if not text:
        return FLUSH_MS
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value <= 3_600_000:
        raise pytest.UsageError(f"{FLUSH_ENV}={text!r}: milliseconds, more than 0, at most an hour")
    return value


def _spans(config: pytest.Config, role: str) -> tuple[TestSpans, Exporter | None]:
    """Ids-only spans, or recorded ones sent to the OTLP endpoint the run names."""
    endpoint = config.getoption("otlp_endpoint")
    standard = any(os.environ.get(name) for name in OTLP_ENV)
    if not endpoint and not standard:
        return TestSpans(), None
    try:
        tracer, exporter = exporting_tracer(endpoint, role)
    except ImportError:
        raise pytest.UsageError(
            "--otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) needs the OpenTelemetry SDK: "
            "pip install 'mcp-service-dashboard[otlp]'"
        ) from None
    return TestSpans(tracer), exporter


def _distributes(config: pytest.Config) -> bool:
    """xdist will run the tests in workers: its own test (`_is_distribution_mode`), whose
    options its `pytest_cmdline_main` settled before any `pytest_configure` runs."""
    if config.getoption("collectonly"):
        return False
    option = config.option
    return getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pattern = config.getoption("mcp_pattern")
    if not pattern:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (kept if pattern in item.nodeid or pattern in str(item.path) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def critical_path_of(item: pytest.Item) -> str:
    """The `critical_path` marker's name; a test without one is grouped by its module."""
    return _critical_path(item.iter_markers()) or item.nodeid.split("::", 1)[0]


def _critical_path(markers: Iterable[pytest.Mark]) -> str:
    """The name the closest `critical_path` marker gives, or ""."""
    for marker in markers:
        if marker.name == "critical_path":
            name = marker.args[0] if marker.args else marker.kwargs.get("name")
            return str(name) if name else ""
    return ""


class _Writer:
    """Events to the file in batches: one `os.write` of whole lines on an `O_APPEND`
    descriptor per batch, so lines from several processes never interleave.

    A batch goes out when something urgent is written (the run's start, its tests, a
    test's start, a failure, a step, the end of the run) and otherwise at most
    `flush_s` after its first event, from a thread of its own. Until then an event
    written with a `key` can be taken back (`take_back`): a test's trace line, which
    its `test_pass` line carries when it passes. A process forked by a test writes
    straight to the file: nothing in it would flush a batch.
    """

    def __init__(self, path: str, flush_s: float) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise pytest.UsageError(f"--mcp-events: cannot open {path}: {exc}") from None
        self._flush_s = flush_s
        self._lock = threading.Lock()
        self._batch: list[bytes | None] = []  # encoded lines; None: one taken back
        self._keys: dict[tuple[str, str], int] = {}  # (kind, nodeid): its place in the batch
        self._holes = False  # whether the batch holds a None
        self._direct = False
        self._pending = threading.Event()
        self._asked = False  # whether `_pending` is set (read without a call per event)
        self._closing = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, name="mcp-dashboard-events", daemon=True
        )
        self._flusher.start()
        os.register_at_fork(after_in_child=self._after_fork)

    def write(
        self, event: Event, *, urgent: bool = False, key: tuple[str, str] | None = None
    ) -> None:
        """Add `event` to the batch (at once to the file, with what is batched, if urgent)."""
        self.write_line(encode(event), urgent=urgent, key=key)

    def write_line(
        self, line: bytes, *, urgent: bool = False, key: tuple[str, str] | None = None
    ) -> None:
        """`write` for an event already encoded (a test's start and pass lines)."""
        if self._direct:
            self._write_all(line)
            return
        with self._lock:
            if key is not None:
                self._keys[key] = len(self._batch)
            self._batch.append(line)
            if urgent:
                self._flush()
                return
            if self._asked:
                return
            self._asked = True
        self._pending.set()  # a Condition's notify: once a batch, not once an event

    def flush(self) -> None:
        """Write the batch now."""
        if not self._direct:
            with self._lock:
                self._flush()

    def take_back(self, key: tuple[str, str]) -> bool:
        """Remove the event written with `key` if it is still in the batch."""
        with self._lock:
            place = self._keys.pop(key, None)
            if place is None:
                return False
            self._batch[place] = None
            self._holes = True
            return True

    def close(self) -> None:
        self._closing.set()
        self._pending.set()
        self._flusher.join(timeout=5)
        with self._lock:
            self._flush()
        os.close(self._fd)

    def _flush_every(self) -> None:
        while not self._closing.is_set():
            self._pending.wait()
            if self._closing.wait(self._flush_s):
                return  # close() writes what is left
            with self._lock:
                self._pending.clear()
                self._asked = False
                self._flush()

    def _flush(self) -> None:
        """Write the batch (the lock held)."""
        batch = self._batch
        if not batch:
            return
        if self._holes:
            data = b"".join([line for line in batch if line is not None])
            self._holes = False
        else:
            data = b"".join(batch)  # type: ignore[arg-type]  # (no None: no holes)
        batch.clear()
        if self._keys:
            self._keys.clear()
        self._write_all(data)

    def _write_all(self, data: bytes) -> None:
        written = os.write(self._fd, data)
        if written < len(data):  # a short write: rare, but allowed
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(self._fd, view) :]

    def _after_fork(self) -> None:
        # The parent writes its own batch; the child has no flusher thread and a lock
        # that another thread may have held at the fork.
        self._lock = threading.Lock()
        self._batch, self._keys, self._holes, self._direct = [], {}, False, True


class _StepHandler(logging.Handler):
    """Turns each record on `mcp.steps` into a step event of the running test.

    One for the whole run, reading which test and phase run from the stream when a
    step comes: a handler made and added per test, or told of each test and phase,
    cost more than many a trivial test itself.
    """

    def __init__(self, stream: _Stream) -> None:
        super().__init__(logging.NOTSET)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        stream = self.stream
        nodeid = stream.nodeid
        if nodeid is None:
            return  # a step outside any test (a session fixture's teardown): nobody's
        try:
            message = clip(record.getMessage(), MAX_STEP_BYTES)
            stream.writer.write(
                Step(
                    time=time.time(),
                    nodeid=nodeid,
                    index=stream.steps,
                    message=message,
                    when=stream.phase or "setup",  # "": after a teardown, a rerun's setup
                    worker=stream.worker,
                ),
                # At once: a step says where a slow test is, and where a test that
                # kills its process was; it also sends the batch (the test's start).
                urgent=True,
            )
            stream.steps += 1
        except Exception:
            self.handleError(record)


class _PhaseErrors:
    """With exported spans only: the exception a phase raised, by type, for its span's status
    (a wrapper per phase costs every test; ids-only spans have no status to set)."""

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        excinfo = call.excinfo
        skipped = (pytest.skip.Exception, pytest.xfail.Exception)
        if excinfo is not None and not isinstance(excinfo.value, skipped):
            self.stream.phase_error = excinfo.type.__name__
        return (yield)


class _Stream:
    """What every role shares: the file; and, where tests run (not the xdist controller),
    each test's trace and step lines.

    A test's span opens at its logstart and closes at its logfinish; its setup's span
    opens with it, and each phase's report closes its span and opens the next one's
    (`_end_phase`): plain hooks, none per phase and no wrappers, since at 20,000
    trivial tests every hook call per test shows.
    """

    runs_tests = True  # the xdist controller runs none

    def __init__(self, config: pytest.Config, path: str) -> None:
        self.config = config
        self.writer = _Writer(path, _flush_ms() / 1000)
        self.spans, self.exporter = _spans(config, self.role())
        self.trace: TraceIds | None = None  # the running test's
        self.nodeid: str | None = None  # the running test
        self.phase = ""  # its phase whose span is open
        self.phase_error: str | None = None  # what the phase raised (exported spans only)
        self.outcome = "pass"  # the running test's, as test.case.result.status says it
        self.calls = not config.getoption("setuponly", False)  # pytest runs a test's call
        self.steps = 0  # the running test's steps so far
        self.worker: str | None = None
        self.handler: _StepHandler | None = None
        self._logger_level: int | None = None
        if self.exporter is not None:
            config.pluginmanager.register(_PhaseErrors(self), f"{_PLUGIN_NAME}-errors")

    def role(self) -> str:
        """This process, as exported spans name it (`service.instance.id`): gw0, gw1 … or main."""
        workerinput: dict[str, object] = getattr(self.config, "workerinput", {})
        return str(workerinput.get("workerid", "main"))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.handler is not None:
            logger = logging.getLogger(STEP_LOGGER)
            logger.removeHandler(self.handler)
            if self._logger_level is not None:
                logger.setLevel(self._logger_level)
        self.writer.close()
        if self.exporter is not None:
            self.exporter.shutdown()  # sends the spans still batched

    # -- a test's trace and step lines, from the process that runs it ---------

    def _begin_test(self, nodeid: str, location: tuple[str, int | None, str]) -> TraceIds:
        """The test's trace begins, and its setup: pytest runs the phases in order, so
        each report says which phase comes next (no hook per phase, see `_end_phase`)."""
        attributes: dict[str, str | int] | None = None
        if self.exporter is not None:  # what a recorded span says about its test
            file, line, _ = location
            attributes = {"test.case.name": nodeid, "code.filepath": file}
            if line is not None:
                attributes["code.lineno"] = line + 1
        self.outcome = "pass"
        self.nodeid, self.steps = nodeid, 0
        # Its setup's steps are labelled with it, and run in a child span of the test's.
        self.phase, self.phase_error = "setup", None
        if self.handler is None:
            self._listen_for_steps()
        self.trace = trace = self.spans.begin_test(nodeid, attributes, phase="setup")
        return trace

    def _listen_for_steps(self) -> None:
        """The run's step handler, on the `mcp.steps` logger from the first test on."""
        logger = logging.getLogger(STEP_LOGGER)
        self.handler = _StepHandler(self)
        if not logger.isEnabledFor(logging.INFO):
            self._logger_level = logger.level
            logger.setLevel(logging.INFO)
        logger.addHandler(self.handler)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        if nodeid != self.nodeid:
            return
        if self.phase:
            self.spans.end_phase()
        self.spans.end_test(self.outcome)
        self.trace = self.nodeid = None
        self.phase = ""

    def _end_phase(self, report: pytest.TestReport) -> None:
        """The phase's own report (not a plugin's extra one, such as a subtest's) ends its
        span and begins the next phase's: after a setup that passed the call (unless
        `--setup-only`), then the teardown. A later report (a rerun plugin's) only labels."""
        if report.nodeid != self.nodeid:
            return
        outcome = report.outcome
        failed = outcome == "failed"
        if failed:
            self.outcome = "fail"
        elif outcome == "skipped" and self.outcome == "pass":
            self.outcome = ""  # neither: OpenTelemetry names only pass and fail
        when = report.when
        if when != self.phase or type(report) is not pytest.TestReport:
            return
        if when == "setup" and outcome == "passed" and self.calls:
            following = "call"
        elif when != "teardown":
            following = "teardown"
        else:
            following = ""  # steps now are a rerun plugin's next attempt's, in its setup
        self.spans.next_phase(following, self.phase_error if failed else None)
        self.phase, self.phase_error = following, None

    # -- the collected tests ---------------------------------------------------

    def _write_collection(self, session: pytest.Session, deselected: int) -> None:
        tests = [_collected(item) for item in session.items]
        parts = max(1, -(-len(tests) // COLLECTION_PART))
        now = time.time()
        for part in range(parts):
            chunk = tests[part * COLLECTION_PART : (part + 1) * COLLECTION_PART]
            self.writer.write(
                Collection(
                    time=now,
                    tests=tuple(chunk),
                    total=len(tests),
                    part=part + 1,
                    parts=parts,
                    deselected=deselected,
                    worker=self.worker,
                ),
                urgent=True,
            )


class SessionStream(_Stream):
    """pytest without xdist, or the xdist controller (`ControllerStream`): everything pytest
    reports, each once. This process runs the tests itself, so it also sends their steps."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        super().__init__(config, path)
        self.started = time.time()
        self.totals: Counter[str] = Counter()
        self.deselected = 0
        # Per running test, its phase reports while every one passed (None once one did
        # not): all three passed, they become one `test_pass` line.
        self.folding: dict[str, list[pytest.TestReport] | None] = {}
        self._status_by_pytest: bool | None = None  # known at the first report

    def workers(self) -> int:
        return 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.writer.write(
            RunStart(
                time=time.time(),
                pid=os.getpid(),
                args=tuple(str(a) for a in self.config.invocation_params.args),
                rootdir=str(self.config.rootpath),
                invocation_dir=str(self.config.invocation_params.dir),
                pytest_version=pytest.__version__,
                python_version=sys.version.split()[0],
                workers=self.workers(),
            ),
            urgent=True,
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        totals = {k: v for k, v in self.totals.items() if v}
        if self.deselected:
            totals["deselected"] = self.deselected
        now = time.time()
        self.writer.write(
            RunFinish(
                time=now,
                exit_status=int(exitstatus),
                totals=totals,
                duration=now - self.started,
            ),
            urgent=True,
        )

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._write_collection(session, self.deselected)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.passed:
            return
        self.totals[collect_report_status(report.outcome)] += 1
        longrepr = report.longrepr
        text = longrepr[2] if isinstance(longrepr, tuple) else report.longreprtext
        self.writer.write(
            CollectReport(
                time=time.time(),
                nodeid=report.nodeid,
                outcome=report.outcome,
                longrepr=clip(str(text)),
            ),
            urgent=True,
        )

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        # Its file and line came with the collection: the start says when and, where the
        # test runs here, its trace (a test that passes needs no other line for it). At
        # once, with the batch before it: a test that kills pytest is known by its start,
        # and the tests before it by their results (one write per test).
        if self.runs_tests:
            trace = self._begin_test(nodeid, location)
            trace_id = trace.trace_id
            span_id = "" if trace.span_id == trace_id[16:] else trace.span_id
            start = encode_test_start(time.time(), nodeid, trace_id, span_id)
        else:
            start = encode_test_start(time.time(), nodeid)
        self.writer.write_line(start, urgent=True)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.runs_tests:
            self._end_phase(report)
        passed = report.outcome == "passed" and "wasxfail" not in report.__dict__  # (hasattr:
        when = report.when  # a raise when absent)
        by_pytest = self._status_by_pytest
        if by_pytest is None:
            by_pytest = self._pytest_says_status()
        if passed and by_pytest:
            # What pytest's own hooks say for a passed phase, at no cost: "" for setup and
            # teardown, "passed" for the call.
            raw = "passed" if when == "call" else ""
        else:
            status = self.config.hook.pytest_report_teststatus(report=report, config=self.config)
            raw = status[0] if status else report.outcome
        if raw:
            self.totals[raw] += 1
        nodeid = report.nodeid
        folding = self.folding
        held = folding.get(nodeid, _NONE_HELD)
        if held is not None and passed and raw in ("", "passed"):
            if when != "teardown":
                if isinstance(held, list):
                    held.append(report)
                else:
                    folding[nodeid] = [report]
                return
            folding.pop(nodeid, None)
            if len(held) == 2 and held[0].when == "setup" and held[1].when == "call":
                self._write_passed(held[0], held[1], report)
                return
            # Not pytest's usual three: sent as they came.
        if held is not None:  # the first report that does not fold
            self._unfolded(report)
        for earlier in held or ():
            self.writer.write(_report(earlier, "passed"))
        project = (self.config.rootpath, self.config.invocation_params.dir)
        self.writer.write(_report(report, raw or report.outcome, project), urgent=report.failed)
        if report.when == "teardown":
            self.folding.pop(nodeid, None)
        else:
            self.folding[nodeid] = None

    def _pytest_says_status(self) -> bool:
        """Whether only pytest's own plugins categorize reports (no plugin's own words)."""
        if self._status_by_pytest is None:
            hook = self.config.hook.pytest_report_teststatus
            self._status_by_pytest = all(
                getattr(impl.plugin, "__name__", "").startswith("_pytest.")
                for impl in hook.get_hookimpls()
            )
        return self._status_by_pytest

    def _write_passed(
        self, setup: pytest.TestReport, call: pytest.TestReport, teardown: pytest.TestReport
    ) -> None:
        """One line for a test whose three phases passed. Where the tests run here, one
        after another, it needs neither its node id, its time nor its trace: the start
        just before it gave them (docs/events.md)."""
        # To the microsecond (a shorter line): `round(d, 6)` formats the number, 3x slower.
        durations = (
            int(setup.duration * 1e6 + 0.5) / 1e6,
            int(call.duration * 1e6 + 0.5) / 1e6,
            int(teardown.duration * 1e6 + 0.5) / 1e6,
        )
        # The teardown's report holds what every phase captured; most tests, nothing
        # (pytest's logging adds an empty section per phase).
        for _, content in teardown.sections:
            if content:
                stdout, stderr, log = teardown.capstdout, teardown.capstderr, teardown.caplog
                break
        else:
            if self.runs_tests:
                self.writer.write_line(encode_test_pass(durations))
                return
            stdout = stderr = log = ""
        if self.runs_tests:
            self.writer.write_line(
                encode_test_pass(durations, clip(stdout), clip(stderr), clip(log))
            )
            return
        trace_id, span_id = getattr(teardown, TRACE_ATTRIBUTE, ("", ""))
        passed = TestPassed(
            time=time.time(),
            nodeid=teardown.nodeid,
            durations=durations,
            worker=_worker_of(teardown),
            trace_id=trace_id,
            span_id=span_id,
            stdout=clip(stdout),
            stderr=clip(stderr),
            log=clip(log),
        )
        self.writer.write(passed)

    def _unfolded(self, report: pytest.TestReport) -> None:
        """A test's reports go out one by one after all: what else it needs sent first."""

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str, location: object
    ) -> None:
        self.totals["warnings"] += 1
        self.writer.write(
            WarningRecorded(
                time=time.time(),
                message=clip(str(warning_message.message), MAX_STEP_BYTES),
                category=getattr(warning_message.category, "__name__", "Warning"),
                filename=str(warning_message.filename),
                lineno=warning_message.lineno,
                nodeid=nodeid,
                when=when,
            )
        )


class ControllerStream(SessionStream):
    """The xdist controller: it hears every report from its workers but runs and collects
    nothing itself, so the collected tests come from a worker (`WorkerStream`)."""

    runs_tests = False

    def workers(self) -> int:
        count = getattr(self.config.option, "numprocesses", None)
        return count if isinstance(count, int) else 0

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Workers deselect; the controller's own count would always be zero."""

    def _unfolded(self, report: pytest.TestReport) -> None:
        """A worker takes back a test's trace when all its phases passed; one that passed
        but did not fold here (a plugin's own category, such as a rerun) needs it sent."""
        trace = getattr(report, TRACE_ATTRIBUTE, None)
        if trace is not None and report.passed and not hasattr(report, "wasxfail"):
            trace_id, span_id = trace
            self.writer.write(
                TestTrace(
                    time=time.time(),
                    nodeid=report.nodeid,
                    trace_id=trace_id,
                    span_id=span_id,
                    worker=_worker_of(report),
                )
            )


class WorkerStream(_Stream):
    """An xdist worker: the step lines of the tests it runs, live, straight to the file, and
    (the first worker only) the collected tests with their markers and locations."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        super().__init__(config, path)
        workerinput: dict[str, object] = getattr(config, "workerinput", {})
        self.worker = str(workerinput["workerid"])
        self.deselected = 0
        self.plain = True  # every phase of the running test passed so far

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.worker == FIRST_WORKER:
            self._write_collection(session, self.deselected)

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """The controller writes the start: the trace goes on a line of its own."""
        trace = self._begin_test(nodeid, location)
        self.writer.write(
            TestTrace(
                time=time.time(),
                nodeid=nodeid,
                trace_id=trace.trace_id,
                span_id=trace.span_id,
                worker=self.worker,
            ),
            key=("trace", nodeid),
        )

    @pytest.hookimpl(tryfirst=True)  # before xdist sends the report on: it carries the trace
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """The controller sends a test whose phases all passed as one line with its
        trace ids: the worker's own trace line is taken back if still batched. A
        failure's trace goes at once, as the controller sends the failure."""
        if report.nodeid == self.nodeid and self.trace is not None:
            setattr(report, TRACE_ATTRIBUTE, (self.trace.trace_id, self.trace.span_id))
        self._end_phase(report)
        plain = report.passed and not hasattr(report, "wasxfail")
        self.plain = plain and (report.when == "setup" or self.plain)
        if report.when == "teardown" and self.plain:
            self.writer.take_back(("trace", report.nodeid))
        elif report.failed:
            self.writer.flush()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Before xdist tells the controller this worker is done (it may then end the
        worker before its unconfigure): the batch goes out now."""
        self.writer.flush()


def _collected(item: pytest.Item) -> CollectedTest:
    """The test, without what its node id already says (`CollectedTest`)."""
    file, line, _ = item.location
    module, _, rest = item.nodeid.partition("::")
    markers = list(item.iter_markers())  # closest first, as get_closest_marker looks
    path = _critical_path(markers) or module
    return CollectedTest(
        nodeid=item.nodeid,
        critical_path="" if path == module else path,
        markers=tuple(dict.fromkeys(m.name for m in markers)),
        file="" if file == module else file,
        line=None if line is None else line + 1,
        name="" if rest.rpartition("::")[2] == item.name else item.name,
    )


def _longrepr_text(report: pytest.TestReport) -> str:
    """The failure as pytest prints it. `report.longreprtext` strips the text, and with it
    the first line's indentation; this is the same rendering, right-stripped only."""
    out = StringIO()
    writer = TerminalWriter(out)
    writer.hasmarkup = False
    report.toterminal(writer)
    return out.getvalue().rstrip()


def _report(
    report: pytest.TestReport, category: str, project: tuple[Path, Path] | None = None
) -> TestReport:
    """`project`: the rootdir and the invocation dir, to place a crash in the project."""
    crash, longrepr, reason = None, "", ""
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:  # a skip: (path, 1-based lineno, reason)
        path, lineno, message = lr
        crash = Crash(path=str(path), lineno=lineno, message=message)
        reason = message.removeprefix("Skipped: ")
    elif lr is not None:
        longrepr = clip(_longrepr_text(report))
        where = getattr(lr, "reprcrash", None)
        if where is not None:
            path, lineno = str(where.path), where.lineno
            if project is not None and not _in_project(Path(path), project[0]):
                path, lineno = _last_project_entry(lr, project) or (path, lineno)
            crash = Crash(path=path, lineno=lineno, message=clip(where.message, 4096))
    if hasattr(report, "wasxfail"):
        reason = str(report.wasxfail)
    return TestReport(
        time=time.time(),
        nodeid=report.nodeid,
        when=str(report.when),  # xdist says "???" for a test whose worker crashed
        outcome=report.outcome,
        category=category,
        duration=report.duration,
        crash=crash,
        longrepr=longrepr,
        reason=reason,
        stdout=clip(report.capstdout),
        stderr=clip(report.capstderr),
        log=clip(report.caplog),
        worker=_worker_of(report),
    )


# A native (`--tb=native`) traceback's entry line.
_NATIVE_ENTRY = re.compile(r'\s*File "(?P<path>[^"]+)", line (?P<line>\d+)')
_INSTALLED = frozenset({"site-packages", "dist-packages"})


def _in_project(path: Path, rootdir: Path) -> bool:
    """Under the rootdir and not an installed package (a venv inside the project)."""
    return path.is_relative_to(rootdir) and not _INSTALLED.intersection(path.parts)


def _last_project_entry(longrepr: object, project: tuple[Path, Path]) -> tuple[str, int] | None:
    """The innermost traceback entry inside the project: where a unittest assertion (its
    crash is in the stdlib's unittest/case.py) or a library's raise was called from."""
    rootdir, here = project
    entries = getattr(getattr(longrepr, "reprtraceback", None), "reprentries", ())
    places: list[tuple[str, int]] = []
    for entry in entries:
        place = getattr(entry, "reprfileloc", None)
        if place is not None:
            places.append((str(place.path), int(place.lineno)))
        for line in getattr(entry, "lines", ()) if place is None else ():
            if found := _NATIVE_ENTRY.match(str(line)):
                places.append((found["path"], int(found["line"])))
    for path, lineno in reversed(places):
        absolute = Path(os.path.normpath(here / path))  # relative to the invocation dir
        if _in_project(absolute, rootdir):
            return str(absolute), lineno
    return None


def _worker_of(report: pytest.TestReport) -> str | None:
    """The xdist worker that ran the report's test (reports on the controller carry it)."""
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    worker = getattr(gateway, "id", None)
    return None if worker is None else str(worker)
