"""`mcp-dashboard --ci` end to end: real child processes, exact output, exit codes, history."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.dashboard.helpers import ROOT, child_env, fixture, run_cli

OUT = "outcomes/test_outcomes.py::"
UNMARKED = "outcomes/test_unmarked.py::"
H = "history/test_history.py::"


def finished_lines(stdout: str) -> list[str]:
    """The per-test lines, without their progress counter and duration."""
    pattern = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+\[([^\]]+)\] (\S+) \(\d+\.\d\ds\)$")
    return [" ".join(m.groups()) for line in stdout.splitlines() if (m := pattern.match(line))]


def table(stdout: str) -> dict[str, list[str]]:
    """The summary table: path → [tests, the six outcomes, not run]."""
    lines = stdout.split("summary by critical path", 1)[1].splitlines()[1:]
    assert lines[0].split()[:2] == ["critical", "path"]
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        rows[cells[0]] = cells[1:9]
        if cells[0] == "all":
            return rows
    raise AssertionError("no 'all' row")


def test_ci_run_prints_each_test_a_table_and_the_failures(workdir: Path) -> None:
    result = run_cli(
        "--ci",
        fixture("outcomes"),
        "--json-report",
        "r.json",
        "--junit-xml",
        "j.xml",
        cwd=workdir,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "collected 8 tests in 4 critical paths"
    assert finished_lines(out) == [
        f"PASSED registration {OUT}test_pass",
        f"FAILED registration {OUT}test_fail",
        f"SKIPPED sessions {OUT}test_skip",
        f"XFAIL sessions {OUT}test_xfail",
        f"XPASS sessions {OUT}test_xpass",
        f"ERROR tools {OUT}test_error_in_setup",
        f"PASSED outcomes/test_unmarked.py {UNMARKED}test_plain_one",
        f"PASSED outcomes/test_unmarked.py {UNMARKED}test_plain_two",
    ]
    assert "✓" not in out.split("summary by critical path")[0]  # steps only with --verbose
    assert table(out) == {
        "registration": ["2", "1", "1", "0", "0", "0", "0", "0"],
        "sessions": ["3", "0", "0", "0", "1", "1", "1", "0"],
        "tools": ["1", "0", "0", "1", "0", "0", "0", "0"],
        "outcomes/test_unmarked.py": ["2", "2", "0", "0", "0", "0", "0", "0"],
        "all": ["8", "3", "1", "1", "1", "1", "1", "0"],
    }
    failures = out.split(" failures ", 1)[1]
    assert f"FAILED [registration] {OUT}test_fail" in failures
    assert "E       AssertionError: arithmetic is broken" in failures
    assert "--- captured stdout ---\noutput before the failure" in failures
    assert f"ERROR [tools] {OUT}test_error_in_setup" in failures
    assert "E       RuntimeError: setup exploded" in failures
    assert re.search(
        r"=+ 1 failed, 3 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 error in \d+\.\d\ds =+\n"
        r"run failed: tests failed \(pytest exit status 1\)\n$",
        out,
    )
    assert json.loads((workdir / "r.json").read_text())["summary"]["total"] == 8
    suite = ET.parse(workdir / "j.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("8", "1", "1")

    # The run is in the history, with every result.
    with sqlite3.connect(workdir / ".mcp-dashboard" / "history.sqlite3") as db:
        runs = db.execute("SELECT paths, exit_status, status, ended > started FROM runs").fetchall()
        results = db.execute("SELECT nodeid, critical_path, outcome FROM results").fetchall()
    assert runs == [(json.dumps([fixture("outcomes")]), 1, "failed", 1)]
    assert sorted(results) == sorted(
        [
            (f"{OUT}test_pass", "registration", "passed"),
            (f"{OUT}test_fail", "registration", "failed"),
            (f"{OUT}test_skip", "sessions", "skipped"),
            (f"{OUT}test_xfail", "sessions", "xfailed"),
            (f"{OUT}test_xpass", "sessions", "xpassed"),
            (f"{OUT}test_error_in_setup", "tools", "error"),
            (f"{UNMARKED}test_plain_one", "outcomes/test_unmarked.py", "passed"),
            (f"{UNMARKED}test_plain_two", "outcomes/test_unmarked.py", "passed"),
        ]
    )


def test_verbose_prints_the_step_lines_as_they_come(workdir: Path) -> None:
    result = run_cli(
        "--ci", "--verbose", fixture("outcomes"), "-k", "test_pass or test_fail", cwd=workdir
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "collected 2 tests in 1 critical path, 6 deselected",
        "    [registration] test_pass: ✓ registered a client",
        "    [registration] test_pass: ✓ stored only its hash",
        lines[3],
        "    [registration] test_fail: ✓ about to fail",
        lines[5],
    ]
    assert finished_lines("\n".join(lines[:6])) == [
        f"PASSED registration {OUT}test_pass",
        f"FAILED registration {OUT}test_fail",
    ]


def test_exit_status_is_pytests(workdir: Path) -> None:
    passing = run_cli("--ci", fixture("outcomes"), "-m", "not critical_path", cwd=workdir)
    assert passing.returncode == 0, passing.stdout
    assert finished_lines(passing.stdout) == [
        f"PASSED outcomes/test_unmarked.py {UNMARKED}test_plain_one",
        f"PASSED outcomes/test_unmarked.py {UNMARKED}test_plain_two",
    ]
    assert passing.stdout.endswith("run passed: all tests passed (pytest exit status 0)\n")

    broken = run_cli("--ci", fixture("broken"), cwd=workdir)
    assert broken.returncode == 2
    assert "ERROR collecting broken/test_broken.py" in broken.stdout
    assert "No module named 'a_module_that_does_not_exist'" in broken.stdout
    assert (
        "run failed: interrupted: 1 error during collection (pytest exit status 2)" in broken.stdout
    )

    nothing = run_cli("--ci", fixture("outcomes"), "--pattern", "no_such_test", cwd=workdir)
    assert nothing.returncode == 5
    assert "collected 0 tests in 0 critical paths, 8 deselected" in nothing.stdout
    assert "no tests ran in" in nothing.stdout
    assert "run failed: no tests collected (pytest exit status 5)" in nothing.stdout

    usage = run_cli("--ci", fixture("outcomes"), "-m", "(unbalanced", cwd=workdir)
    assert usage.returncode == 4
    assert "pytest usage error" in usage.stdout
    assert "--- pytest output" in usage.stdout  # pytest's own words are shown for a usage error

    killed = run_cli("--ci", fixture("killer"), cwd=workdir)
    assert killed.returncode == 3
    assert finished_lines(killed.stdout) == [
        "PASSED resilience killer/test_killer.py::test_before_the_kill",
        "INTERRUPTED resilience killer/test_killer.py::test_kills_its_process",
    ]
    assert "run aborted: pytest was killed by SIGKILL" in killed.stdout
    assert "last step: ✓ about to be killed" in killed.stdout


def test_pattern_and_category_select_like_the_original_runner(workdir: Path) -> None:
    result = run_cli(
        "--ci",
        "--category",
        "integration",
        "--pattern",
        "test_outcomes",
        fixture("outcomes"),
        cwd=workdir,
    )
    assert result.returncode == 1
    assert finished_lines(result.stdout) == [f"ERROR tools {OUT}test_error_in_setup"]
    wrapper = run_cli(
        "--category",
        "integration",
        "--pattern",
        "test_outcomes",
        fixture("outcomes"),
        cwd=workdir,
        script=[sys.executable, str(ROOT / "tests" / "unified_test_runner.py")],
    )
    assert wrapper.returncode == 1
    assert finished_lines(wrapper.stdout) == finished_lines(result.stdout)


def test_rerun_failed_runs_exactly_the_failed_ids(workdir: Path) -> None:
    first = run_cli("--ci", fixture("outcomes"), cwd=workdir)
    assert first.returncode == 1
    rerun = run_cli(
        "--ci", "--rerun-failed", fixture("outcomes"), "--json-report", "r.json", cwd=workdir
    )
    assert rerun.returncode == 1
    assert rerun.stdout.splitlines()[0].startswith("rerunning the 2 failed tests of run 1 (")
    report = json.loads((workdir / "r.json").read_text())
    assert {t["nodeid"]: t["outcome"] for t in report["tests"]} == {
        f"{OUT}test_fail": "failed",
        f"{OUT}test_error_in_setup": "error",
    }
    assert report["root"] == fixture()
    assert finished_lines(rerun.stdout) == [
        f"FAILED registration {OUT}test_fail",
        f"ERROR tools {OUT}test_error_in_setup",
    ]
    with sqlite3.connect(workdir / ".mcp-dashboard" / "history.sqlite3") as db:
        args = [json.loads(a) for (a,) in db.execute("SELECT args FROM runs ORDER BY id")]
    assert args[1] == [fixture(f"{OUT}test_fail"), fixture(f"{OUT}test_error_in_setup")]


def test_rerun_failed_with_nothing_to_rerun_says_so_and_passes(workdir: Path) -> None:
    path = fixture("outcomes", "test_unmarked.py")
    never = run_cli("--ci", "--rerun-failed", path, cwd=workdir)
    assert never.returncode == 0
    assert never.stdout.startswith(f"no earlier run of {path} in ")
    assert run_cli("--ci", path, cwd=workdir).returncode == 0
    clean = run_cli("--ci", "--rerun-failed", path + "/", cwd=workdir)  # same PATHS, other spelling
    assert clean.returncode == 0
    expected = rf"the last run of {re.escape(path)}/ \(run 1, [\d: -]+\) had no failures: "
    assert re.fullmatch(expected + "nothing to rerun\n", clean.stdout)


def test_history_flags_flaky_and_slower_tests(workdir: Path, tmp_path: Path) -> None:
    history = tmp_path / "elsewhere" / "h.sqlite3"
    suite = fixture("history")

    def run(**env: str) -> str:
        result = run_cli(
            "--ci", suite, "--history", str(history), cwd=workdir, env=child_env(**env)
        )
        assert result.returncode == 1, result.stdout
        return result.stdout

    run(FIXTURE_FAIL="1")  # test_sometimes_fails fails once
    for _ in range(3):  # three fast passing runs: the median duration is ~0 s
        out = run()
    assert "flaky (passed and failed within the last 10 runs): 1" in out
    assert "slower (over 2x the median of recent passing runs and over 0.2s): 0" in out
    out = run(FIXTURE_SLEEP="0.3")
    flagged = [
        line.split()[:3] for line in out.splitlines() if line.startswith(("  FLAKY", "  SLOWER"))
    ]
    assert flagged == [
        ["FLAKY", "[sessions]", f"{H}test_sometimes_fails"],
        ["SLOWER", "[sessions]", f"{H}test_sometimes_slow"],
    ]
    assert not (workdir / ".mcp-dashboard" / "history.sqlite3").exists()
    with sqlite3.connect(history) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (5,)
        assert db.execute("SELECT count(*) FROM results").fetchone() == (20,)


def test_github_step_summary_gets_markdown(workdir: Path) -> None:
    summary = workdir / "summary.md"
    summary.write_text("# earlier step\n")
    result = run_cli(
        "--ci", fixture("outcomes"), cwd=workdir, env=child_env(GITHUB_STEP_SUMMARY=str(summary))
    )
    assert result.returncode == 1
    text = summary.read_text()
    assert text.startswith("# earlier step\n## ❌ mcp-dashboard: 1 failed, 3 passed, 1 skipped")
    assert "| registration | 2 | 1 | 1 | 0 | 0 | 0 | 0 | 0 |" in text
    assert f"<summary>FAILED [registration] {OUT}test_fail</summary>" in text
    assert f"<summary>ERROR [tools] {OUT}test_error_in_setup</summary>" in text


def test_without_ci_and_without_a_terminal_it_behaves_as_ci(workdir: Path) -> None:
    result = run_cli(fixture("outcomes"), "-k", "test_plain", cwd=workdir)
    assert result.returncode == 0
    assert finished_lines(result.stdout) == [
        f"PASSED outcomes/test_unmarked.py {UNMARKED}test_plain_one",
        f"PASSED outcomes/test_unmarked.py {UNMARKED}test_plain_two",
    ]


def test_database_url_reaches_the_tests(workdir: Path) -> None:
    url = f"sqlite+aiosqlite:///{workdir / 'chosen.db'}"
    result = run_cli(
        "--ci",
        fixture("outcomes"),
        "-k",
        "test_pass",
        "--database-url",
        url,
        "--json-report",
        "r.json",
        cwd=workdir,
    )
    assert result.returncode == 0
    [test] = json.loads((workdir / "r.json").read_text())["tests"]
    assert test["call"]["stdout"] == f"database: {url}\n"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "mcp-dashboard"
    assert script.exists()
    result = run_cli("--help", cwd=ROOT, script=[str(script)])
    assert result.returncode == 0
    for option in (
        "--ci",
        "-k",
        "-m",
        "--category",
        "--pattern",
        "--rerun-failed",
        "--json-report",
        "--junit-xml",
        "--verbose",
        "-n",
        "--database-url",
        "--history",
    ):
        assert option in result.stdout


def test_the_ci_path_does_not_load_the_service() -> None:
    """`--ci` and its run history import no SQLAlchemy (the service costs ~0.3 s to import)."""
    probe = (
        "import sys, mcp_dashboard.cli, mcp_dashboard.history\n"
        "print(sorted(m for m in ('sqlalchemy', 'mcp_service.service') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert loaded == "[]\n"
