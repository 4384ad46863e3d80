"""The event parser and line splitter on any input: an event, or the documented `ParseError`.

Why: the stream is a file any test (or a dying process) can write into, and
docs/events.md promises that a bad line is counted by kind and skipped. So the
parser may return an event or raise one of its four `ParseError`s, nothing else;
every event survives encode → parse; and the splitter finds the same lines
however the bytes are chunked, without buffering more than one line's limit.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mcp_dashboard.events import (
    EVENT_TYPES,
    MAX_LINE_BYTES,
    Event,
    ParseError,
    encode,
    parse_line,
)
from mcp_dashboard.runner import LineSplitter
from tests.property.strategies import ANY_TEXT, JSON_LIKE

KINDS = {"malformed", "unknown", "unsupported", "oversized"}
SURROGATE = re.compile("[\ud800-\udfff]")
INT64 = st.integers(-(2**63), 2**63 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)  # what time.time() and durations are


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """A strategy for one field's type, as the dataclasses in events.py declare them."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is float:
        return FINITE
    if annotation is int:
        return INT64
    if annotation is bool:
        return st.booleans()
    if annotation is str:
        return ANY_TEXT
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is tuple:  # a fixed length: tuple[X, Y, Z]
        return st.tuples(*(strategy_for(a) for a in args))
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return builds(annotation)
    raise TypeError(f"no strategy for {annotation!r}")


def builds(cls: type) -> st.SearchStrategy[Any]:
    """Any instance of an event dataclass; `type` and `v` keep their fixed values."""
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: strategy_for(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in ("type", "v")
    }
    return st.builds(cls, **fields)


EVENTS = st.one_of(*(builds(cls) for cls in EVENT_TYPES.values()))


def scrubbed(value: Any) -> Any:
    """What encode() promises to write: the same value, lone surrogates as U+FFFD."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: scrubbed(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(scrubbed(v) for v in value)
    if isinstance(value, dict):
        return {scrubbed(k): scrubbed(v) for k, v in value.items()}
    return value


def parsed_or_documented_error(line: bytes | str) -> Event | ParseError:
    try:
        event = parse_line(line)
    except ParseError as error:
        assert error.kind in KINDS
        return error
    assert isinstance(event, tuple(EVENT_TYPES.values()))
    assert event.v == 1 and EVENT_TYPES[event.type] is type(event)
    return event


@settings(max_examples=300)
@given(line=st.one_of(st.binary(max_size=200), st.text(max_size=200), ANY_TEXT))
@example(line="\ud800")
@example(line=b"[" * 100_000)
@example(line=b'{"v": 1, "type": "run_cancel", "time": 1e400}')
@example(line=b'{"v": 99999999999999999999999, "type": "step"}')
@example(line=b"x" * (MAX_LINE_BYTES + 1))
def test_any_line_is_an_event_or_a_documented_error(line: bytes | str) -> None:
    parsed_or_documented_error(line)


@settings(max_examples=150)
@given(
    kind=st.one_of(st.sampled_from(sorted(EVENT_TYPES)), ANY_TEXT),
    version=st.one_of(st.just(1), st.integers(), JSON_LIKE),
    fields=st.dictionaries(ANY_TEXT, JSON_LIKE, max_size=6),
    known=st.dictionaries(st.sampled_from(["time", "nodeid", "index", "message"]), JSON_LIKE),
)
def test_any_json_object_is_an_event_or_a_documented_error(
    kind: str, version: Any, fields: dict[str, Any], known: dict[str, Any]
) -> None:
    document = {**fields, **known, "type": kind, "v": version}
    line = json.dumps(document)  # NaN and Infinity come out as bare words: not JSON
    parsed_or_documented_error(line.encode("utf-8", "surrogatepass"))


@settings(max_examples=200)
@given(event=EVENTS)
def test_every_event_survives_encode_then_parse(event: Event) -> None:
    line = encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_line(line[:-1]) == scrubbed(event)


@settings(max_examples=200)
@given(event=EVENTS, data=st.data())
def test_a_truncated_event_is_malformed(event: Event, data: st.DataObject) -> None:
    line = encode(event)[:-1]
    cut = data.draw(st.integers(0, len(line) - 1))
    assert isinstance(parsed_or_documented_error(line[:cut]), ParseError)


LIMIT = 16
# Lines of any length up to 3x the limit, the lengths around it drawn often.
SIZES = st.one_of(st.integers(0, 3 * LIMIT), st.sampled_from([LIMIT - 1, LIMIT, LIMIT + 1]))
LINES = SIZES.flatmap(
    lambda size: st.binary(min_size=size, max_size=size).map(lambda b: b.replace(b"\n", b"."))
)


@settings(max_examples=300)
@given(
    lines=st.lists(LINES, max_size=8),
    newline_at_end=st.booleans(),
    data=st.data(),
)
def test_splitter_finds_the_same_lines_however_the_bytes_are_chunked(
    lines: list[bytes], newline_at_end: bool, data: st.DataObject
) -> None:
    stream = b"\n".join(lines) + (b"\n" if newline_at_end and lines else b"")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    splitter = LineSplitter(limit=LIMIT)
    out: list[bytes] = []
    for chunk in chunks:
        out += splitter.feed(chunk)
        assert len(splitter._buf) <= LIMIT, "held more than one line's limit"
    tail = splitter.close()

    complete = lines if newline_at_end else lines[:-1]
    last = None if newline_at_end or not lines else lines[-1]
    assert out == [line for line in complete if len(line) <= LIMIT]
    assert tail == (last if last and len(last) <= LIMIT else None)
    oversized = [line for line in lines if len(line) > LIMIT]
    assert splitter.oversized == len(oversized)
