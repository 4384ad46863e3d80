"""Tools that compute without the database: echo and analyze_workload."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from mcp_service.permissions import Permission
from mcp_service.tools.registry import Tool, ToolContext

# 10,000 samples are ~350 KB of JSON and ~30,000 values to check: ~25 ms of parsing and
# checking, the checks in a worker thread. The bound is part of the schema, so it is checked
# before anything else. (20,000 let one client's valid calls push another's p99 to 9x idle.)
MAX_SAMPLES = 10_000


async def echo(_ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"message": args["message"], "length": len(args["message"])}


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default "linear" method)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def summarize(latencies: list[float], costs: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies)
    count = len(ordered)
    return {
        "count": count,
        "mean_latency_ms": math.fsum(ordered) / count,
        "p50_latency_ms": percentile(ordered, 50),
        "p95_latency_ms": percentile(ordered, 95),
        "p99_latency_ms": percentile(ordered, 99),
        "max_latency_ms": ordered[-1],
        "total_cost": math.fsum(costs),
    }


def columns(samples: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """(latencies, costs) of the samples, as floats."""
    return [float(s["latency_ms"]) for s in samples], [float(s.get("cost", 0)) for s in samples]


def summarize_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return summarize(*columns(samples))


async def analyze_workload(_ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    # Converting and sorting 10,000 samples takes milliseconds: all of it off the event loop.
    return await asyncio.to_thread(summarize_samples, args["samples"])


ECHO = Tool(
    name="echo",
    description="Return the message unchanged, with its length. Useful to check connectivity.",
    input_schema={
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 10_000}},
        "required": ["message"],
        "additionalProperties": False,
    },
    permission=Permission.READ,
    handler=echo,
    uses_database=False,
)

ANALYZE_WORKLOAD = Tool(
    name="analyze_workload",
    description=(
        "Summarise request samples: count, mean, p50, p95, p99 and max latency (ms), "
        "and total cost. Percentiles interpolate linearly between ranks."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "samples": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SAMPLES,
                "items": {
                    "type": "object",
                    "properties": {
                        "latency_ms": {"type": "number", "minimum": 0},
                        "cost": {"type": "number", "minimum": 0},
                    },
                    "required": ["latency_ms"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["samples"],
        "additionalProperties": False,
    },
    permission=Permission.EXECUTE,
    handler=analyze_workload,
    uses_database=False,
)
