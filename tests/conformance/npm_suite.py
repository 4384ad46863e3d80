"""The official MCP conformance suite (@modelcontextprotocol/conformance), installed once.

It is an npm package that needs Node 22 (it imports `fs.globSync`). Both are
installed with npm into a cache directory, build/conformance by default
(MCP_CONFORMANCE_CACHE to move it), and found there on later runs: npm is asked
nothing then. When the `node` on PATH is already 22 or newer, Node is not
installed. A lock keeps two test processes from installing at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "@modelcontextprotocol/conformance"
VERSION = "0.1.16"  # pinned: scenarios and their checks change between releases
NODE = "node@22"
CACHE_ENV = "MCP_CONFORMANCE_CACHE"


class SuiteUnavailable(Exception):
    """npm (or the registry) could not provide the suite; the message says what to do."""


@dataclass(frozen=True)
class Suite:
    bin_dir: Path  # node_modules/.bin: `conformance`, and `node` when Node 22 was installed

    @property
    def env(self) -> dict[str, str]:
        """The environment to run `conformance` in: the cached Node first on PATH."""
        return {**os.environ, "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    @property
    def command(self) -> list[str]:
        return [str(self.bin_dir / "conformance")]


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or ROOT / "build" / "conformance")


def node_major(node: str | None) -> int:
    if node is None:
        return 0
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        return 0


def installed_version(prefix: Path) -> str | None:
    manifest = prefix / "node_modules" / PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def locate() -> Suite:
    """The cached suite, installed first if missing or another version."""
    prefix = cache_dir()
    prefix.mkdir(parents=True, exist_ok=True)
    bin_dir = prefix / "node_modules" / ".bin"
    with (prefix / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        system_node = shutil.which("node")
        wanted = [f"{PACKAGE}@{VERSION}"]
        if node_major(str(bin_dir / "node")) < 22 and node_major(system_node) < 22:
            wanted.append(NODE)
        if installed_version(prefix) != VERSION or NODE in wanted:
            _npm_install(prefix, wanted)
    if node_major(str(bin_dir / "node")) < 22 and node_major(shutil.which("node")) < 22:
        raise SuiteUnavailable(f"no Node 22 after installing {NODE} into {prefix}")
    return Suite(bin_dir)


def _npm_install(prefix: Path, packages: list[str]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SuiteUnavailable(
            f"npm is not on PATH: the MCP conformance suite ({PACKAGE}) is an npm package. "
            "Install Node.js 20+ with npm, or run pytest with -m 'not conformance'."
        )
    # Its own package.json: npm never walks up into a project of its own.
    manifest = prefix / "package.json"
    if not manifest.exists():
        manifest.write_text('{"name": "mcp-conformance-cache", "private": true}\n')
    command = [npm, "install", "--no-fund", "--no-audit", "--prefix", str(prefix), *packages]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise SuiteUnavailable(
            f"`{' '.join(command)}` did not finish in 600 s: is the npm registry reachable?"
        ) from None
    if done.returncode != 0:
        # npm names the cause (code, errno, the URL it fetched) first, its stack after.
        head = "\n".join((done.stderr or done.stdout).strip().splitlines()[:8])
        raise SuiteUnavailable(
            f"`{' '.join(command)}` failed (exit {done.returncode}); is the npm registry "
            f"reachable (npm config get registry)?\n{head}"
        )
