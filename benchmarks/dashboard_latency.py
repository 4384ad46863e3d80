"""The dashboard on a generated suite of 5,000 trivial tests, headless.

Figures: time from the last event to the frame that shows the final state
(target < 250 ms), and wall time of the whole run in the app against the same
suite under plain pytest in the same run (the UI must keep up with the stream).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, header, row

from mcp_dashboard.app import DashboardApp
from mcp_dashboard.cli import build_parser
from mcp_dashboard.launch import Launcher

TESTS = 5_000
PER_FILE = 500


def generate(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    critical_path(name): path\n")
    paths = ("registration", "permissions", "sessions", "tools", "lifecycle", "end_to_end")
    for f in range(TESTS // PER_FILE):
        lines = ["import pytest", ""]
        for t in range(PER_FILE):
            lines += [
                f"@pytest.mark.critical_path({paths[(f + t) % len(paths)]!r})",
                f"def test_{t}():",
                "    assert True",
                "",
            ]
        (root / f"test_gen_{f}.py").write_text("\n".join(lines))


async def in_app(root: Path) -> tuple[float, float]:
    args = build_parser().parse_args([".", "--history", str(root / "history.sqlite3")])
    with Launcher(args, cwd=root, state_dir=root / "state") as launcher:
        app = DashboardApp(launcher)
        start = time.monotonic()
        async with app.run_test(size=(160, 48)) as pilot:
            while app.final_drawn_at is None:
                await pilot.pause(0.01)
            assert app.state.counts.passed == TESTS, app.state.counts
            assert app.last_event_at is not None
            return app.final_drawn_at - app.last_event_at, app.final_drawn_at - start


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
        latency, wall = asyncio.run(in_app(root))
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
