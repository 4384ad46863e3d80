"""`make bench`: every figure in one table. Printed, never asserted (the machine is noisy).

Each script runs in its own process (a fresh interpreter per figure, as a user
would run it) and prints table rows; this stitches them under one header.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "suite_wall_time.py",
    "ci_overhead.py",
    "dashboard_latency.py",
    "stream_latency.py",
    "trace_cost.py",
    "stream_scale.py",
    "table_refresh.py",
    "feed_latency.py",
    "key_check.py",
    "pipeline_throughput.py",
    "protocol_throughput.py",
    "attack_latency.py",
    "stdio_cold_start.py",
    "scale_out.py",
)


def main() -> int:
    print("| figure | measured | target | baseline (same run) | ratio |")
    print("|---|---|---|---|---|", flush=True)
    failed = []
    for script in SCRIPTS:
        if not (HERE / script).exists():
            continue
        done = subprocess.run(
            [sys.executable, str(HERE / script)], capture_output=True, text=True, check=False
        )
        rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
        for line in rows:
            if not line.startswith(("| figure ", "|---")):
                print(line, flush=True)
        if done.returncode != 0:
            failed.append(script)
            print(f"{script} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
