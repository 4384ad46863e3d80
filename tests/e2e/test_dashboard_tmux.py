"""End to end: `mcp-dashboard` in a real terminal (tmux) on the realistic suite."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = "tests/integration/test_mcp_service_realistic.py"
PATHS = (
    "registration",
    "permissions",
    "sessions",
    "tools",
    "lifecycle",
    "end_to_end",
    "resilience",
)


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    assert shutil.which("tmux"), "tmux is required: `make test` installs it"
    session = f"dash-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "exit-status"
    dashboard = Path(sys.executable).parent / "mcp-dashboard"
    env = " ".join(
        f"{k}={v}" for k, v in {"TERM": "xterm-256color", "COLORTERM": "truecolor"}.items()
    )
    command = (
        # COLUMNS/LINES from the outer process would override the real terminal's size.
        f"cd {ROOT} && env -u COLUMNS -u LINES {env} {dashboard} {SUITE} "
        f"--history {tmp_path / 'history.sqlite3'}; "
        f"echo $? > {marker}; sleep 30"
    )
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "48", command)
    try:
        yield session, marker
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_dashboard_in_a_real_terminal(terminal: tuple[str, Path]) -> None:
    session, marker = terminal

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session)

    wait_for(lambda: "PASSED" in screen() or "FAILED" in screen(), 120, "the run to finish")
    seen = screen()
    assert "PASSED" in seen, seen
    assert "✓ 11 passed" in seen, seen
    for path in PATHS:
        assert f"✓ {path}" in seen, f"pane {path} missing or not passed:\n{seen}"
    assert "Rerun failed" in seen and "Quit" in seen  # the footer lists the keys
    wait_for(lambda: " of " in screen() and "clients" in screen(), 10, "the live tables")
    assert not re.search(r"mcp_[0-9a-f]{16}_", screen()), "an API key is on screen"

    tmux("send-keys", "-t", session, "?")
    wait_for(lambda: "watch-mode habits" in screen(), 10, "the help screen")
    tmux("send-keys", "-t", session, "Escape")
    wait_for(lambda: "watch-mode habits" not in screen(), 10, "the help screen to close")

    tmux("send-keys", "-t", session, "q")
    wait_for(marker.exists, 15, "the dashboard to exit")
    assert marker.read_text().strip() == "0"
