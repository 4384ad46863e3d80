"""`mcp-dashboard --watch --ci` as a real child process on a temporary project: its output
in a file (stdin not a terminal) or on a pseudo-terminal it has as its controlling
terminal (keys pressed as a person types them, Ctrl-C through the terminal's driver)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import termios
import threading
from pathlib import Path
from types import TracebackType

from tests.dashboard.helpers import child_env
from tests.toolkit import until_sync

WAITING = "watch: waiting for changes"
VERBOSE = re.compile(r"^\[\s*\d+/\d+\] (PASSED|FAILED|ERROR)\s+(\S+) \(")
CLEAR = "\x1b[2J\x1b[H"
# The child makes the terminal its controlling one (it starts a session of its own),
# then becomes the dashboard: the terminal's Ctrl-C reaches it as it would from a shell.
ON_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'mcp_dashboard.cli', *sys.argv[1:]])"
)


def runs(output: str) -> list[tuple[str, list[str]]]:
    """Each watch run: its header, then its `-v` test lines (outcome and node id)."""
    found: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        if line.startswith("watch: run "):
            found.append((line, []))
        elif found and (m := VERBOSE.match(line)):
            found[-1][1].append(" ".join(m.groups()))
    return found


class WatchChild:
    def __init__(
        self, root: Path, scratch: Path, *args: str, terminal: bool = False, **env: str
    ) -> None:
        self.root = root
        self.scratch = scratch
        # The venv's other pytest plugins are not this project's: each run starts faster.
        environ = child_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env)
        command = ["--watch", "--ci", "-v", *args]
        self.log = scratch / "watch.out"
        self.terminal: int | None = None  # the terminal's own end, kept to read its mode
        self._screen = bytearray()
        self._reader: threading.Thread | None = None
        if terminal:
            master, self.terminal = os.openpty()
            self._master = master
            self.child = subprocess.Popen(
                [sys.executable, "-c", ON_TERMINAL, *command],
                cwd=root,
                env=environ,
                stdin=self.terminal,
                stdout=self.terminal,
                stderr=self.terminal,
                start_new_session=True,
            )
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        else:
            with self.log.open("w") as out:
                self.child = subprocess.Popen(
                    [sys.executable, "-m", "mcp_dashboard.cli", *command],
                    cwd=root,
                    env=environ,
                    stdin=subprocess.DEVNULL,  # not a terminal: no keys are read
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:  # EIO: every process holding the terminal is gone
                return
            if not data:
                return
            self._screen += data

    def output(self) -> str:
        """Everything written so far, as lines (a terminal's \\r\\n made \\n, screen
        clears taken out)."""
        if self.terminal is None:
            return self.log.read_text()
        text = bytes(self._screen).decode(errors="replace")
        return text.replace("\r\n", "\n").replace(CLEAR, "")

    def after_run(self, n: int) -> None:
        until_sync(lambda: self.output().count(WAITING) == n, f"watch run {n} to end")

    def runs(self) -> list[tuple[str, list[str]]]:
        return runs(self.output())

    def save(self, name: str, text: str) -> None:
        """An editor's atomic save: one rename into the project, so one change batch
        however slowly this machine writes."""
        staging = self.scratch / "staging"
        staging.write_text(text)
        os.replace(staging, self.root / name)

    def press(self, keys: bytes) -> None:
        os.write(self._master, keys)

    def cook(self) -> None:
        """Put the terminal back in its usual mode, as a shell does when a job stops."""
        assert self.terminal is not None
        mode = termios.tcgetattr(self.terminal)
        mode[3] |= termios.ICANON | termios.ECHO
        termios.tcsetattr(self.terminal, termios.TCSANOW, mode)

    def cooked(self) -> bool:
        """The terminal is back in its usual mode: lines, echoed."""
        assert self.terminal is not None
        lflag = termios.tcgetattr(self.terminal)[3]
        return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)

    def __enter__(self) -> WatchChild:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        if self.terminal is not None:
            os.close(self.terminal)
            if self._reader is not None:
                self._reader.join(timeout=10)
            os.close(self._master)
