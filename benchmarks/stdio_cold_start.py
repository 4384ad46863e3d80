"""stdio cold start: from spawning `mcp-service serve` to the first tool result.

What an MCP client (Claude, Cursor, VS Code) waits for when it launches the
server: process start, imports, database connect, the MCP_API_KEY check (a cold
PBKDF2 verify), the session row, the initialize handshake and one `echo` call,
measured by the official SDK client. Target: under 1 s. Baselines in the same
run: a bare `MCPServer` echo server started the same way, and the bare
interpreter plus the imports the server needs. Printed, never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, ROOT, header, row, wall

THROUGHPUT_SCRIPT = str(Path(__file__).resolve().parent / "protocol_throughput.py")


IMPORT_TIMER = (
    "import time; t = time.perf_counter(); import mcp_service.cli, mcp_service.protocol; "
    "print(time.perf_counter() - t)"
)


def import_time() -> float:
    """Seconds the serve imports take in a fresh interpreter, measured inside it."""
    done = subprocess.run(
        [PYTHON, "-c", IMPORT_TIMER], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


async def first_result(command: list[str], env: dict[str, str], mode: str) -> float:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(ROOT))
    start = time.perf_counter()
    async with Client(params, mode=mode) as client:
        result = await client.call_tool("echo", {"message": "cold"})
        elapsed = time.perf_counter() - start
    assert not result.is_error, result
    return elapsed


async def measure(runs: int = 7) -> None:
    from mcp_service import MCPService
    from mcp_service.config import Settings

    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='mcp-cold-')) / 'cold.db'}"
    service = MCPService(Settings(database_url=url))
    await service.initialize()
    key = (await service.register_client("cold start benchmark", "basic")).api_key
    await service.shutdown()

    served = [PYTHON, "-m", "mcp_service.cli", "serve"]
    bare = [PYTHON, THROUGHPUT_SCRIPT, "--bare", "stdio"]
    for mode in ("legacy", "auto"):
        ours, base = [], []
        for _ in range(runs):  # interleaved, so drift on a shared machine hits both alike
            base.append(await first_result(bare, {}, mode))
            ours.append(
                await first_result(served, {"MCP_DATABASE_URL": url, "MCP_API_KEY": key}, mode)
            )
        ours_p50, base_p50 = statistics.median(ours), statistics.median(base)
        row(
            f"stdio cold start to first result, {mode} (p50 of {runs}, max {max(ours):.2f} s)",
            f"{ours_p50:.2f} s",
            "< 1 s",
            f"bare MCPServer {base_p50:.2f} s",
            f"{ours_p50 / base_p50:.2f}x",
        )

    interpreter = statistics.median(wall([PYTHON, "-c", "pass"]) for _ in range(runs))
    # Timed inside the child: a wall clock around `python -c "import …"` also counts the
    # ~0.25 s the interpreter spends tearing those modules down at exit, which serve
    # never pays before its first result.
    imports = interpreter + statistics.median(import_time() for _ in range(runs))
    row(
        "of which: interpreter + serve imports",
        f"{imports:.2f} s",
        "-",
        f"bare interpreter {interpreter:.3f} s",
        f"{imports / interpreter:.0f}x",
    )


if __name__ == "__main__":
    header()
    asyncio.run(measure())
