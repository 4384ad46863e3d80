"""The W3C trace a piece of work belongs to, read from OpenTelemetry's current context.

The service needs only opentelemetry-api: a caller's context arrives in-process (a
test calling the service), or with each MCP request (`traceparent` in `_meta`, which
the SDK's own OpenTelemetry middleware makes current for the request). With no SDK
configured the context still carries the caller's ids, and rows are stamped with them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "TRACEPARENT"


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span as hex, or (None, None) outside any trace."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None, None
    return f"{span.trace_id:032x}", f"{span.span_id:016x}"


@contextmanager
def environment_trace(environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """The trace named by `TRACEPARENT` (set by whoever started this process, such as a
    traced test starting a stdio server), current for the block; nothing if unset or bad."""
    carrier = {"traceparent": environ.get(TRACEPARENT, "")}
    token = context.attach(TraceContextTextMapPropagator().extract(carrier))
    try:
        yield
    finally:
        context.detach(token)
