"""The dashboard on a generated suite of 5,000 trivial tests in 30 critical paths, headless.

Figures: the frame time while the run streams (our `draw` plus Textual's layout and
render of that frame; target p99 under one frame budget, 66 ms, at 15 frames/s), the
time from the last event to the frame that shows the final state (target < 250 ms),
and the wall time of the whole run in the app against the same suite under plain
pytest in the same run (the UI must keep up with the stream).

The probes live here, in a subclass, not in the app: `fold` and `draw` are the app's
own seams (every event passes through `fold`, every frame through `draw`).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, header, row

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.events import Event
from mcp_dashboard.launch import Launcher
from mcp_dashboard.options import parse
from mcp_dashboard.state import SessionsLeft

TESTS = 5_000
PER_FILE = 500
PATHS = 30
SIZE = (160, 48)
FRAME_BUDGET_MS = 1000 / 15


def generate(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    critical_path(name): path\n")
    for f in range(TESTS // PER_FILE):
        lines = ["import pytest", ""]
        for t in range(PER_FILE):
            lines += [
                f"@pytest.mark.critical_path('path_{(f * PER_FILE + t) % PATHS:02d}')",
                f"def test_{t}():",
                "    assert True",
                "",
            ]
        (root / f"test_gen_{f}.py").write_text("\n".join(lines))


class TimedApp(DashboardApp):
    """The dashboard with stopwatches on its two seams and on the screen's frame update."""

    def __init__(self, launcher: Launcher) -> None:
        super().__init__(launcher)
        self.last_event_at: float | None = None
        self.final_drawn_at: float | None = None
        self.frames: list[float] = []  # seconds: draw + the screen update that follows
        self._drawn = 0.0

    def fold(self, event: Event | SessionsLeft) -> None:
        super().fold(event)
        self.last_event_at = time.monotonic()

    def draw(self, now: float | None = None) -> None:
        started = time.perf_counter()
        super().draw(now)
        self._drawn = time.perf_counter() - started
        if self.state.finished and self.final_drawn_at is None:
            self.final_drawn_at = time.monotonic()  # the header shows the verdict

    def on_mount(self) -> None:
        # Textual calls DashboardApp.on_mount itself (handlers run for each class in the MRO).
        screen = self.screen
        update = screen._on_timer_update

        def timed_update(*args: Any) -> None:
            started = time.perf_counter()
            update(*args)
            if self.state.active or (self.state.finished and self.final_drawn_at is None):
                self.frames.append(self._drawn + time.perf_counter() - started)
                self._drawn = 0.0

        screen._on_timer_update = timed_update  # type: ignore[method-assign]  # to time it


async def in_app(root: Path) -> tuple[float, float, list[float]]:
    options = parse([".", "--history", str(root / "history.sqlite3")])
    with Launcher(options, cwd=root, state_dir=root / "state") as launcher:
        app = TimedApp(launcher)
        start = time.monotonic()
        async with app.run_test(size=SIZE):
            # The app has no event for "run over": a 10 ms poll, which costs it nothing.
            # Not pilot.pause: it posts a callback to every widget on the screen each
            # time, a cost of the probe that was counted as the app's.
            while app.final_drawn_at is None or app.running:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            assert app.state.counts.passed == TESTS, app.state.counts
            assert len(app.state.paths) == PATHS
            assert app.last_event_at is not None
            return app.final_drawn_at - app.last_event_at, app.final_drawn_at - start, app.frames


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root)
        start = time.monotonic()
        subprocess.run(
            [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
            cwd=root,
            check=True,
            capture_output=True,
        )
        plain = time.monotonic() - start
        latency, wall, frames = asyncio.run(in_app(root))
    p99 = percentile(frames, 0.99) * 1e3
    p50 = statistics.median(frames) * 1e3
    row(
        f"frame time p99, {PATHS} panes, 5,000 tests ({len(frames)} frames)",
        f"{p99:.1f} ms",
        f"< {FRAME_BUDGET_MS:.0f} ms",
        f"p50 {p50:.1f} ms",
        f"{p99 / FRAME_BUDGET_MS:.2f}x budget",
    )
    row("last event to final screen, 5,000 tests", f"{latency * 1e3:.0f} ms", "< 250 ms", "-", "-")
    row(
        "5,000-test run in the app (wall)",
        f"{wall:.2f} s",
        "keeps up",
        f"plain pytest {plain:.2f} s",
        f"{wall / plain:.2f}x",
    )


if __name__ == "__main__":
    header()
    main()
