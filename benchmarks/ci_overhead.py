"""What `mcp-dashboard --ci` costs over plain pytest, measured in the same run.

Two suites: the realistic integration suite (`tests/integration`, the default of
`--ci`), and a generated suite of 5,000 trivial tests, where the per-test cost of
the event stream (four JSON lines per test, parsed, reduced and printed by the
runner) is all there is to see. Plain and `--ci` runs alternate, so drift on the
machine hits both; each figure is the median of a few runs. Targets: at most
1.10x on the realistic suite, at most 1.25x on the 5,000 tests. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, ROOT, header, row

DASHBOARD = [PYTHON, "-m", "mcp_dashboard.cli", "--ci"]
GENERATED_FILES = 50
TESTS_PER_FILE = 100


def generate_suite(root: Path) -> Path:
    """5,000 trivial tests in 50 files, with its own pytest.ini so nothing else leaks in."""
    (root / "pytest.ini").write_text("[pytest]\n")
    suite = root / "generated"
    suite.mkdir()
    body = "".join(f"def test_{n}():\n    pass\n\n\n" for n in range(TESTS_PER_FILE))
    for index in range(GENERATED_FILES):
        (suite / f"test_generated_{index:02d}.py").write_text(body)
    return suite


FAILURES: list[str] = []


def wall(command: list[str], cwd: Path) -> float:
    """Wall seconds of one run. A failing suite is timed all the same, and reported below."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-1:]
        FAILURES.append(f"exit {result.returncode}: {' '.join(command[-3:])}: {tail}")
    return elapsed


def compare(plain: list[str], dashboard: list[str], runs: int, cwd: Path) -> tuple[float, float]:
    """Median wall seconds of each command, alternating plain and --ci."""
    plain_times, dashboard_times = [], []
    wall(plain, cwd=cwd)  # warm the file cache and the bytecode
    for _ in range(runs):
        plain_times.append(wall(plain, cwd=cwd))
        dashboard_times.append(wall(dashboard, cwd=cwd))
    return statistics.median(plain_times), statistics.median(dashboard_times)


REALISTIC = "tests/integration/test_mcp_service_realistic.py"


def main(runs: int = 3) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        history = ["--history", str(work / "history.sqlite3")]

        plain, ci = compare(
            [PYTHON, "-m", "pytest", "-q", REALISTIC],
            [*DASHBOARD, REALISTIC, *history],
            runs,
            ROOT,
        )
        row(
            "`--ci` overhead, realistic suite",
            f"{ci:.2f} s",
            "<= 1.10x",
            f"pytest {plain:.2f} s",
            f"{ci / plain:.2f}x",
        )

        suite = generate_suite(work)
        plain, ci = compare(
            [PYTHON, "-m", "pytest", "-q", str(suite)],
            [*DASHBOARD, str(suite), *history],
            runs,
            work,
        )
        row(
            "`--ci` overhead, 5,000 trivial tests",
            f"{ci:.2f} s",
            "<= 1.25x",
            f"pytest {plain:.2f} s",
            f"{ci / plain:.2f}x",
        )
    for failure in FAILURES:
        print(f"note: a timed run failed ({failure})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    header()
    main(parser.parse_args().runs)
