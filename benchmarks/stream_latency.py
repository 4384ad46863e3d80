"""How fast the event stream reaches the dashboard, and what folding it costs.

These were assertions in the tests once (`a step must reach the consumer within
100 ms`, `20,000 events in under 5 s`); timing belongs here, printed against a
baseline from the same run, while the tests assert order and behaviour.

Figures: the delay from a step being written by the test to the runner yielding it
(p50 and max over a few steps spaced 100 ms apart; target < 100 ms); the same for
the run's first event; and the reducer folding a 5,000-test run (20,000 events),
against a plain loop that stores each event in a dict (the floor of any reducer).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, header, row

from mcp_dashboard.events import CollectedTest, Collection, Event, RunStart, Step, TestReport
from mcp_dashboard.runner import Run, RunConfig
from mcp_dashboard.state import reduce_all

TESTS = 5_000


async def step_delays(work: Path) -> tuple[list[float], float]:
    config = RunConfig(
        pytest_args=["-p", "no:cacheprovider", str(ROOT / "tests" / "fixtures" / "slow")],
        cwd=work,
        env={"FIXTURE_STEP_PAUSE": "0.1"},
    )
    delays: list[float] = []
    first: float | None = None
    async with Run(config) as run:
        async for event in run:
            now = time.time()
            if first is None:
                first = now - event.time
            if isinstance(event, Step):
                delays.append(now - event.time)
    assert first is not None and len(delays) == 3, delays
    return delays, first


def events() -> list[Event]:
    names = [f"test_{n}" for n in range(TESTS)]
    out: list[Event] = [
        RunStart(
            time=0.0,
            pid=1,
            args=(),
            rootdir="/r",
            invocation_dir="/r",
            pytest_version="8",
            python_version="3",
        ),
        Collection(
            time=0.1,
            tests=tuple(
                CollectedTest(nodeid=f"t.py::{n}", critical_path=f"p{i % 7}")
                for i, n in enumerate(names)
            ),
            total=TESTS,
        ),
    ]
    for name in names:
        for when in ("setup", "call", "teardown"):
            out.append(
                TestReport(
                    time=1.0,
                    nodeid=f"t.py::{name}",
                    when=when,
                    outcome="passed",
                    category="passed",
                    duration=0.001,
                )
            )
    return out


def fold_seconds(stream: list[Event]) -> tuple[float, float]:
    started = time.perf_counter()
    state = reduce_all(stream)
    folded = time.perf_counter() - started
    assert state.counts.passed == TESTS
    started = time.perf_counter()
    stored: dict[str, Event] = {}
    for event in stream:
        stored[getattr(event, "nodeid", event.type)] = event
    floor = time.perf_counter() - started
    return folded, floor


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        delays, first = asyncio.run(step_delays(Path(tmp)))
    row(
        "step written to step read (p50, max of 3)",
        f"{statistics.median(delays) * 1e3:.1f} ms",
        "< 100 ms",
        f"max {max(delays) * 1e3:.1f} ms",
        "-",
    )
    row("first event written to read", f"{first * 1e3:.1f} ms", "< 100 ms", "-", "-")
    stream = events()
    folded, floor = min(fold_seconds(stream) for _ in range(3))
    row(
        f"reducer, {TESTS:,} tests ({len(stream):,} events)",
        f"{folded * 1e3:.0f} ms",
        "linear",
        f"dict per event {floor * 1e3:.1f} ms",
        f"{folded / floor:.0f}x",
    )


if __name__ == "__main__":
    header()
    main()
