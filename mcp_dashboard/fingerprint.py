"""A fingerprint of the code a run tests, so the history can tell flaky from changed.

A test that passed and then failed is flaky only if nothing changed in between;
if someone broke it on purpose (or fixed it), the code differs. In a git
checkout the fingerprint is HEAD plus the size and modification time of every
file `git status` lists as changed or new; elsewhere, the size and modification
time of the Python files under the directory (at most `MAX_FILES`). Cheap (a few
milliseconds here), and '' when it cannot be known, which makes every such run
count as the same code (the history's behaviour before fingerprints).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

GIT_TIMEOUT = 5.0
MAX_FILES = 20_000
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", "__pycache__", ".mcp-dashboard", ".tox", ".nox"}
)


def code_fingerprint(root: Path) -> str:
    """The fingerprint of the code under `root` as it is now ('' if it cannot be read)."""
    digest = hashlib.sha256()
    try:
        if not _git(root, digest):
            _files(root, digest)
    except OSError:
        return ""
    return digest.hexdigest()[:16]


def _git(root: Path, digest: hashlib._Hash) -> bool:
    git = shutil.which("git")
    if git is None:
        return False
    try:
        head = _run([git, "-C", str(root), "rev-parse", "HEAD"])
        top = _run([git, "-C", str(root), "rev-parse", "--show-toplevel"]).strip()
        status = _run([git, "-C", str(root), "status", "--porcelain=v1", "-z"])
    except (OSError, subprocess.SubprocessError):
        return False
    digest.update(head.encode())
    for entry in sorted(filter(None, status.split("\0"))):
        path = Path(top, entry[3:])
        digest.update(entry.encode("utf-8", "surrogateescape"))
        _stat(path, digest)
    return True


def _files(root: Path, digest: hashlib._Hash) -> None:
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith(".py"):
                path = Path(folder, name)
                digest.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape"))
                _stat(path, digest)
                seen += 1
                if seen >= MAX_FILES:
                    return


def _stat(path: Path, digest: hashlib._Hash) -> None:
    try:
        stat = path.stat()
    except OSError:
        digest.update(b"-")  # deleted
        return
    digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())


def _run(command: list[str]) -> str:
    done = subprocess.run(  # noqa: S603 - git, with fixed arguments
        command, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=True
    )
    return done.stdout
