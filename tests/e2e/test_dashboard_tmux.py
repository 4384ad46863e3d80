"""End to end: `mcp-dashboard` in a real terminal (tmux), on our realistic suite and on a
project shaped like a third-party one (30 modules, classes, parameters, no markers, failures
in the last module), at the sizes people use."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.dashboard.suites import count_tests, many_modules
from tests.toolkit import until_sync

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
DASHBOARD = Path(sys.executable).parent / "mcp-dashboard"


def tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], check=True, capture_output=True, text=True, timeout=10
    ).stdout


class Terminal:
    """A tmux session running one command; `screen()` is what it shows right now."""

    def __init__(self, session: str, marker: Path) -> None:
        self.session = session
        self.marker = marker

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session)

    def lines(self) -> list[str]:
        return self.screen().splitlines()

    def press(self, *keys: str) -> None:
        tmux("send-keys", "-t", self.session, *keys)

    def shows(self, check: Callable[[str], bool], what: str) -> str:
        until_sync(lambda: check(self.screen()), what)
        return self.screen()

    def exit_status(self) -> str:
        until_sync(self.marker.exists, "the dashboard to exit")
        return self.marker.read_text().strip()


@contextmanager
def terminal(tmp_path: Path, cwd: Path, *args: str, size: tuple[int, int]) -> Iterator[Terminal]:
    assert shutil.which("tmux"), "tmux is required: `make test` installs it"
    session = f"dash-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / f"exit-status-{session}"
    words = " ".join(shlex.quote(a) for a in [str(DASHBOARD), *args])
    command = (
        # COLUMNS/LINES from the outer process would override the real terminal's size.
        f"cd {shlex.quote(str(cwd))} && env -u COLUMNS -u LINES TERM=xterm-256color "
        f"COLORTERM=truecolor {words} --history {tmp_path / 'history.sqlite3'}; "
        f"echo $? > {marker}; sleep 30"
    )
    width, height = size
    tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command)
    try:
        yield Terminal(session, marker)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_our_suite_in_a_real_terminal(tmp_path: Path) -> None:
    with terminal(tmp_path, ROOT, SUITE, size=(160, 48)) as term:
        seen = term.shows(lambda s: "PASSED " in s or "FAILED " in s, "the run to finish")
        header = " ".join(term.lines()[0].split())
        assert re.match(r"PASSED 11 passed in \d+\.\d\ds ━+ 11/11$", header), seen
        for path in PATHS:
            assert f"✓ {path}  " in seen, f"pane {path} missing or not passed:\n{seen}"
        assert "f Rerun failed" in seen and "q Quit" in seen  # the footer lists the keys
        term.shows(lambda s: " of " in s and "clients" in s, "the live tables")
        assert not re.search(r"mcp_[0-9a-f]{16}_", term.screen()), "an API key is on screen"

        term.press("?")
        term.shows(lambda s: "watch-mode habits" in s, "the help screen")
        term.press("Escape")
        term.shows(lambda s: "watch-mode habits" not in s, "the help screen to close")
        term.press("q")
        assert term.exit_status() == "0"


def test_a_third_party_project_at_80x24_shows_its_failures_first(tmp_path: Path) -> None:
    project = many_modules(tmp_path / "project")
    with terminal(tmp_path, project, size=(80, 24)) as term:
        seen = term.shows(
            lambda s: "FAILED " in s and "✗ TestBroken" in s, "the run to finish, drawn"
        )
        lines = term.lines()
        passed = count_tests() - 3
        assert re.match(
            rf"FAILED 3 failed, {passed} passed in \d+\.\d\ds {passed + 3}/{passed + 3}$",
            " ".join(lines[0].split()),
        ), seen
        # The failing module is the first pane; its three failures are its first lines.
        assert "✗ test_module_29.py  9/9  ✗3 ✓6" in lines[2], seen
        assert "✗ TestBroken::test_fails_on_purpose" in lines[3], seen
        assert "✗ TestBroken::test_fails_with_a_parameter[a]" in lines[4], seen
        assert "✓ test_module_00.py  ✓6  " in seen  # passed modules, folded, without `tests/`
        assert "No service database in this run" in lines[-2], seen
        assert "Database file not found" not in seen

        term.shows(  # the focus is on the first failure, named in full under the panes
            lambda s: "::TestBroken::test_fails_on_purpose" in s.splitlines()[-3], "the focus"
        )
        term.press("n")  # to the second failure, then open it
        term.shows(
            lambda s: "test_fails_with_a_parameter[a]" in s.splitlines()[-3], "the second failure"
        )
        term.press("Enter")
        detail = term.shows(lambda s: "Traceback" in s, "the failure's detail")
        assert "module: tests/test_module_29.py:" in detail
        term.press("y")  # under tmux, into tmux's paste buffer (OSC 52 may not get through)
        term.shows(lambda s: "tmux's paste buffer" in s, "where the copy went")
        assert "AssertionError: assert 'a' == 'c'" in tmux("show-buffer")
        assert (
            "AssertionError: assert 'a' == 'c'"
            in (project / ".mcp-dashboard" / "copied.txt").read_text()
        )
        term.press("Escape")
        term.shows(lambda s: "Traceback" not in s, "back to the panes")
        term.press("q")
        assert term.exit_status() == "1"  # the last run failed


def test_a_third_party_project_at_200x50_and_120x40(tmp_path: Path) -> None:
    project = many_modules(tmp_path / "project")
    for size in ((200, 50), (120, 40)):
        with terminal(tmp_path, project, size=size) as term:
            seen = term.shows(lambda s: "FAILED " in s and "✗ TestBroken" in s, f"the run {size}")
            lines = term.lines()
            assert "✗ test_module_29.py  9/9  ✗3 ✓6" in lines[2], seen
            assert "✗ TestBroken::test_fails_on_purpose" in seen
            # Folded groups fill the width in columns.
            folded = [line for line in lines if line.count("  ✓6  ") >= 2]  # in columns
            assert folded, seen
            term.press("q")
            assert term.exit_status() == "1"
