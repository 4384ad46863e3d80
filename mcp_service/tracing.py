"""The W3C trace a piece of work belongs to, read from OpenTelemetry's current context.

The service needs only opentelemetry-api: a caller's context arrives in-process (a
test calling the service), or with each MCP request (`traceparent` in `_meta`, which
the SDK's own OpenTelemetry middleware makes current for the request). With no SDK
configured the context still carries the caller's ids, and rows are stamped with them.
"""

from __future__ import annotations

from opentelemetry import trace


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span as hex, or (None, None) outside any trace."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None, None
    return f"{span.trace_id:032x}", f"{span.span_id:016x}"
