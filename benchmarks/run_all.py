"""`make bench`: every figure in one table. Printed, never asserted (the machine is noisy)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import key_check
import suite_wall_time
import table_refresh
from _common import header


def main() -> None:
    header()
    suite_wall_time.main()
    asyncio.run(key_check.measure())
    table_refresh.main()


if __name__ == "__main__":
    main()
