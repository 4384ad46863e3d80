"""Looking for API keys in artifacts: whole keys, key-shaped text, any 16 characters of a secret.

A key is `mcp_<16 hex key id>_<43 char secret>`. The key id is the public
lookup half (it is stored, like a user name); the secret is what must never be
written down. A 16-character window of a secret carries 96 random bits, so
finding one anywhere is a leak, not a coincidence, and it also catches a key
cut short by a table column or split across an SVG's text runs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

KEY_SHAPE = re.compile(rb"mcp_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")
WINDOW = 16
_RUN = re.compile(rb"[A-Za-z0-9_-]{%d,}" % WINDOW)
_TAG = re.compile(rb"<[^>]*>")


@dataclass(frozen=True)
class Finding:
    path: Path
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


class KeySweep:
    """The keys to look for, and the artifacts to look in."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = sorted(set(keys))
        secrets = [key.split("_", 2)[2] for key in self.keys]
        self._windows = {
            secret[i : i + WINDOW].encode()
            for secret in secrets
            for i in range(len(secret) - WINDOW + 1)
        }

    def scan(self, path: Path, data: bytes) -> list[Finding]:
        found = [Finding(path, what) for what in self._leaks(data)]
        if path.suffix == ".svg":  # also the text a person sees: tags removed, entities decoded
            shown = html.unescape(_TAG.sub(b"", data).decode("utf-8", "replace")).encode()
            found += [
                Finding(path, f"{what} (in the rendered text)") for what in self._leaks(shown)
            ]
        return found

    def _leaks(self, data: bytes) -> list[str]:
        leaks = []
        if match := KEY_SHAPE.search(data):
            leaks.append(f"key-shaped string at byte {match.start()}")
        for run in _RUN.finditer(data):
            text = run.group()
            if any(text[i : i + WINDOW] in self._windows for i in range(len(text) - WINDOW + 1)):
                leaks.append(f"part of a secret at byte {run.start()}")
                break
        return leaks

    def sweep(self, paths: Iterable[Path]) -> tuple[list[Path], list[Finding]]:
        """Every file under `paths` (files or directories): the files read, and what was found."""
        files = sorted(
            {f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()}
        )
        findings = [finding for f in files for finding in self.scan(f, f.read_bytes())]
        return files, findings


def captured_keys(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").split() if path.exists() else []
