"""The event stream at scale: generated suites of trivial tests, where its cost is all there is.

Per size (20,000 tests by default; `--sizes 20000 100000` for the large one), in
the same run and the same venv: plain pytest, pytest with the plugin writing the
stream, and `mcp-dashboard --ci`, run in turn (plain, plugin, --ci, then again)
so drift on the machine hits all three; each time is the median of the runs, each
ratio the median of the rounds' own ratios to plain pytest, with their spread.
Also the stream's bytes per passing test, the dashboard process's peak RSS, and
the Textual dashboard itself, headless (`App.run_test()`, in this process, as
dashboard_latency.py runs it): its wall time from start to the screen that shows
the final verdict, and the time from the last event folded to that screen.
Targets (issue 15): plugin <= 1.03x plain pytest at 20,000 tests, `--ci` <= 1.10x,
the TUI <= 1.05x, <= 300 bytes per passing test, peak RSS reported and growing
linearly. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, header, row
from dashboard_latency import SIZE, TimedApp

from mcp_dashboard.launch import Launcher
from mcp_dashboard.options import parse

TESTS_PER_FILE = 200
# Run by the dashboard's own interpreter at exit: its peak RSS (KiB on Linux), on stderr.
PEAK_RSS = (
    "import atexit, resource, runpy, sys;"
    "atexit.register(lambda: print('peak-rss-kib', "
    "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr));"
    "sys.argv = ['mcp-dashboard', *sys.argv[1:]];"
    "runpy.run_module('mcp_dashboard.cli', run_name='__main__')"
)


def generate_suite(root: Path, tests: int) -> Path:
    """`tests` trivial tests, 200 per file, with a pytest.ini of their own."""
    (root / "pytest.ini").write_text("[pytest]\n")
    suite = root / "generated"
    suite.mkdir()
    for index in range(-(-tests // TESTS_PER_FILE)):
        count = min(TESTS_PER_FILE, tests - index * TESTS_PER_FILE)
        body = "".join(f"def test_{n}():\n    pass\n\n\n" for n in range(count))
        (suite / f"test_generated_{index:03d}.py").write_text(body)
    return suite


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"exit {done.returncode}: {command}\n{done.stdout[-2000:]}{done.stderr}")
    return elapsed, done.stderr


async def in_tui(suite: Path, work: Path, tests: int) -> tuple[float, float]:
    """The dashboard's wall time and the time from its last event to the screen showing
    the verdict, in seconds; its history apart from `--ci`'s. The wall time ends when
    the run is over in the app: pytest exited (as the plain run's time ends at its
    exit: pytest spends a good part of a second after its summary line shutting down),
    the run recorded, its final screen drawn (seen within one 10 ms poll)."""
    history = work / "history-tui.sqlite3"
    options = parse([str(suite), "--history", str(history), "-p", "no:cacheprovider"])
    with Launcher(options, cwd=work, state_dir=work / "tui-state") as launcher:
        app = TimedApp(launcher)
        start = time.monotonic()
        async with app.run_test(size=SIZE):
            # The app has no event for "run over": a 10 ms poll, which costs it nothing.
            # Not pilot.pause: it posts a callback to every widget on the screen each
            # time, a cost of the probe that was counted as the app's.
            while app.final_drawn_at is None or app.running:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            ended = time.monotonic()
            assert app.state.counts.passed == tests, app.state.counts
            assert app.last_event_at is not None
            return ended - start, app.final_drawn_at - app.last_event_at


def measure(tests: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        suite = generate_suite(work, tests)
        events = work / "events.jsonl"
        quiet = ["-q", "-p", "no:cacheprovider", str(suite)]
        plain = [PYTHON, "-m", "pytest", *quiet]
        plugin = [*plain, "-p", "mcp_dashboard.pytest_plugin", f"--mcp-events={events}"]
        history = ["--history", str(work / "history.sqlite3")]
        dashboard = [PYTHON, "-c", PEAK_RSS, "--ci", str(suite), *history]
        times: dict[str, list[float]] = {"plain": [], "plugin": [], "ci": [], "tui": []}
        latencies: list[float] = []
        peaks: list[int] = []
        sizes: list[int] = []
        timed(plain, work)  # warm the file cache and the bytecode
        for _ in range(runs):
            times["plain"].append(timed(plain, work)[0])
            events.unlink(missing_ok=True)
            times["plugin"].append(timed(plugin, work)[0])
            sizes.append(events.stat().st_size)
            elapsed, stderr = timed(dashboard, work)
            times["ci"].append(elapsed)
            peaks += [int(line.split()[1]) for line in stderr.splitlines() if "peak-rss" in line]
            wall, latency = asyncio.run(in_tui(suite, work, tests))
            times["tui"].append(wall)
            latencies.append(latency)
        base = statistics.median(times["plain"])
        label = f"{tests:,} trivial tests, median of {runs}"
        for name, figure, target in (
            ("plugin", "pytest with the plugin", "<= 1.03x" if tests == 20_000 else "-"),
            ("ci", "`mcp-dashboard --ci`", "<= 1.10x" if tests == 20_000 else "-"),
            ("tui", "the dashboard (TUI, headless)", "<= 1.05x" if tests == 20_000 else "-"),
        ):
            value = statistics.median(times[name])
            # Each round's own ratio (its runs follow each other, so a slow spell of the
            # machine hits both): their median, and their spread, which is the noise.
            ratios = sorted(t / p for t, p in zip(times[name], times["plain"], strict=True))
            row(
                f"{figure}, {label}",
                f"{value:.2f} s",
                target,
                f"plain pytest {base:.2f} s",
                f"{statistics.median(ratios):.3f}x (rounds {ratios[0]:.3f}-{ratios[-1]:.3f}x)",
            )
        row(
            f"TUI last event to final screen, {label}",
            f"{statistics.median(latencies) * 1e3:.0f} ms",
            "< 250 ms",
            "-",
            f"max {max(latencies) * 1e3:.0f} ms",
        )
        per_test = statistics.median(sizes) / tests
        row(f"stream bytes per passing test, {label}", f"{per_test:.0f} B", "<= 300 B", "-", "-")
        peak = statistics.median(peaks) / 1024
        row(
            f"`mcp-dashboard --ci` peak RSS, {label}",
            f"{peak:.0f} MiB",
            "reported, linear",
            "-",
            f"{peak * 1024 / tests:.1f} KiB/test",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    args = parser.parse_args()
    header()
    for tests in args.sizes:
        measure(tests, args.runs)


if __name__ == "__main__":
    os.environ.pop("MCP_DASHBOARD_EVENTS", None)
    main()
