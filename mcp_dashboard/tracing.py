"""A trace per test: the test is a span, its setup, call and teardown are child spans.

While a test runs, its phase's span is OpenTelemetry's current context, so code the
test calls in this process finds it (`trace.get_current_span()`), and `TRACEPARENT`
(W3C trace context, naming the test's span) is set in the environment, so processes
the test starts inherit it.

By default the spans carry ids only (`NonRecordingSpan`): minting them costs
microseconds per test, where recording SDK spans costs ~100 µs (measured here). With
an OTLP endpoint (`--otlp-endpoint`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`)
they are recorded and exported, so a run opens in Jaeger, Tempo or any OTLP backend
with each test the parent of the work it caused. Exporting needs the `otlp` extra
(the OpenTelemetry SDK and its OTLP/HTTP exporter).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from contextvars import Token
from typing import NamedTuple, Protocol

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, SpanContext, TraceFlags

TRACEPARENT = "TRACEPARENT"
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_LOW_64 = (1 << 64) - 1


class TraceIds(NamedTuple):
    """A span's ids as W3C trace context writes them: 32 and 16 lowercase hex digits.
    (A named tuple: one is made per test, and a frozen dataclass costs several times more.)"""

    trace_id: str
    span_id: str

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


class _Current(NonRecordingSpan):
    """The ids-only span current while a test runs: the test's own between its phases, a
    phase's during it. One object, in one context, for every test of the run, and a
    span id minted only if something asks for it: at 20,000 trivial tests, a context
    and a span made per test or phase cost more than the tests."""

    def __init__(self, mint: Callable[[], int]) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self._mint = mint
        self._trace_id = 0
        self._test: SpanContext | None = None
        self._phase: SpanContext | None = None
        self._in_phase = False

    def get_span_context(self) -> SpanContext:
        trace_id = self._trace_id
        if not trace_id:
            return INVALID_SPAN_CONTEXT  # (only a span kept past its test asks then)
        if self._in_phase:
            if self._phase is None:
                self._phase = SpanContext(trace_id, self._mint(), False, _SAMPLED)
            return self._phase
        if self._test is None:  # the test's span id is its trace id's last 64 bits
            self._test = SpanContext(trace_id, trace_id & _LOW_64, False, _SAMPLED)
        return self._test

    def begin_test(self, trace_id: int, in_phase: bool = False) -> None:
        self._trace_id, self._test, self._phase, self._in_phase = trace_id, None, None, in_phase

    def begin_phase(self) -> None:
        self._phase, self._in_phase = None, True

    def end_phase(self) -> None:
        self._in_phase = False


class TestSpans:
    """The running test's span and its phase's span, made the current context in turn.

    `begin_test` / `end_test` bracket a test, `begin_phase` / `end_phase` each of its
    phases (the plugin calls them from pytest's hooks for the test and its phases). With a
    `tracer` (an SDK tracer that exports) the spans are recorded; without, ids only.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer
        # Trace ids are not secrets: the OpenTelemetry SDK mints them the same way.
        self._random = random.Random()  # noqa: S311
        self._trace_id = 0
        self._open: list[tuple[trace.Span, Token[Context]]] = []
        self._current = _Current(self._span_id)  # ids only: the test's, then its phases'
        # The context that makes `_current` current, and the one it was made from: made
        # again only when a test begins in another.
        self._context: tuple[Context, Context] | None = None
        self._token: Token[Context] | None = None
        self._environ: str | None = None

    def begin_test(
        self, name: str, attributes: Mapping[str, str | int] | None = None, phase: str = ""
    ) -> TraceIds:
        """A new trace; its root span is current, and in TRACEPARENT, until `end_test`.
        With a `phase`, that phase's span begins at once (as `begin_phase` would)."""
        if self._tracer is None:
            self._trace_id = trace_id = self._test_trace_id()
            self._current.begin_test(trace_id, in_phase=bool(phase))
            outside = context.get_current()
            made = self._context
            if made is None or made[0] is not outside:
                made = self._context = (outside, trace.set_span_in_context(self._current, outside))
            self._token = context.attach(made[1])
            digits = f"{trace_id:032x}"
            ids = TraceIds(digits, digits[16:])
        else:  # a root: whatever context the test process runs in is not its parent
            span = self._tracer.start_span(name, context=Context(), attributes=attributes)
            self._trace_id = span.get_span_context().trace_id
            self._enter(span)
            ids = TraceIds(f"{self._trace_id:032x}", f"{span.get_span_context().span_id:016x}")
            if phase:
                self._enter(self._tracer.start_span(phase))
        self._environ = os.environ.get(TRACEPARENT)
        os.environ[TRACEPARENT] = ids.traceparent
        return ids

    def end_test(self, outcome: str = "") -> None:
        """End the test's span; `outcome` is OpenTelemetry's `test.case.result.status`
        (`pass` or `fail`; empty for a skipped test, which it has no word for)."""
        if not self._trace_id:
            return
        if self._token is not None:
            context.detach(self._token)
            self._token = None
            self._current.begin_test(0)
        else:
            span = self._open[-1][0]
            if outcome and span.is_recording():
                span.set_attribute("test.case.result.status", outcome)
                if outcome == "fail":
                    span.set_status(trace.StatusCode.ERROR)
            self._leave()
        self._trace_id = 0
        if self._environ is None:
            try:  # noqa: SIM105 (not pop(), nor suppress(): a lookup or a with more, every test)
                del os.environ[TRACEPARENT]
            except KeyError:  # the test took it away itself
                pass
        else:
            os.environ[TRACEPARENT] = self._environ

    def begin_phase(self, when: str) -> None:
        """A child span of the test's, current until `end_phase` (nothing outside a test)."""
        if not self._trace_id:
            return
        if self._token is not None:
            self._current.begin_phase()
        elif self._tracer is not None:
            self._enter(self._tracer.start_span(when))

    def end_phase(self, error: str | None = None) -> None:
        """End the phase's span; an `error` (the type name of what it raised, not a skip)
        marks it failed."""
        if self._token is not None:
            self._current.end_phase()
            return
        if len(self._open) < 2:
            return
        span = self._open[-1][0]
        if error is not None and span.is_recording():
            span.set_status(trace.StatusCode.ERROR, error)
        self._leave()

    def next_phase(self, when: str, error: str | None = None) -> None:
        """`end_phase(error)`, then `begin_phase(when)` unless `when` is "": one call
        between two phases, made three times a test."""
        if self._token is not None:  # ids only: the next phase's span id is minted anew
            if when:
                self._current.begin_phase()
            else:
                self._current.end_phase()
            return
        self.end_phase(error)
        if when:
            self.begin_phase(when)

    def _enter(self, span: trace.Span) -> None:
        self._open.append((span, context.attach(trace.set_span_in_context(span))))

    def _leave(self) -> None:
        span, token = self._open.pop()
        context.detach(token)
        span.end()

    def _span_id(self) -> int:
        return self._nonzero(64)

    def _test_trace_id(self) -> int:
        """A trace id whose last 64 bits are its test's span id, so a line naming the trace
        names the span too (docs/events.md): neither may be zero."""
        while True:
            value = self._random.getrandbits(128)
            if value & _LOW_64:
                return value

    def _nonzero(self, bits: int) -> int:
        """A random id; zero means "invalid" in W3C trace context."""
        while True:
            value = self._random.getrandbits(bits)
            if value:
                return value


class Exporter(Protocol):
    """Where recorded spans go: `shutdown` sends what is left (at the end of the run)."""

    def shutdown(self) -> None: ...


def exporting_tracer(endpoint: str | None, instance: str) -> tuple[trace.Tracer, Exporter]:
    """An SDK tracer whose spans go to the OTLP/HTTP `endpoint` (a base URL, as
    `OTEL_EXPORTER_OTLP_ENDPOINT` is; None: the standard `OTEL_*` variables decide).

    ImportError when the `otlp` extra is not installed.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url = None if endpoint is None else endpoint.rstrip("/") + "/v1/traces"
    resource = Resource.create({"service.name": "pytest", "service.instance.id": instance})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url, timeout=5)))
    return provider.get_tracer("mcp-dashboard"), provider
