"""What a test's trace costs the plugin: its span, three phase spans, TRACEPARENT, one event line.

Measured per test over 20,000 tests, as the plugin does it (`TestSpans` and the
`test_trace` line written to a real file), against the same loop with the event line
and no spans, in the same run. Target: at most 20 µs per test.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable

from _common import header, row

from mcp_dashboard.events import TestTrace, encode
from mcp_dashboard.tracing import TestSpans

TESTS = 20_000
ROUNDS = 5


def with_spans(fd: int) -> None:
    spans = TestSpans()
    for n in range(TESTS):
        ids = spans.begin_test(f"t.py::test_{n}")
        event = TestTrace(
            time=time.time(), nodeid=f"t.py::test_{n}", trace_id=ids.trace_id, span_id=ids.span_id
        )
        os.write(fd, encode(event))
        for when in ("setup", "call", "teardown"):
            spans.begin_phase(when)
            spans.end_phase()
        spans.end_test("pass")


def without_spans(fd: int) -> None:
    for n in range(TESTS):
        event = TestTrace(
            time=time.time(), nodeid=f"t.py::test_{n}", trace_id="1" * 32, span_id="2" * 16
        )
        os.write(fd, encode(event))


def seconds(loop: Callable[[int], None]) -> float:
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        loop(sink.fileno())
        return time.perf_counter() - start


def main() -> None:
    header()
    pairs = [(seconds(with_spans), seconds(without_spans)) for _ in range(ROUNDS)]
    added = statistics.median((full - base) / TESTS for full, base in pairs)
    base = statistics.median(base / TESTS for _, base in pairs)
    row(
        f"per-test spans in the plugin ({TESTS:,} tests, median of {ROUNDS})",
        f"{added * 1e6:.1f} µs/test",
        "<= 20 µs",
        f"event line alone {base * 1e6:.1f} µs/test",
        f"{(added + base) / base:.1f}x",
    )


if __name__ == "__main__":
    main()
