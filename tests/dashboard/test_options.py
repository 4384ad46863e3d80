"""The command line (options.py), what runs with no paths (launch.py), the code fingerprint
behind "flaky" (fingerprint.py), and where `y` puts text (clipboard.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mcp_dashboard.clipboard import COPY_FILE, copy_text
from mcp_dashboard.fingerprint import code_fingerprint
from mcp_dashboard.launch import Launcher, default_paths
from mcp_dashboard.options import Options, parse, split_argv
from tests.dashboard.helpers import ROOT


def test_pytests_words_pass_through_in_order_with_their_values() -> None:
    options = parse(["tests/unit", "-x", "--tb", "short", "-k", "not slow", "-p", "no:randomly"])
    assert options.paths == ("tests/unit",)
    assert options.pytest_options == ("-x", "--tb", "short", "-k", "not slow", "-p", "no:randomly")


def test_everything_after_double_dash_goes_to_pytest_unread() -> None:
    options = parse(["--ci", "tests", "--", "--ci", "-m", "slow", "paths/too"])
    assert (options.ci, options.paths) == (True, ("tests",))
    assert options.pytest_options == ("--ci", "-m", "slow", "paths/too")
    assert options.marker_expression is None  # the -m after -- is pytest's, not ours


def test_verbosity_is_pytests_and_counted() -> None:
    assert parse(["-v"]).verbosity == 1
    assert parse(["-vv", "-q"]).verbosity == 1
    assert parse(["--verbose", "--quiet", "-qq"]).verbosity == -2
    assert parse(["-vv"]).pytest_options == ("-vv",)  # pytest sees them too
    assert not parse(["-v"]).steps and parse(["--steps"]).steps


def test_our_options_and_the_marker_expression_joined_with_category() -> None:
    options = parse(
        ["--ci", "--pattern", "realistic", "-m", "not slow", "--category", "integration"]
    )
    assert (options.ci, options.pattern) == (True, "realistic")
    assert options.selection() == ["-m", "(not slow) and (integration)"]
    assert Options(category="integration").selection() == ["-m", "integration"]


def test_the_live_feeds_redis_url_is_ours_not_pytests() -> None:
    options = parse(["--redis-url", "redis://127.0.0.1:6390/0", "tests", "-x"])
    assert (options.redis_url, options.paths) == ("redis://127.0.0.1:6390/0", ("tests",))
    assert options.pytest_options == ("-x",)
    assert parse(["--redis-url=redis://h/1"]).redis_url == "redis://h/1"
    assert parse([]).redis_url is None  # the CLI then reads MCP_REDIS_URL


def test_colour_choice_is_read_from_pytests_option() -> None:
    assert parse(["--color=yes"]).color is True
    assert parse(["--color", "no"]).color is False
    assert parse(["--color=auto"]).color is None
    assert parse(["--color=yes"]).pytest_options == ("--color=yes",)


def test_a_plugin_option_with_an_equals_value_is_not_a_path() -> None:
    split = split_argv(["--my-plugin=3", "tests", "--other-flag"])
    assert (split.paths, split.pytest_options) == (["tests"], ["--my-plugin=3", "--other-flag"])


def test_bad_use_of_our_own_options_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["--json-report"])  # its FILE is missing
    assert exited.value.code == 2
    assert "--json-report: expected one argument" in capsys.readouterr().err


def test_no_paths_means_the_realistic_suite_here_and_pytests_discovery_elsewhere(
    tmp_path: Path,
) -> None:
    assert default_paths(ROOT) == ["tests/integration"]
    assert default_paths(tmp_path) == []
    with Launcher(parse(["--history", str(tmp_path / "h.sqlite3")]), cwd=tmp_path) as elsewhere:
        assert elsewhere.initial_targets() == []
        assert elsewhere.key == (str(tmp_path),)  # remembered as the directory it ran in
        assert elsewhere.config(elsewhere.initial_targets()).pytest_args == []
    assert (tmp_path / ".mcp-dashboard").exists() is False  # --history elsewhere: no state dir


def test_the_fingerprint_follows_the_code_in_git_and_outside(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "test_a.py").write_text("def test_a(): pass\n")
    first = code_fingerprint(plain)
    assert first == code_fingerprint(plain) and len(first) == 16
    (plain / "test_a.py").write_text("def test_a(): assert False\n")
    assert code_fingerprint(plain) != first
    (plain / ".mcp-dashboard").mkdir()
    (plain / ".mcp-dashboard" / "x.py").write_text("")  # its own state is not code
    changed = code_fingerprint(plain)
    (plain / ".mcp-dashboard" / "y.py").write_text("")
    assert code_fingerprint(plain) == changed

    repo = tmp_path / "repo"
    shutil.copytree(plain, repo)
    who = {
        f"GIT_{role}_{part}": "t@t"
        for role in ("AUTHOR", "COMMITTER")
        for part in ("NAME", "EMAIL")
    }
    env = {**os.environ, **who}
    for command in (["init", "-q"], ["add", "test_a.py"], ["commit", "-qm", "first"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True, env=env)
    (repo / ".gitignore").write_text(".mcp-dashboard/\n")
    committed = code_fingerprint(repo)
    (repo / ".mcp-dashboard" / "z.py").write_text("")  # ignored by git: the same code
    assert code_fingerprint(repo) == committed
    (repo / "test_a.py").write_text("def test_a(): pass\n")  # an edit: other code
    assert code_fingerprint(repo) != committed


def test_y_without_a_clipboard_saves_the_text_and_says_so(tmp_path: Path) -> None:
    copied = copy_text("Traceback …", tmp_path / "state", osc52_sent=False, environ={})
    assert (tmp_path / "state" / COPY_FILE).read_text() == "Traceback …"
    assert copied.places == (str(tmp_path / "state" / COPY_FILE),)
    assert copied.message("the traceback") == (
        f"No clipboard reachable: the traceback saved in {tmp_path / 'state' / COPY_FILE}"
    )
    sent = copy_text("x", tmp_path / "state", osc52_sent=True, environ={})
    assert sent.places[0] == "the terminal's clipboard (OSC 52)"
    assert sent.message("it") == (
        f"Copied it to the terminal's clipboard (OSC 52); saved in {sent.file}"
    )
