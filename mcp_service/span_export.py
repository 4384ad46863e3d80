"""`mcp-service serve` exports its spans when the standard `OTEL_*` variables ask for it.

An endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or
`OTEL_TRACES_EXPORTER=otlp` turns exporting on; `OTEL_TRACES_EXPORTER=none` or
`OTEL_SDK_DISABLED=true` keeps it off. Then the OpenTelemetry SDK records the MCP SDK's
server spans, the tool-call spans (tracing.py) and the SQLAlchemy statements, and sends them
over OTLP/HTTP (span_export_sdk.py): the rest of the configuration (service name, headers,
timeouts, sampler, batching) is the SDK's own reading of the same variables.

With nothing set this module imports no SDK: the service needs only opentelemetry-api, and
the extra that exporting needs may be missing. Asked to export without it, `serve` stops
with one line that names the extra.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine

from mcp_service.errors import MCPServiceError

EXTRA = "mcp-service-dashboard[otlp]"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# How long stopping waits for the last spans to be sent: a backend that is down must not
# hold a SIGTERM'd server for the exporter's whole retry budget.
FLUSH_SECONDS = 5.0


class ExportUnavailable(MCPServiceError):
    """The `OTEL_*` variables ask for an export this installation cannot do."""

    code = "startup"


def requested(environ: Mapping[str, str]) -> str | None:
    """The variable that asks for span export, or None; ExportUnavailable for an exporter or
    protocol other than OTLP over HTTP (the only one installed with the extra)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")}
    exporters.discard("")
    if exporters == {"none"}:
        return None
    if exporters - {"otlp"}:
        raise ExportUnavailable(
            f"OTEL_TRACES_EXPORTER={environ['OTEL_TRACES_EXPORTER']}: mcp-service exports "
            "spans with otlp only (or none)"
        )
    asked = next((name for name in ENDPOINTS if environ.get(name, "").strip()), None)
    if asked is None and not exporters:
        return None
    for name in PROTOCOLS:
        protocol = environ.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            raise ExportUnavailable(
                f"{name}={protocol}: mcp-service exports OTLP over http/protobuf only"
            )
    return asked or "OTEL_TRACES_EXPORTER"


def start(environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK's tracer provider if the variables ask for export; whether they did."""
    asked = requested(environ)
    if asked is None:
        return False
    try:
        from mcp_service import span_export_sdk
    except ImportError as exc:
        if (exc.name or "").startswith("mcp_service"):
            raise  # a bug of ours, not a missing package
        raise ExportUnavailable(
            f"{asked} asks for span export, which needs the OpenTelemetry SDK ({exc.name} "
            f"is not installed): pip install '{EXTRA}'"
        ) from None
    span_export_sdk.install()
    return True


def instrument(engine: AsyncEngine) -> None:
    """Record `engine`'s statements as spans (after `start` returned True)."""
    from mcp_service import span_export_sdk

    span_export_sdk.instrument(engine.sync_engine)


def finish(timeout: float = FLUSH_SECONDS) -> None:
    """Send the spans not yet sent and stop exporting; at most `timeout` seconds. Nothing
    without an SDK provider; safe to call again."""
    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if shutdown is None:
        return
    # In a daemon thread: the SDK bounds its own wait at 30 s, longer than a stop should take.
    sender = threading.Thread(target=shutdown, name="mcp-span-flush", daemon=True)
    sender.start()
    sender.join(timeout)
