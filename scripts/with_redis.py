"""Run a command with a private redis-server for it: `python scripts/with_redis.py CMD ...`.

`make test` wraps its pytest runs in this, so the tests marked `redis` share one
server for the whole run (its URL in MCP_TEST_REDIS_URL), on a free port, keeping
nothing on disk, and stopped when the command ends whatever its outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.redis_server import REDIS_URL_ENV, private_redis


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: with_redis.py COMMAND [ARG ...]", file=sys.stderr)
        return 2
    with private_redis() as url:
        print(f"with_redis: a private redis-server at {url}", file=sys.stderr, flush=True)
        # The command is the Makefile's own (this script's user runs what they typed).
        return subprocess.call(argv, env={**os.environ, REDIS_URL_ENV: url})  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
