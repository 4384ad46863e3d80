"""The event schema: one JSON object per line, written by the pytest plugin, read by the runner.

Events are frozen dataclasses so both ends share one definition; msgspec validates
the types when a line is parsed, so a reader never trusts a field it did not check.
Every event carries `v` (the schema version) and `type` (which dataclass it is).
`docs/events.md` documents every field.

Schema v2 keeps the stream lean: a field that holds its default is left out of the
line (the reader fills it back in), and a test whose phases all passed is one short
`test_pass` line instead of a start, a trace and three reports. The reader still
accepts v1 files, whose lines carry every field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

import msgspec

SCHEMA_VERSION = 2
# Versions this reader accepts: v1 lines are v2 lines with every field written out.
READABLE_VERSIONS = frozenset({1, 2})
# A line longer than this is rejected unread: the runner never buffers more.
MAX_LINE_BYTES = 1 << 20
# The plugin clips each free-text field so a report line stays far below MAX_LINE_BYTES.
MAX_TEXT_BYTES = 64 * 1024
MAX_STEP_BYTES = 4 * 1024

Outcome = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStart:
    """pytest started (the controller under xdist)."""

    type: Literal["run_start"] = "run_start"
    v: int = SCHEMA_VERSION
    time: float
    pid: int
    args: tuple[str, ...]
    rootdir: str
    invocation_dir: str
    pytest_version: str
    python_version: str
    workers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectedTest:
    """A collected test. What its node id already says is left empty (schema v2): its
    `critical_path` when that is its module, its `file` and its `name` when they are
    the node id's path and last part; the `*_of` properties give them back."""

    nodeid: str
    critical_path: str = ""
    markers: tuple[str, ...] = ()
    file: str = ""
    line: int | None = None
    name: str = ""

    @property
    def path_of(self) -> str:
        return self.critical_path or self.nodeid.split("::", 1)[0]

    @property
    def file_of(self) -> str:
        return self.file or self.nodeid.split("::", 1)[0]

    @property
    def name_of(self) -> str:
        return self.name or self.nodeid.rsplit("::", 1)[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Collection:
    """The selected tests, in run order; large suites come in several parts."""

    type: Literal["collection"] = "collection"
    v: int = SCHEMA_VERSION
    time: float
    tests: tuple[CollectedTest, ...]
    total: int
    part: int = 1
    parts: int = 1
    deselected: int = 0
    worker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectReport:
    """A file or directory that failed (or was skipped) while collecting."""

    type: Literal["collect_report"] = "collect_report"
    v: int = SCHEMA_VERSION
    time: float
    nodeid: str
    outcome: Outcome
    longrepr: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TestStart:
    __test__ = False

    type: Literal["test_start"] = "test_start"
    v: int = SCHEMA_VERSION
    time: float
    nodeid: str
    file: str = ""
    line: int | None = None
    # The trace the test runs in, where the process writing this line runs it (not the
    # xdist controller): a test that passes then needs no `test_trace` line.
    trace_id: str = ""
    span_id: str = ""  # empty: the last 16 hex digits of `trace_id` (ids-only spans)

    @property
    def span_of(self) -> str:
        """The test's own span id (the root of its trace)."""
        return self.span_id or self.trace_id[16:]


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """A "✓ …" progress line a test logged on `mcp.steps`, sent while the test runs."""

    type: Literal["step"] = "step"
    v: int = SCHEMA_VERSION
    time: float
    nodeid: str
    index: int
    message: str
    when: str = "call"
    worker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestTrace:
    """The trace a test runs in (tracing.py), sent by the process running it as it starts."""

    __test__ = False

    type: Literal["test_trace"] = "test_trace"
    v: int = SCHEMA_VERSION
    time: float
    nodeid: str
    trace_id: str
    span_id: str
    worker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    path: str
    lineno: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TestReport:
    """The result of one phase (setup, call, teardown) of one test."""

    __test__ = False  # not a pytest test class, despite the name

    type: Literal["test_report"] = "test_report"
    v: int = SCHEMA_VERSION
    time: float
    nodeid: str
    when: str
    outcome: Outcome
    # pytest's own category: passed, failed, error, skipped, xfailed, xpassed (or a plugin's).
    category: str
    duration: float = 0.0
    crash: Crash | None = None
    longrepr: str = ""
    reason: str = ""  # skip or xfail reason
    stdout: str = ""
    stderr: str = ""
    log: str = ""
    worker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestPassed:
    """A test whose setup, call and teardown all passed, in one line (schema v2): the
    common case costs one short line, where a failure still sends every report."""

    __test__ = False

    type: Literal["test_pass"] = "test_pass"
    v: int = SCHEMA_VERSION
    # Without xdist the line says neither: its test is the one the last `test_start`
    # named, and its time that start's plus the durations (`StreamReader` fills both in).
    time: float = 0.0  # when its teardown ended
    nodeid: str = ""
    durations: tuple[float, float, float]  # setup, call, teardown, in seconds
    worker: str | None = None
    trace_id: str = ""
    span_id: str = ""
    # What it printed and logged, all phases (pytest repeats earlier phases' in later ones).
    stdout: str = ""
    stderr: str = ""
    log: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WarningRecorded:
    type: Literal["warning"] = "warning"
    v: int = SCHEMA_VERSION
    time: float
    message: str
    category: str
    filename: str = ""
    lineno: int | None = None
    nodeid: str = ""
    when: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinish:
    """The end of the run. The runner writes one itself (source "runner") when pytest died."""

    type: Literal["run_finish"] = "run_finish"
    v: int = SCHEMA_VERSION
    time: float
    exit_status: int | None
    totals: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0
    aborted: bool = False
    reason: str = ""
    source: Literal["plugin", "runner"] = "plugin"
    ignored_lines: int = 0
    # The end of pytest's own output, set by the runner when pytest stopped outside the
    # tests (a usage or internal error, or before it started): what to show the user.
    output: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancel:
    """Runner-side: the user asked to stop the run."""

    type: Literal["run_cancel"] = "run_cancel"
    v: int = SCHEMA_VERSION
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TestHistory:
    __test__ = False

    nodeid: str
    flaky: bool = False
    slower: bool = False
    median: float | None = None
    runs: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryLoaded:
    """Runner-side: what the run history says about this run's tests."""

    type: Literal["history"] = "history"
    v: int = SCHEMA_VERSION
    time: float
    tests: tuple[TestHistory, ...] = ()
    window: int = 10


Event = (
    RunStart
    | Collection
    | CollectReport
    | TestStart
    | Step
    | TestTrace
    | TestReport
    | TestPassed
    | WarningRecorded
    | RunFinish
    | RunCancel
    | HistoryLoaded
)

EVENT_TYPES: dict[str, type[Event]] = {
    str(cls.__dataclass_fields__["type"].default): cls
    for cls in (
        RunStart,
        Collection,
        CollectReport,
        TestStart,
        Step,
        TestTrace,
        TestReport,
        TestPassed,
        WarningRecorded,
        RunFinish,
        RunCancel,
        HistoryLoaded,
    )
}

# Per event type, and per record inside one (a collected test, a crash, a history
# entry): each field and its default (`_REQUIRED` if none); a line leaves out a field
# that holds its default.
_REQUIRED = object()
_FIELDS: dict[type, tuple[tuple[str, object], ...]] = {
    cls: tuple(
        (
            name,
            f.default
            if f.default is not MISSING
            else _REQUIRED
            if f.default_factory is MISSING
            else f.default_factory(),
        )
        for name, f in cls.__dataclass_fields__.items()
    )
    for cls in (*EVENT_TYPES.values(), CollectedTest, Crash, TestHistory)
}


class ParseError(ValueError):
    """A line that is not an event; `kind` says why, so the runner can count each kind."""

    kind = "malformed"


class MalformedLine(ParseError):
    kind = "malformed"


class UnknownEventType(ParseError):
    kind = "unknown"


class UnsupportedSchema(ParseError):
    kind = "unsupported"


class OversizedLine(ParseError):
    kind = "oversized"


class _Envelope(msgspec.Struct):
    type: str
    v: int = SCHEMA_VERSION  # left out, as every default is (v1 lines always carry it)


_envelope = msgspec.json.Decoder(_Envelope)
_decoders = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}
_encoder = msgspec.json.Encoder()
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_line(line: bytes | str) -> Event:
    """One line (without its newline) to a typed event, or a `ParseError` saying why not."""
    if isinstance(line, str):
        # Measured and decoded as the UTF-8 it would be in the file; a lone surrogate
        # (no UTF-8 has one) makes it malformed instead of raising UnicodeEncodeError.
        line = line.encode("utf-8", "surrogatepass")
    if len(line) > MAX_LINE_BYTES:
        raise OversizedLine(f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    try:
        head = _envelope.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedLine(str(exc)) from None
    if head.v not in READABLE_VERSIONS:
        raise UnsupportedSchema(
            f"schema version {head.v}, this reader knows {sorted(READABLE_VERSIONS)}"
        )
    decoder = _decoders.get(head.type)
    if decoder is None:
        raise UnknownEventType(f"unknown event type {head.type!r}")
    try:
        return decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedLine(f"{head.type}: {exc}") from None


class StreamReader:
    """One stream's lines to events, filling in what a line leaves to the lines before it:
    a `test_pass` without a node id is the test the last `test_start` named (the plugin
    writes such lines where tests run one after another), its time that start's plus
    its durations."""

    def __init__(self) -> None:
        self._start: TestStart | None = None

    def read(self, line: bytes | str) -> Event:
        """`parse_line`, with the stream's context; a `ParseError` if the line is not an event."""
        event = parse_line(line)
        if isinstance(event, TestStart):
            self._start = event
        elif isinstance(event, TestPassed) and not event.nodeid:
            start = self._start
            if start is None:
                raise MalformedLine("test_pass: no test_start before it names its test")
            time = event.time or start.time + sum(event.durations)
            event = dataclasses.replace(event, nodeid=start.nodeid, time=time)
        return event


def encode(event: Event) -> bytes:
    """One event as a JSON line, newline included, without the fields that hold their
    default (v2). Lone surrogates become U+FFFD."""
    return _line(_lean(event))


def encode_test_start(time: float, nodeid: str, trace_id: str = "", span_id: str = "") -> bytes:
    """`encode(TestStart(time=…, nodeid=…, trace_id=…, span_id=…))` without making the
    event: the same bytes (a test holds them to it), for the plugin's line per test."""
    line: dict[str, object] = {"type": "test_start", "time": time, "nodeid": nodeid}
    if trace_id:
        line["trace_id"] = trace_id
    if span_id:
        line["span_id"] = span_id
    return _line(line)


def encode_test_pass(
    durations: tuple[float, float, float], stdout: str = "", stderr: str = "", log: str = ""
) -> bytes:
    """`encode(TestPassed(durations=…, stdout=…, stderr=…, log=…))` without making the
    event, as `encode_test_start`: a passing test's line where its start named it."""
    line: dict[str, object] = {"type": "test_pass", "durations": durations}
    if stdout:
        line["stdout"] = stdout
    if stderr:
        line["stderr"] = stderr
    if log:
        line["log"] = log
    return _line(line)


def _line(lean: dict[str, object]) -> bytes:
    try:
        return _encoder.encode(lean) + b"\n"
    except UnicodeEncodeError:
        return _encoder.encode(_scrub(msgspec.to_builtins(lean))) + b"\n"


def _lean(record: object) -> dict[str, object]:
    """The record's fields that do not hold their default, records inside made lean too."""
    leaner = _LEANERS.get(type(record))
    if leaner is None:
        leaner = _LEANERS[type(record)] = _leaner(type(record))
    return leaner(record)


def _nested(value: object) -> object:
    """A field that may hold records (a tuple of them, or one): lean; else as it is."""
    if type(value) is tuple and value and type(value[0]) in _FIELDS:
        return [_lean(item) for item in value]
    if type(value) in _FIELDS:
        return _lean(value)
    return value


_LEANERS: dict[type, Callable[[Any], dict[str, object]]] = {}
_RECORDS = (CollectedTest, Crash, TestHistory)


def _leaner(cls: type) -> Callable[[Any], dict[str, object]]:
    """`_lean` for one class, written out field by field once: the plugin writes a line
    per test, and a loop over the fields by name cost more than the JSON encoding."""
    lines = ["def lean(r):", "    line = {}"]
    scope: dict[str, Any] = {"nested": _nested}
    types = {f.name: str(f.type) for f in fields(cls)}
    for index, (name, default) in enumerate(_FIELDS[cls]):
        scope[f"d{index}"] = default
        value = f"r.{name}"
        # Only a field declared to hold records (a collected test, a crash, a history
        # entry) needs looking into.
        holds_records = any(kind.__name__ in types[name] for kind in _RECORDS)
        stored = f"nested({value})" if holds_records else value
        if name == "type":
            lines.append(f"    line[{name!r}] = {value}")
        else:
            lines.append(f"    if {value} != d{index}: line[{name!r}] = {stored}")
    lines.append("    return line")
    exec("\n".join(lines), scope)  # noqa: S102 (field names of our own dataclasses)
    lean: Callable[[Any], dict[str, object]] = scope["lean"]
    return lean


def _scrub(value: object) -> object:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def clip(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Keep the head and the (more telling) tail of a long text, within `limit` UTF-8 bytes."""
    if len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    head, tail = limit // 4, limit - limit // 4 - 64
    cut = len(data) - head - tail
    return (
        data[:head].decode("utf-8", "ignore")
        + f"\n… {cut} bytes cut …\n"
        + data[-tail:].decode("utf-8", "ignore")
    )
