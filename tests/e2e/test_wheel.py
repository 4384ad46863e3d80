"""The package as users get it: a wheel built from the sources, installed into a fresh venv
outside the repository, run from there. An editable install hid a missing stylesheet once
(issue 13.1: `pip install .` then `mcp-dashboard` crashed at start).

Fast enough for every `make test`: the venv is made without pip (this venv's pip installs
into it), no bytecode is compiled, and pip's cache and the configured indexes serve the
dependencies, as `make install` uses them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.helpers import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "mcp_service", "mcp_dashboard")
TIMEOUT = 600

HEADLESS_APP = """\
import asyncio, sys
from pathlib import Path

import mcp_dashboard
from mcp_dashboard.app import DashboardApp
from mcp_dashboard.launch import Launcher
from mcp_dashboard.monitor import MonitorApp
from mcp_dashboard.options import parse

async def main() -> None:
    suite, work = Path(sys.argv[1]), Path(sys.argv[2])
    options = parse(["outcomes", "--history", str(work / "history.sqlite3")])
    with Launcher(options, cwd=suite, state_dir=work / "state") as launcher:
        app = DashboardApp(launcher)
        async with app.run_test(size=(120, 40)) as pilot:
            while not (app.runs_finished and not app.running):
                await pilot.pause(0.05)
            app.draw()
            await pilot.pause()
            print("run", app.state.status, app.state.counts.done)
    monitor = MonitorApp(work / "no-service.db")
    async with monitor.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        print("monitor", monitor.source)
    print("from", mcp_dashboard.__file__)

asyncio.run(main())
"""


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv with the wheel built from this checkout installed in it, and the
    environment to run it in (nothing of this repository or its venv on any path)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(item, source / name)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("PYTEST_", "MCP_"))
    }
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        work,
        env,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (work / "dist").glob("mcp_service_dashboard-*.whl")
    venv = work / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work, env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    done = run([*pip, "--no-compile", str(wheel)], work, env)
    assert done.returncode == 0, done.stderr[-3000:]
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield venv, env


def test_the_wheel_carries_its_package_data(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    probe = (
        "import importlib.resources as r, mcp_dashboard, mcp_service\n"
        "print(mcp_dashboard.__file__)\n"
        "print((r.files('mcp_dashboard') / 'dashboard.tcss').is_file())\n"
        "print((r.files('mcp_service') / 'migrations' / 'script.py.mako').is_file())\n"
    )
    found = run([str(venv / "bin" / "python"), "-c", probe], venv.parent, env)
    assert found.returncode == 0, found.stderr
    where, stylesheet, migrations = found.stdout.splitlines()
    assert Path(where).is_relative_to(venv)  # not this checkout
    assert (stylesheet, migrations) == ("True", "True")


def test_the_installed_commands_run(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    version = run([str(venv / "bin" / "mcp-dashboard"), "--version"], venv.parent, env)
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(
        r"mcp-dashboard 0\.1\.0 \(pytest \S+, textual \S+, Python \S+\)\n", version.stdout
    )
    suite = venv.parent / "suite"
    shutil.copytree(FIXTURES / "outcomes", suite / "outcomes")
    shutil.copy(FIXTURES / "pytest.ini", suite)
    shutil.copy(FIXTURES / "conftest.py", suite)
    ci = run([str(venv / "bin" / "mcp-dashboard"), "--ci", "outcomes"], suite, env)
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert ci.stdout.splitlines()[0] == ".FsxXE..".ljust(73) + "[100%]"
    assert re.fullmatch(
        r"1 failed, 3 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 warning, 1 error in \d+\.\d\ds",
        ci.stdout.splitlines()[-1],
    )
    service = run([str(venv / "bin" / "mcp-service"), "--help"], suite, env)
    assert service.returncode == 0 and "register-client" in service.stdout


def test_the_installed_textual_app_runs_headless(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    suite = venv.parent / "app-suite"
    shutil.copytree(FIXTURES / "outcomes", suite / "outcomes")
    shutil.copy(FIXTURES / "pytest.ini", suite)
    shutil.copy(FIXTURES / "conftest.py", suite)
    script = venv.parent / "headless_app.py"
    script.write_text(HEADLESS_APP)
    work = venv.parent / "app-work"
    work.mkdir()
    ran = run([str(venv / "bin" / "python"), str(script), str(suite), str(work)], suite, env)
    assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
    lines = ran.stdout.splitlines()
    assert lines[:2] == ["run failed 8", f"monitor {work / 'no-service.db'}"]
    assert Path(lines[2].removeprefix("from ")).is_relative_to(venv)
