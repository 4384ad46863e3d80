"""`y`: put text where the user can paste it, and say truthfully where that is.

A terminal app cannot read the clipboard back, so it cannot know that an OSC 52
sequence arrived: tmux, for one, drops it unless `set-clipboard` is on. So
the text always lands in a file too, and each place is named only when it is
known to exist: tmux's paste buffer (`tmux load-buffer -w`, which also hands it
to the outer terminal's clipboard when tmux is allowed to), or OSC 52 sent to a
real terminal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COPY_FILE = "copied.txt"
TMUX_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Copied:
    places: tuple[str, ...]  # where the text went, in words
    file: Path

    def message(self, what: str) -> str:
        if len(self.places) > 1:
            return f"Copied {what} to {' and '.join(self.places[:-1])}; saved in {self.file}"
        return f"No clipboard reachable: {what} saved in {self.file}"


def copy_text(
    text: str,
    state_dir: Path,
    *,
    osc52_sent: bool,
    environ: Mapping[str, str] = os.environ,
) -> Copied:
    """Copy `text` to tmux's buffer under tmux, and to a file; name OSC 52 when `osc52_sent`
    (the app wrote it to a real terminal) and no tmux sits between it and the terminal."""
    state_dir.mkdir(parents=True, exist_ok=True)
    file = state_dir / COPY_FILE
    file.write_text(text, encoding="utf-8")
    places: list[str] = []
    tmux = shutil.which("tmux") if environ.get("TMUX") else None
    if tmux:
        try:
            subprocess.run(  # noqa: S603 - a fixed command; the text goes to stdin
                [tmux, "load-buffer", "-w", "-"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=TMUX_TIMEOUT,
                check=True,
            )
            places.append("tmux's paste buffer (prefix ])")
        except (OSError, subprocess.SubprocessError):
            pass
    elif osc52_sent:
        places.append("the terminal's clipboard (OSC 52)")
    places.append(str(file))
    return Copied(tuple(places), file)
