"""The original design's entry point, kept as a thin wrapper over `mcp-dashboard --ci`.

    python tests/unified_test_runner.py --category integration \
        --pattern mcp_service_realistic --verbose

Every option of `mcp-dashboard` works here; output and exit status are the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mcp_dashboard.cli import main

    sys.exit(main(["--ci", *sys.argv[1:]]))
