"""`mcp-dashboard --ci` end to end: real child processes, exact output, exit codes, history."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.dashboard.helpers import FIXTURES, ROOT, child_env, fixture, run_cli
from tests.dashboard.suites import count_tests, many_modules

OUT = "outcomes/test_outcomes.py::"
UNMARKED = "outcomes/test_unmarked.py::"
H = "history/test_history.py::"
TIME = re.compile(r" in \d+\.\d\ds( \(\d+:\d\d:\d\d\))?$")


def verbose_lines(stdout: str) -> list[str]:
    """`--ci -v` per-test lines, without their progress counter and duration."""
    pattern = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+(?:\[([^\]]+)\] )?(\S+) \(\d+\.\d\ds\)$")
    found = []
    for line in stdout.splitlines():
        if m := pattern.match(line):
            label, group, nodeid = m.groups()
            found.append(" ".join(filter(None, (label, group, nodeid))))
    return found


def section(stdout: str, title: str) -> list[str]:
    """The lines of an `===== title =====` section, up to the next such line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"=+ {title} =+", line))
    end = next(
        (i for i in range(start + 1, len(lines)) if re.fullmatch(r"=+ .* =+", lines[i])),
        len(lines),
    )
    return lines[start + 1 : end]


COLUMNS = ["tests", "passed", "failed", "error", "skipped", "xfailed", "xpassed", "not run"]


def table(stdout: str) -> dict[str, list[str]]:
    """The summary table: group → [tests, the six outcomes, not run]; a column the table
    leaves out (0 on every row) reads as 0."""
    title = (
        "summary by critical path" if "summary by critical path" in stdout else "summary by module"
    )
    lines = section(stdout, title)
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header[:2] == ["group", "tests"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    return {
        cells[0]: [cells[header.index(c)] if c in header else "0" for c in COLUMNS]
        for cells in rows
    }


def copy_suite(workdir: Path, name: str) -> Path:
    """A fixture suite copied into `workdir`, with the fixtures' pytest.ini and conftest, so
    pytest and mcp-dashboard started there print the same relative paths."""
    shutil.copytree(FIXTURES / name, workdir / name)
    shutil.copy(FIXTURES / "pytest.ini", workdir)
    shutil.copy(FIXTURES / "conftest.py", workdir)
    return workdir / name


@pytest.mark.parametrize("on_ci", [False, True], ids=["terminal", "on-ci"])
def test_ci_prints_what_pytest_q_prints(workdir: Path, on_ci: bool) -> None:
    """On CI (`CI` set) pytest prints a failure's whole message in its short summary, on a
    terminal the first line: ours follows, so the two summaries match line for line."""
    copy_suite(workdir, "outcomes")
    env = child_env(**({"CI": "true"} if on_ci else {}))
    ours = run_cli("--ci", "outcomes", cwd=workdir, env=env)
    theirs = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEsxX", "outcomes"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ours.returncode == theirs.returncode == 1, ours.stdout + ours.stderr
    mine, pytests = ours.stdout.splitlines(), theirs.stdout.splitlines()
    assert mine[0] == pytests[0] == ".FsxXE..".ljust(73) + "[100%]"
    # The same closing counts, and the same short summary (pytest cuts its lines at 80
    # columns with "..."; ours are whole).
    assert TIME.sub("", mine[-1]) == TIME.sub("", pytests[-1])
    assert TIME.sub("", mine[-1]) == (
        "1 failed, 3 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 warning, 1 error"
    )
    summary_mine = section(ours.stdout, "short test summary info")[:-1]
    summary_pytest = section(theirs.stdout, "short test summary info")[:-1]
    # The failure's message has two lines: the second is a line of its own on CI.
    assert len(summary_mine) == len(summary_pytest) == (6 if on_ci else 5)
    for line, expected in zip(summary_mine, summary_pytest, strict=True):
        assert line == expected or (expected.endswith("...") and line.startswith(expected[:-3]))
    assert summary_mine[0].endswith(" - AssertionError: arithmetic is broken")
    assert (summary_mine[1] == "assert (1 + 1) == 3") is on_ci
    assert summary_mine[-3] == "SKIPPED [1] outcomes/test_outcomes.py:29: not on this platform"
    # The same sections, in pytest's order, with the per-group table before the summary.
    titles = [line.strip("= ") for line in mine if re.fullmatch(r"=+ .* =+", line)]
    assert titles == [
        "ERRORS",
        "FAILURES",
        "warnings summary",
        "summary by critical path",
        "short test summary info",
    ]
    assert "E       AssertionError: arithmetic is broken" in section(ours.stdout, "FAILURES")
    assert "    def broken_fixture():" in section(ours.stdout, "ERRORS")  # indentation kept
    assert len(mine) < len(pytests) + 8  # the table's 6 lines and its title: no more


@pytest.mark.parametrize(
    ("stop", "progress", "counts"),
    [
        (["-x"], ".F", "1 failed, 1 passed"),
        (
            ["--maxfail", "2"],
            ".FsxXE",
            "1 failed, 1 passed, 1 skipped, 1 xfailed, 1 xpassed, 1 error",
        ),
    ],
    ids=["x", "maxfail"],
)
def test_ci_stopped_by_x_prints_what_pytest_q_prints(
    workdir: Path, stop: list[str], progress: str, counts: str
) -> None:
    """-x and --maxfail: pytest's progress line ends bare where the session stopped, and its
    `!!! stopping after N failures !!!` comes between the short summary and the closing line."""
    copy_suite(workdir, "outcomes")
    ours = run_cli("--ci", *stop, "outcomes", cwd=workdir)
    theirs = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEsxX", *stop, "outcomes"],
        cwd=workdir,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ours.returncode == theirs.returncode == 1, ours.stdout + ours.stderr
    mine, pytests = ours.stdout.splitlines(), theirs.stdout.splitlines()
    assert mine[0] == pytests[0] == progress
    assert mine[-2] == pytests[-2]
    failures = stop[-1] if stop != ["-x"] else "1"
    assert mine[-2] == f" stopping after {failures} failures ".center(80, "!")
    assert TIME.sub("", mine[-1]) == TIME.sub("", pytests[-1])
    assert TIME.sub("", mine[-1]) == counts
    # Right after pytest's short summary, as pytest prints it.
    assert mine[-3].startswith(("FAILED ", "ERROR ", "XPASS ", "XFAIL ", "SKIPPED "))


WARNING_SUITE = {
    "test_warns.py": """
import warnings

import pytest


def deprecated():
    warnings.warn("old API", DeprecationWarning, stacklevel=1)


def test_one():
    deprecated()


def test_two():
    deprecated()


@pytest.mark.parametrize("n", range(11))
def test_many(n):
    warnings.warn("many", UserWarning, stacklevel=1)
""",
    "test_more.py": """
from test_warns import deprecated


def test_three():
    deprecated()
""",
}


def test_ci_warnings_summary_lists_every_place_as_pytest_q_does(workdir: Path) -> None:
    """One warning raised by three tests is listed under all three; one raised by 11 tests
    is counted per file, pytest's rule from 10 places on."""
    suite = workdir / "warns"
    suite.mkdir()
    for name, text in WARNING_SUITE.items():
        (suite / name).write_text(text.lstrip())
    shutil.copy(FIXTURES / "pytest.ini", workdir)
    shutil.copy(FIXTURES / "conftest.py", workdir)
    ours = run_cli("--ci", "warns", cwd=workdir)
    theirs = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "warns"],
        cwd=workdir,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ours.returncode == theirs.returncode == 0, ours.stdout + ours.stderr
    mine = section(ours.stdout, "warnings summary")
    *pytests, closing = section(theirs.stdout, "warnings summary")  # -q: no title after it
    assert TIME.sub("", closing) == "14 passed, 14 warnings"
    # pytest adds each warning's source line (indented 4) and a link to its docs.
    kept = [line for line in pytests if not line.startswith(("    ", "-- Docs"))]
    assert mine == kept
    deprecated = f"  {suite / 'test_warns.py'}:7: DeprecationWarning: old API"
    many = f"  {suite / 'test_warns.py'}:20: UserWarning: many"
    assert mine == [
        "warns/test_more.py::test_three",
        "warns/test_warns.py::test_one",
        "warns/test_warns.py::test_two",
        deprecated,
        "",
        "warns/test_warns.py: 11 warnings",
        many,
        "",
    ]


def test_ci_run_records_reports_and_history(workdir: Path) -> None:
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
    assert table(result.stdout) == {
        "registration": ["2", "1", "1", "0", "0", "0", "0", "0"],
        "sessions": ["3", "0", "0", "0", "1", "1", "1", "0"],
        "tools": ["1", "0", "0", "1", "0", "0", "0", "0"],
        "outcomes/test_unmarked.py": ["2", "2", "0", "0", "0", "0", "0", "0"],
        "all": ["8", "3", "1", "1", "1", "1", "1", "0"],
    }
    assert "✓" not in result.stdout.split("=====")[0]  # step lines only with --steps
    assert "--- captured stdout" not in result.stdout
    assert "output before the failure" in section(result.stdout, "FAILURES")
    assert json.loads((workdir / "r.json").read_text())["summary"]["total"] == 8
    suite = ET.parse(workdir / "j.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("8", "1", "1")
    assert (workdir / ".mcp-dashboard" / ".gitignore").read_text().endswith("*\n")

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


def test_v_prints_a_line_per_test_and_steps_adds_the_step_lines(workdir: Path) -> None:
    result = run_cli(
        "--ci", "-v", "--steps", fixture("outcomes"), "-k", "test_pass or test_fail", cwd=workdir
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
    assert verbose_lines("\n".join(lines[:6])) == [
        f"PASSED registration {OUT}test_pass",
        f"FAILED registration {OUT}test_fail",
    ]
    # A module's tests are not labelled with their module twice.
    plain = run_cli("--ci", "-v", fixture("outcomes"), "-k", "test_plain", cwd=workdir)
    assert verbose_lines(plain.stdout) == [
        f"PASSED {UNMARKED}test_plain_one",
        f"PASSED {UNMARKED}test_plain_two",
    ]
    assert "collected 2 tests in 1 module, 6 deselected" in plain.stdout


def test_exit_status_is_pytests_and_errors_are_explained(workdir: Path) -> None:
    passing = run_cli("--ci", fixture("outcomes"), "-m", "not critical_path", cwd=workdir)
    assert passing.returncode == 0, passing.stdout
    assert passing.stdout.splitlines()[0] == "..".ljust(73) + "[100%]"
    assert TIME.sub("", passing.stdout.splitlines()[-1]) == "2 passed, 6 deselected, 1 warning"

    broken = run_cli("--ci", fixture("broken"), cwd=workdir)
    assert broken.returncode == 2
    errors = section(broken.stdout, "ERRORS")
    assert errors[0].strip("_ ") == "ERROR collecting broken/test_broken.py"
    assert "E   ModuleNotFoundError: No module named 'a_module_that_does_not_exist'" in errors
    assert broken.stdout.splitlines()[-2:] == [
        broken.stdout.splitlines()[-2],
        "run failed: interrupted: 1 error during collection (pytest exit status 2)",
    ]
    assert TIME.sub("", broken.stdout.splitlines()[-2]) == "1 error"

    nothing = run_cli("--ci", fixture("outcomes"), "--pattern", "no_such_test", cwd=workdir)
    assert nothing.returncode == 5
    lines = nothing.stdout.splitlines()
    assert TIME.sub("", lines[0]) == "8 deselected"
    assert lines[1:] == ["run failed: no tests collected (pytest exit status 5)"]

    killed = run_cli("--ci", fixture("killer"), cwd=workdir)
    assert killed.returncode == 3
    assert killed.stdout.splitlines()[0] == ".!".ljust(73) + "[ 66%]"
    assert section(killed.stdout, "short test summary info")[:2] == [
        "INTERRUPTED killer/test_killer.py::test_kills_its_process - the run ended during it",
        "    last step: ✓ about to be killed",
    ]
    assert killed.stdout.endswith("run aborted: pytest was killed by SIGKILL\n")


def test_a_usage_error_is_the_first_thing_printed(workdir: Path) -> None:
    unknown = run_cli("--ci", fixture("outcomes"), "--no-such-option", cwd=workdir)
    assert unknown.returncode == 4
    assert unknown.stdout.splitlines()[:2] == [
        "ERROR: usage: __main__.py [options] [file_or_dir] [file_or_dir] [...]",
        "__main__.py: error: unrecognized arguments: --no-such-option",
    ]
    assert unknown.stdout.endswith(
        "run failed: pytest usage error: unrecognized arguments: --no-such-option "
        "(pytest exit status 4)\n"
    )
    assert "summary by" not in unknown.stdout  # no empty table pretends a run happened

    expression = run_cli("--ci", fixture("outcomes"), "-m", "(unbalanced", cwd=workdir)
    assert expression.returncode == 4
    assert expression.stdout.splitlines() == [
        "ERROR: Wrong expression passed to '-m': (unbalanced: "
        "at column 12: expected right parenthesis; got end of input",
        "run failed: pytest usage error: Wrong expression passed to '-m': (unbalanced: "
        "at column 12: expected right parenthesis; got end of input (pytest exit status 4)",
    ]


def test_pytest_options_pass_through_in_order(workdir: Path) -> None:
    first = run_cli("--ci", "-v", fixture("outcomes"), "-x", "--tb=line", cwd=workdir)
    assert first.returncode == 1
    assert verbose_lines(first.stdout) == [
        f"PASSED registration {OUT}test_pass",
        f"FAILED registration {OUT}test_fail",
    ]  # -x: pytest stopped at the first failure
    spaced = run_cli("--ci", fixture("outcomes"), "--tb", "no", "-k", "test_pass", cwd=workdir)
    assert spaced.returncode == 0, spaced.stdout  # `--tb no`: "no" is not a test path
    after = run_cli("--ci", "-v", fixture("outcomes"), "--", "-k", "plain_one", cwd=workdir)
    assert verbose_lines(after.stdout) == [f"PASSED {UNMARKED}test_plain_one"]


def test_without_paths_pytest_discovers_a_third_party_project(tmp_path: Path) -> None:
    project = many_modules(tmp_path / "project", modules=4, params=2)
    result = run_cli("--ci", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        TIME.sub("", result.stdout.splitlines()[-1]) == f"3 failed, {count_tests(4, 2) - 3} passed"
    )
    assert table(result.stdout)["tests/test_module_00.py"] == [
        "4",
        "4",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
    ]


def test_pattern_and_category_select_like_the_original_runner(workdir: Path) -> None:
    result = run_cli(
        "--ci",
        "-v",
        "--category",
        "integration",
        "--pattern",
        "test_outcomes",
        fixture("outcomes"),
        cwd=workdir,
    )
    assert result.returncode == 1
    assert verbose_lines(result.stdout) == [f"ERROR tools {OUT}test_error_in_setup"]
    wrapper = run_cli(
        "-v",
        "--category",
        "integration",
        "--pattern",
        "test_outcomes",
        fixture("outcomes"),
        cwd=workdir,
        script=[sys.executable, str(ROOT / "tests" / "unified_test_runner.py")],
    )
    assert wrapper.returncode == 1
    assert verbose_lines(wrapper.stdout) == verbose_lines(result.stdout)


def test_rerun_failed_runs_exactly_the_failed_ids(workdir: Path) -> None:
    first = run_cli("--ci", fixture("outcomes"), cwd=workdir)
    assert first.returncode == 1
    rerun = run_cli(
        "--ci", "-v", "--rerun-failed", fixture("outcomes"), "--json-report", "r.json", cwd=workdir
    )
    assert rerun.returncode == 1
    assert rerun.stdout.splitlines()[0].startswith("rerunning the 2 failed tests of run 1 (")
    report = json.loads((workdir / "r.json").read_text())
    assert {t["nodeid"]: t["outcome"] for t in report["tests"]} == {
        f"{OUT}test_fail": "failed",
        f"{OUT}test_error_in_setup": "error",
    }
    assert report["root"] == fixture()
    assert verbose_lines(rerun.stdout) == [
        f"FAILED registration {OUT}test_fail",
        f"ERROR tools {OUT}test_error_in_setup",
    ]
    with sqlite3.connect(workdir / ".mcp-dashboard" / "history.sqlite3") as db:
        args = [json.loads(a) for (a,) in db.execute("SELECT args FROM runs ORDER BY id")]
    assert args[1] == [fixture(f"{OUT}test_fail"), fixture(f"{OUT}test_error_in_setup"), "-v"]


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
    suite = copy_suite(workdir, "history")  # outside git: the code fingerprint is its files

    def run(**env: str) -> str:
        result = run_cli(
            "--ci", str(suite), "--history", str(history), cwd=workdir, env=child_env(**env)
        )
        assert result.returncode == 1, result.stdout
        return result.stdout

    run(FIXTURE_FAIL="1")  # test_sometimes_fails fails once
    for _ in range(3):  # three fast passing runs: the median duration is ~0 s
        out = run()
    assert "flaky (passed and failed on the same code within 10 runs):" in out
    out = run(FIXTURE_SLEEP="0.3")
    flagged = [
        line.split()[:2] for line in out.splitlines() if line.startswith(("  FLAKY", "  SLOWER"))
    ]
    assert flagged == [["FLAKY", f"{H}test_sometimes_fails"], ["SLOWER", f"{H}test_sometimes_slow"]]
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


def test_colour_on_request_and_never_into_a_pipe(workdir: Path) -> None:
    plain = run_cli("--ci", fixture("outcomes"), "-k", "test_pass", cwd=workdir)
    assert "\x1b[" not in plain.stdout
    forced = run_cli(
        "--ci", fixture("outcomes"), "-k", "test_pass", cwd=workdir, env=child_env(FORCE_COLOR="1")
    )
    assert forced.stdout.startswith("\x1b[32m.\x1b[0m")
    asked = run_cli("--ci", fixture("outcomes"), "-k", "test_pass", "--color=yes", cwd=workdir)
    assert asked.stdout.startswith("\x1b[32m.\x1b[0m")
    refused = run_cli(
        "--ci", fixture("outcomes"), "--color=no", cwd=workdir, env=child_env(FORCE_COLOR="1")
    )
    assert "\x1b[" not in refused.stdout


def test_without_ci_and_without_a_terminal_it_behaves_as_ci(workdir: Path) -> None:
    result = run_cli("-v", fixture("outcomes"), "-k", "test_plain", cwd=workdir)
    assert result.returncode == 0
    assert verbose_lines(result.stdout) == [
        f"PASSED {UNMARKED}test_plain_one",
        f"PASSED {UNMARKED}test_plain_two",
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


def test_help_has_examples_and_keys_and_version_says_what_runs() -> None:
    script = Path(sys.executable).parent / "mcp-dashboard"
    assert script.exists()
    result = run_cli("--help", cwd=ROOT, script=[str(script)])
    assert result.returncode == 0
    for option in (
        "--ci",
        "--monitor",
        "--steps",
        "--rerun-failed",
        "--category",
        "--pattern",
        "--json-report",
        "--junit-xml",
        "--database-url",
        "--history",
        "--version",
        "-v, --verbose",
        "-q, --quiet",
    ):
        assert option in result.stdout, option
    assert "examples:\n  mcp-dashboard    " in result.stdout
    assert "mcp-dashboard -- --my-plugin-flag value" in result.stdout
    assert "keys in the dashboard:" in result.stdout
    assert "n/N next/previous failure" in result.stdout
    version = run_cli("--version", cwd=ROOT, script=[str(script)])
    assert version.returncode == 0
    assert re.fullmatch(
        r"mcp-dashboard \S+ \(pytest 8\.4\.\d+, textual \S+, Python 3\.\d+\.\d+\)\n", version.stdout
    )


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
