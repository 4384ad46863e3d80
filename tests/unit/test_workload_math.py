"""analyze_workload's statistics against values computed by hand (numpy's linear method)."""

from __future__ import annotations

import pytest

from mcp_service.tools.basic import percentile, summarize


def test_single_sample() -> None:
    assert summarize([7.0], [0.5]) == {
        "count": 1,
        "mean_latency_ms": 7.0,
        "p50_latency_ms": 7.0,
        "p95_latency_ms": 7.0,
        "p99_latency_ms": 7.0,
        "max_latency_ms": 7.0,
        "total_cost": 0.5,
    }


def test_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 99) == pytest.approx(39.7)
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0


def test_unsorted_input_and_costs() -> None:
    result = summarize([300.0, 100.0, 200.0], [0.1, 0.2, 0.3])
    assert result["p50_latency_ms"] == 200.0
    assert result["max_latency_ms"] == 300.0
    assert result["mean_latency_ms"] == 200.0
    assert result["total_cost"] == pytest.approx(0.6)


def test_empty_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
