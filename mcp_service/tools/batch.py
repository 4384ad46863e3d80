"""analyze_workload_batches: analyze_workload over a large sample set, one batch at a time.

It is the long tool of the built-in set: each batch is summarised off the event
loop, and after each one the tool reports progress (the MCP front turns that into
`notifications/progress`) so a client can show how far along it is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcp_service.errors import ValidationError
from mcp_service.permissions import Permission
from mcp_service.tools.basic import ANALYZE_WORKLOAD, columns, summarize
from mcp_service.tools.registry import Tool, ToolContext

MAX_BATCHES = 1_000
DEFAULT_BATCH_SIZE = 1_000


async def analyze_workload_batches(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    samples = args["samples"]
    size = args.get("batch_size", DEFAULT_BATCH_SIZE)
    total = -(-len(samples) // size)
    if total > MAX_BATCHES:
        raise ValidationError(
            f"{len(samples)} samples in batches of {size} make {total} batches; "
            f"the limit is {MAX_BATCHES}: use a larger batch_size"
        )
    latencies, costs = await asyncio.to_thread(columns, samples)
    await ctx.reporter.log("info", f"analyzing {len(samples)} samples in {total} batches")
    batches: list[dict[str, Any]] = []
    for index, start in enumerate(range(0, len(samples), size), start=1):
        part = await asyncio.to_thread(
            summarize, latencies[start : start + size], costs[start : start + size]
        )
        batches.append({"batch": index, "first_sample": start, **part})
        await ctx.reporter.progress(index, total, f"batch {index}/{total}")
    overall = await asyncio.to_thread(summarize, latencies, costs)
    slowest = max(batches, key=lambda b: (b["p95_latency_ms"], -b["batch"]))
    await ctx.reporter.log(
        "info", f"done: p95 {overall['p95_latency_ms']:g} ms; slowest batch {slowest['batch']}"
    )
    return {"overall": overall, "batches": batches, "slowest_batch": slowest["batch"]}


ANALYZE_WORKLOAD_BATCHES = Tool(
    name="analyze_workload_batches",
    description=(
        "Summarise a large set of request samples batch by batch (count, mean, p50, p95, p99 "
        "and max latency, total cost, per batch and overall), reporting progress after each "
        "batch, and name the batch with the worst p95."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "samples": ANALYZE_WORKLOAD.input_schema["properties"]["samples"],
            "batch_size": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100_000,
                "default": DEFAULT_BATCH_SIZE,
            },
        },
        "required": ["samples"],
        "additionalProperties": False,
    },
    permission=Permission.EXECUTE,
    handler=analyze_workload_batches,
    uses_database=False,
)
