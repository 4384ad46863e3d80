"""Wall time of the realistic integration suite, against pytest's own start-up cost.

Target: under 10 s on this 2-core machine (the original design quoted 2-5 minutes).
The baseline is pytest collecting the same file without running it, measured in
the same run, so the ratio shows what the tests themselves cost.
"""

from __future__ import annotations

from _common import PYTHON, header, median_of, row, wall

SUITE = "tests/integration/test_mcp_service_realistic.py"


def main(runs: int = 3) -> None:
    base = median_of(runs, lambda: wall([PYTHON, "-m", "pytest", "-q", "--collect-only", SUITE]))
    suite = median_of(runs, lambda: wall([PYTHON, "-m", "pytest", "-q", SUITE]))
    row(
        "realistic suite wall time",
        f"{suite:.2f} s",
        "< 10 s",
        f"collect {base:.2f} s",
        f"{suite / base:.1f}x",
    )


if __name__ == "__main__":
    header()
    main()
