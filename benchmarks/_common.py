"""Helpers shared by the benchmark scripts: repeat, take the median, print a row."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# A tier sized for a benchmark whose few clients send every call: the per-client limits are
# checked on every call (their cost is in the figures) and refuse none.
BENCH_TIER = (
    "calls_per_second=100000000,burst=100000000,in_flight=100000,sessions=100000,"
    "request_bytes_per_second=100000000000"
)


def wall(command: list[str], *, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def row(figure: str, value: str, target: str, baseline: str, ratio: str) -> None:
    print(f"| {figure} | {value} | {target} | {baseline} | {ratio} |")


def header() -> None:
    print("| figure | measured | target | baseline (same run) | ratio |")
    print("|---|---|---|---|---|")
