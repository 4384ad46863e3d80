"""A trace per test: the test is a span, its setup, call and teardown are child spans.

While a test runs, its phase's span is OpenTelemetry's current context, so code the
test calls in this process finds it (`trace.get_current_span()`), and `TRACEPARENT`
(W3C trace context, naming the test's span) is set in the environment, so processes
the test starts inherit it. The spans carry ids only (`NonRecordingSpan`): minting
them costs microseconds per test, where recording SDK spans costs ~100 µs (measured
here), a cost only exporting them would justify.
"""

from __future__ import annotations

import os
import random
from contextvars import Token
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

TRACEPARENT = "TRACEPARENT"
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


@dataclass(frozen=True, slots=True)
class TraceIds:
    """A span's ids as W3C trace context writes them: 32 and 16 lowercase hex digits."""

    trace_id: str
    span_id: str

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


class TestSpans:
    """The running test's span and its phase's span, made the current context in turn.

    `begin_test` / `end_test` bracket a test, `begin_phase` / `end_phase` each of its
    phases (the plugin calls them from its hook wrappers, in `finally` blocks).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        # Trace ids are not secrets: the OpenTelemetry SDK mints them the same way.
        self._random = random.Random()  # noqa: S311
        self._trace_id = 0
        self._tokens: list[Token[Context]] = []
        self._environ: str | None = None

    def begin_test(self) -> TraceIds:
        """A new trace; its root span is current, and in TRACEPARENT, until `end_test`."""
        self._trace_id = self._nonzero(128)
        span_id = self._nonzero(64)
        self._enter(span_id)
        ids = TraceIds(f"{self._trace_id:032x}", f"{span_id:016x}")
        self._environ = os.environ.get(TRACEPARENT)
        os.environ[TRACEPARENT] = ids.traceparent
        return ids

    def end_test(self) -> None:
        if not self._trace_id:
            return
        self._leave()
        self._trace_id = 0
        if self._environ is None:
            os.environ.pop(TRACEPARENT, None)
        else:
            os.environ[TRACEPARENT] = self._environ

    def begin_phase(self) -> None:
        """A child span of the test's, current until `end_phase` (nothing outside a test)."""
        if self._trace_id:
            self._enter(self._nonzero(64))

    def end_phase(self) -> None:
        if len(self._tokens) > 1:
            self._leave()

    def _enter(self, span_id: int) -> None:
        span = NonRecordingSpan(SpanContext(self._trace_id, span_id, False, _SAMPLED))
        self._tokens.append(context.attach(trace.set_span_in_context(span)))

    def _leave(self) -> None:
        context.detach(self._tokens.pop())

    def _nonzero(self, bits: int) -> int:
        """A random id; zero means "invalid" in W3C trace context."""
        while True:
            value = self._random.getrandbits(bits)
            if value:
                return value
