"""The W3C trace a piece of work belongs to, read from OpenTelemetry's current context.

The service needs only opentelemetry-api: a caller's context arrives in-process (a
test calling the service), or with each MCP request (`traceparent` in `_meta`, which
the SDK's own OpenTelemetry middleware makes current for the request). With no SDK
configured the context still carries the caller's ids, and rows are stamped with them.

Each tool call is a span of its own (`tool_call_span`), recorded only when `mcp-service
serve` exports spans (span_export.py); otherwise the API hands back the caller's span and
the call costs no more than a function call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import Token
from types import TracebackType

from opentelemetry import context, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mcp_service.errors import MCPServiceError

TRACEPARENT = "TRACEPARENT"
# A proxy until `serve` installs an SDK provider (span_export.py); a no-op tracer without one.
_TRACER = trace.get_tracer("mcp_service")


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


def tool_call_span(tool_name: str) -> AbstractContextManager[trace.Span]:
    """The span of one tool call, current while it runs: OpenTelemetry's GenAI `execute_tool`
    span, inside the MCP SDK's `tools/call` server span when the call came over MCP.

    An error ends it failed with the error's code as `error.type`; never a message, which
    may quote the arguments. Without an SDK (or not sampled) it is not recording: nothing is
    attached, so the caller's span stays current and rows are stamped with its ids.
    """
    span = _TRACER.start_span(
        f"execute_tool {tool_name}",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool_name},
        record_exception=False,
        set_status_on_exception=False,
    )
    return _CallSpan(span)


class _CallSpan:
    """`tool_call_span`'s scope: a class, not a generator, as it wraps every call."""

    __slots__ = ("_token", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self._token: Token[Context] | None = None

    def __enter__(self) -> trace.Span:
        if self.span.is_recording():
            self._token = context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        if self._token is None:
            return
        if error is not None:
            code = error.code if isinstance(error, MCPServiceError) else type(error).__qualname__
            self.span.set_attribute("error.type", code)
            self.span.set_status(trace.StatusCode.ERROR)
        context.detach(self._token)
        self.span.end()


def record_execution(
    span: trace.Span, execution_id: str, status: str, session_id: str | None, client_id: str
) -> None:
    """What the call's row says, on its span: Jaeger and the tables then name the same call."""
    if not span.is_recording():
        return
    span.set_attribute("mcp_service.execution.id", execution_id)
    span.set_attribute("mcp_service.execution.status", status)
    span.set_attribute("mcp_service.client.id", client_id)
    if session_id is not None:
        span.set_attribute("mcp.session.id", session_id)


def shared_work(span: trace.Span) -> AbstractContextManager[None]:
    """Work a call (`span`) hands to a task shared with other calls (the group commit of
    execution rows) is recorded by no instrumentation: a batch's statements are no one
    call's children, and the task that writes them outlives the call that started it."""
    return _uninstrumented() if span.is_recording() else _NOTHING


@contextmanager
def _uninstrumented() -> Iterator[None]:
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        context.detach(token)


_NOTHING = nullcontext()
