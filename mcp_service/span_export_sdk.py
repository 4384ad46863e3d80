"""The OpenTelemetry SDK side of span export (span_export.py): needs the `otlp` extra.

What leaves the process is filtered on its way to the OTLP exporter:

- no statement text: the SQLAlchemy instrumentation puts each statement's SQL in
  `db.statement` (`db.query.text` under the new conventions). Our statements bind every
  value, so the text holds no data, but the standard here is no SQL in logs or responses,
  and a trace backend is a log kept elsewhere. The span's name and `db.operation` keep the
  verb and the database, which is what a timeline needs. (Statement parameters are never
  recorded by the instrumentation.)
- no driver text: a failed statement's span status would carry the driver's message, which
  can quote a row's values (PostgreSQL's DETAIL); it keeps the error status only.
- no statement outside traced work: startup checks, idle sweeps, revocation polls and
  shutdown would each make a trace of one span.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from sqlalchemy import Engine

DEFAULT_SERVICE_NAME = "mcp-service"
SQLALCHEMY_SCOPE = "opentelemetry.instrumentation.sqlalchemy"
STATEMENT_TEXT = frozenset({"db.statement", "db.query.text"})


def install() -> None:
    """The global tracer provider: spans batched to OTLP/HTTP as the `OTEL_*` variables say."""
    resource = Resource.create()
    # OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) wins over our default.
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(Redacting(OTLPSpanExporter())))
    trace.set_tracer_provider(provider)


def instrument(engine: Engine) -> None:
    """The official SQLAlchemy instrumentation on `engine`, without SQL comments.

    Its package declares SQLAlchemy < 2.1; the engine events it listens to are the same in
    2.1 (tests/integration/test_service_otlp.py runs it on ours), so its version check is
    skipped instead of letting it refuse with a logged error.
    """
    SQLAlchemyInstrumentor().instrument(engine=engine, skip_dep_check=True)


def _is_statement(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name == SQLALCHEMY_SCOPE


def _redacted(span: ReadableSpan) -> ReadableSpan:
    attributes = span.attributes or {}
    statement = _is_statement(span)
    if not statement and STATEMENT_TEXT.isdisjoint(attributes):
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={k: v for k, v in attributes.items() if k not in STATEMENT_TEXT},
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code) if statement else span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class Redacting(SpanExporter):
    """Passes spans on to `exporter` without statement text, driver text or stray statements."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        kept = [_redacted(s) for s in spans if s.parent is not None or not _is_statement(s)]
        return self._exporter.export(kept) if kept else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
