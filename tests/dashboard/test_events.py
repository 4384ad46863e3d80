"""The event schema and its parser: round trips, and every way a line can be bad."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from mcp_dashboard.events import (
    EVENT_TYPES,
    MAX_LINE_BYTES,
    CollectedTest,
    Collection,
    CollectReport,
    Crash,
    Event,
    HistoryLoaded,
    MalformedLine,
    OversizedLine,
    RunCancel,
    RunFinish,
    Step,
    StreamReader,
    TestHistory,
    TestPassed,
    TestReport,
    TestStart,
    UnknownEventType,
    UnsupportedSchema,
    WarningRecorded,
    clip,
    encode,
    encode_test_pass,
    encode_test_start,
    parse_line,
)
from mcp_dashboard.runner import LineSplitter
from tests.dashboard.builders import start

EVERY_EVENT: list[Event] = [
    start(1.0, pid=42, args=("-q", "tests"), workers=2),
    Collection(
        time=1.1,
        tests=(
            CollectedTest(
                nodeid="t.py::a",
                critical_path="tools",
                markers=("critical_path",),
                file="t.py",
                line=3,
                name="a",
            ),
        ),
        total=1,
        deselected=4,
        worker="gw0",
    ),
    CollectReport(time=1.2, nodeid="bad.py", outcome="failed", longrepr="ImportError"),
    TestStart(time=1.3, nodeid="t.py::a", file="t.py", line=3),
    Step(time=1.4, nodeid="t.py::a", index=0, message="✓ done", worker="gw1"),
    TestPassed(
        time=1.45,
        nodeid="t.py::b",
        durations=(0.001, 0.25, 0.0),
        worker="gw1",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
    ),
    TestReport(
        time=1.5,
        nodeid="t.py::a",
        when="call",
        outcome="failed",
        category="failed",
        duration=0.25,
        crash=Crash(path="/r/t.py", lineno=7, message="AssertionError"),
        longrepr="Traceback …",
        stdout="out",
        stderr="err",
        log="log",
    ),
    WarningRecorded(time=1.6, message="careful", category="UserWarning", lineno=2),
    RunFinish(time=1.7, exit_status=1, totals={"failed": 1}, duration=0.7),
    RunFinish(time=1.75, exit_status=4, source="runner", output="ERROR: usage: pytest [options]"),
    RunCancel(time=1.8),
    HistoryLoaded(time=1.9, tests=(TestHistory(nodeid="t.py::a", flaky=True, median=0.1, runs=3),)),
]


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: e.type)
def test_every_event_round_trips(event: Event) -> None:
    line = encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_line(line[:-1]) == event
    assert parse_line(line[:-1].decode()) == event
    assert "v" not in json.loads(line)  # 2, the default: left out like any other


def test_a_line_leaves_out_the_fields_that_hold_their_default() -> None:
    """v2: a passing test is one short line, and no event spells out an empty field."""
    passed = TestPassed(time=1.5, nodeid="t.py::test_a", durations=(0.000012, 0.000034, 0.0))
    assert encode(passed) == (
        b'{"type":"test_pass","time":1.5,"nodeid":"t.py::test_a",'
        b'"durations":[0.000012,0.000034,0.0]}\n'
    )
    # Where tests run one after another, the line names neither its test nor its time.
    assert encode(TestPassed(durations=(0.000012, 0.000034, 0.0))) == (
        b'{"type":"test_pass","durations":[0.000012,0.000034,0.0]}\n'
    )
    report = TestReport(time=2.0, nodeid="t.py::a", when="call", outcome="skipped", category="x")
    assert json.loads(encode(report)) == {
        "type": "test_report",
        "time": 2.0,
        "nodeid": "t.py::a",
        "when": "call",
        "outcome": "skipped",
        "category": "x",
    }
    assert json.loads(encode(RunFinish(time=3.0, exit_status=None))) == {
        "type": "run_finish",
        "time": 3.0,
        "exit_status": None,  # required, so written even when it is None
    }


@pytest.mark.parametrize(
    ("nodeid", "output"),
    [
        ("t.py::test_a", ("", "", "")),
        ('t.py::test_b[" \\ é ✓ \n]', ("out\n", "", "INFO log")),
        ("t.py::test_c[\ud800]", ("\udfff", "err", "")),  # lone surrogates: U+FFFD either way
    ],
)
def test_the_plugins_per_test_lines_are_the_events_own_encoding(
    nodeid: str, output: tuple[str, str, str]
) -> None:
    """The plugin writes a test's start and pass without making the events: byte for byte
    what `encode` makes of them, so the dataclasses stay the schema's one definition."""
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    for trace in (("", ""), (trace_id, ""), (trace_id, span_id)):
        event = TestStart(time=1.25, nodeid=nodeid, trace_id=trace[0], span_id=trace[1])
        assert encode_test_start(1.25, nodeid, *trace) == encode(event)
    durations = (0.000012, 0.25, 1e-06)
    stdout, stderr, log = output
    passed = TestPassed(durations=durations, stdout=stdout, stderr=stderr, log=log)
    assert encode_test_pass(durations, stdout, stderr, log) == encode(passed)


def test_a_stream_reader_names_the_test_of_a_pass_line_from_the_start_before_it() -> None:
    reader = StreamReader()
    first = encode_test_start(10.0, "t.py::test_a", "4bf92f3577b34da6a3ce929d0e0e4736")
    assert reader.read(first.strip()) == TestStart(
        time=10.0, nodeid="t.py::test_a", trace_id="4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert reader.read(encode_test_pass((0.25, 0.5, 0.125)).strip()) == TestPassed(
        time=10.875, nodeid="t.py::test_a", durations=(0.25, 0.5, 0.125)
    )
    # A pass line that names its test (xdist's controller writes them) is taken as it is.
    named = TestPassed(time=3.0, nodeid="t.py::test_b", durations=(0.0, 0.0, 0.0), worker="gw1")
    assert reader.read(encode(named)) == named
    # Nothing before it names its test: not an event, and counted as such by the runner.
    with pytest.raises(MalformedLine, match="no test_start before it"):
        StreamReader().read(encode_test_pass((0.0, 0.0, 0.0)))


def test_v1_lines_with_every_field_still_read() -> None:
    """A v1 file (every field written, the start with its file and line) reads as before."""
    v1 = [
        b'{"type":"test_start","v":1,"time":1.3,"nodeid":"t.py::a","file":"t.py","line":3}',
        b'{"type":"test_report","v":1,"time":1.5,"nodeid":"t.py::a","when":"call",'
        b'"outcome":"passed","category":"passed","duration":0.25,"crash":null,"longrepr":"",'
        b'"reason":"","stdout":"","stderr":"","log":"","worker":null}',
    ]
    start_event, report = (parse_line(line) for line in v1)
    assert start_event == TestStart(v=1, time=1.3, nodeid="t.py::a", file="t.py", line=3)
    assert report == TestReport(
        v=1,
        time=1.5,
        nodeid="t.py::a",
        when="call",
        outcome="passed",
        category="passed",
        duration=0.25,
    )


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        b'{"v": 1}',
        b'{"type": "step"}',
        b'{"type": "step", "v": 1, "time": 1.0}',  # required fields missing
        b'{"type": "step", "v": 1, "time": "soon", "nodeid": "a", "index": 0, "message": "m"}',
        b'{"type": "test_report", "v": 1, "time": 1, "nodeid": "a", "when": "call",'
        b' "outcome": "exploded", "category": "x"}',  # outcome outside the enum
        b'{"type": "step", "v": 1, "time": 1.0, "nodeid": "a", "ind',  # truncated
        b'{"type": "step", "v": 1, "time": 1.0, "nodeid": "\xff\xfe", "index": 0, "message": "m"}',
        b'{"type": 7, "v": 1}',
    ],
)
def test_malformed_lines_raise_a_typed_error(line: bytes) -> None:
    with pytest.raises(MalformedLine) as caught:
        parse_line(line)
    assert caught.value.kind == "malformed"


def test_unknown_type_and_other_schema_versions_are_told_apart() -> None:
    with pytest.raises(UnknownEventType) as unknown:
        parse_line(b'{"v": 1, "type": "from_the_future", "time": 1.0}')
    assert unknown.value.kind == "unknown"
    with pytest.raises(UnsupportedSchema) as version:
        parse_line(b'{"type":"run_cancel","v":3,"time":1.0}')
    assert version.value.kind == "unsupported"
    assert str(version.value) == "schema version 3, this reader knows [1, 2]"


def test_oversized_line_is_rejected_before_decoding() -> None:
    line = b'{"v": 1, "type": "step", "message": "' + b"x" * MAX_LINE_BYTES + b'"}'
    with pytest.raises(OversizedLine) as caught:
        parse_line(line)
    assert caught.value.kind == "oversized"


def test_lone_surrogates_are_replaced_not_fatal() -> None:
    line = encode(Step(time=1.0, nodeid="a", index=0, message="bad \udc80 byte"))
    parsed = parse_line(line.strip())
    assert isinstance(parsed, Step) and parsed.message == "bad \ufffd byte"


def test_clip_keeps_head_and_tail_within_the_limit() -> None:
    assert clip("short", 100) == "short"
    text = "HEAD" + "é" * 50_000 + "TAIL"
    clipped = clip(text, 1000)
    assert len(clipped.encode()) <= 1000
    assert clipped.startswith("HEAD") and clipped.endswith("TAIL")
    assert "bytes cut" in clipped


def test_splitter_joins_lines_split_across_chunks() -> None:
    splitter = LineSplitter(limit=100)
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b': 1}\n{"b": 2}\n{"c"') == [b'{"a": 1}', b'{"b": 2}']
    assert splitter.feed(b": 3}\n") == [b'{"c": 3}']
    assert splitter.close() is None
    assert splitter.oversized == 0


def test_splitter_drops_oversized_lines_without_holding_them() -> None:
    splitter = LineSplitter(limit=100)
    out = splitter.feed(b"ok1\n" + b"x" * 60)
    for _ in range(1000):  # 40 KB of one line, streamed in 40-byte chunks
        out += splitter.feed(b"x" * 40)
        assert len(splitter._buf) <= 100
    out += splitter.feed(b"still the long line\nok2\n" + b"y" * 150 + b"\nok3\n")
    assert out == [b"ok1", b"ok2", b"ok3"]
    assert splitter.oversized == 2
    assert splitter.feed(b"partial") == []
    assert splitter.close() == b"partial"


def test_splitter_counts_an_oversized_tail_at_close() -> None:
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"z" * 50) == []
    assert splitter.close() is None
    assert splitter.oversized == 1


def test_a_text_line_is_judged_as_the_utf8_it_would_be_in_the_file() -> None:
    """A str with a lone surrogate raised UnicodeEncodeError (found by tests/property)."""
    for line in ("\ud800", '{"v": 1, "type": "run_cancel", "time": 1.0}\udcff'):
        with pytest.raises(MalformedLine):
            parse_line(line)
    four_bytes_each = "\U0001f600" * (MAX_LINE_BYTES // 4 + 1)  # under the limit in characters
    with pytest.raises(OversizedLine):
        parse_line(four_bytes_each)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"
COMMON = {"type", "v", "time"}  # documented once, under "Common fields"


def doc_sections() -> dict[str, str]:
    """docs/events.md split into its sections, by the name in each heading's backticks."""
    sections: dict[str, str] = {}
    name = ""
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^#{2,3} (.*)$", line)
        if heading:
            quoted = re.search(r"`([a-z_]+)`", heading.group(1))
            name = quoted.group(1) if quoted else heading.group(1).lower()
        sections[name] = sections.get(name, "") + line + "\n"
    return sections


def documented(field_name: str, text: str) -> bool:
    """`field` in backticks, or inside a `{a, b, c}` list of an object's fields."""
    if f"`{field_name}`" in text:
        return True
    return any(field_name in re.split(r",\s*", group) for group in re.findall(r"\{([^}]*)\}", text))


def test_every_event_field_is_documented_in_docs_events_md() -> None:
    sections = doc_sections()
    runner_side = sections["events added by the runner"]
    missing = []
    for type_name, cls in EVENT_TYPES.items():
        text = sections.get(type_name, "") or runner_side
        assert f"`{type_name}`" in DOCS.read_text(), f"no section for {type_name}"
        for f in dataclasses.fields(cls):
            if f.name not in COMMON and not documented(f.name, text):
                missing.append(f"{type_name}.{f.name}")
        for nested in NESTED.get(type_name, ()):
            for f in dataclasses.fields(nested):
                if not documented(f.name, text):
                    missing.append(f"{type_name}.{nested.__name__}.{f.name}")
    assert "`v`" in sections["common fields"] and "`time`" in sections["common fields"]
    assert missing == []


# Objects inside events, documented in their event's section.
NESTED: dict[str, tuple[type, ...]] = {
    "collection": (CollectedTest,),
    "test_report": (Crash,),
    "history": (TestHistory,),
}
