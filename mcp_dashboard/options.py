"""The command line, parsed once into a frozen `Options`: nothing below the CLI sees argparse.

`mcp-dashboard` owns a handful of options; everything else is pytest's and is
passed to the pytest child unchanged and in order, so `-x`, `--tb=short`,
`--lf`, `-p no:randomly` or a plugin's own flags mean what they mean in pytest.
`--` ends our options: every word after it goes to pytest as it is. pytest's
`-v`/`-q` are also counted here, because `--ci` prints one line per test from
`-v` on, like pytest.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# pytest options that take their value as the next word (`-k EXPR`, `--tb short`): that
# word is the option's, not a test path. `--opt=value` always works, for any plugin.
PYTEST_VALUE_OPTIONS = frozenset(
    {
        "-k",
        "-m",
        "-p",
        "-c",
        "-o",
        "-n",
        "-r",
        "-W",
        "--tb",
        "--otlp-endpoint",  # our plugin's (mcp_dashboard/pytest_plugin.py)
        "--maxfail",
        "--durations",
        "--durations-min",
        "--capture",
        "--color",
        "--code-highlight",
        "--rootdir",
        "--confcutdir",
        "--basetemp",
        "--deselect",
        "--ignore",
        "--ignore-glob",
        "--import-mode",
        "--log-level",
        "--log-cli-level",
        "--log-file",
        "--log-file-level",
        "--override-ini",
        "--config-file",
        "--pythonwarnings",
        "--junitxml",
        "--junit-prefix",
        "--numprocesses",
        "--maxprocesses",
        "--dist",
        "--tx",
        "--verbosity",
        "--show-capture",
        "--lfnf",
        "--last-failed-no-failures",
        "--asyncio-mode",
        "--hypothesis-profile",
        "--hypothesis-seed",
    }
)

EXAMPLES = """\
examples:
  mcp-dashboard                      this project's tests, as pytest would find them
  mcp-dashboard tests/unit -x        any pytest paths and options (-x, --tb=short, -k …)
  mcp-dashboard --ci                 plain text like `pytest -q`, pytest's exit status
  mcp-dashboard --ci -v              one line per test; --steps adds each step line
  mcp-dashboard --rerun-failed       the tests that failed in the last run of these paths
  mcp-dashboard --watch --ci tests   on each save, rerun the tests it affects, and failures
                                     (keys: a all · f failed · enter again · q quit)
  mcp-dashboard -- --my-plugin-flag value   everything after -- goes to pytest
  mcp-dashboard --monitor            watch a running service's tables (no tests)
  mcp-dashboard --monitor --redis-url redis://localhost:6379/0   rows show as they commit

keys in the dashboard:
  f rerun failed · a run all · x cancel · ctrl+c cancel, then quit · q quit
  n/N next/previous failure · enter open a test · y copy its traceback
  / filter · o only failures · t run timeline · w watch mode on/off
  c the tables: this test's rows or all · T show/hide the tables · ? every key
  --otlp-endpoint URL (a pytest option): export a span per test (the otlp extra)
"""


@dataclass(frozen=True, kw_only=True)
class Options:
    """What the user asked for. Paths and pytest options are kept apart, in their order."""

    paths: tuple[str, ...] = ()  # test files, directories and node ids
    pytest_options: tuple[str, ...] = ()  # every other word for pytest, values included
    marker_expression: str | None = None  # -m, joined with --category
    category: str | None = None
    pattern: str | None = None
    ci: bool = False
    monitor: bool = False
    verbosity: int = 0  # pytest's -v minus -q
    steps: bool = False  # --ci: also print each "✓ …" step line as it arrives
    rerun_failed: bool = False
    watch: bool = False  # rerun what each saved change affects, until Ctrl-C
    json_report: Path | None = None
    junit_xml: Path | None = None
    database_url: str | None = None
    redis_url: str | None = None  # the live feed's Redis (--redis-url, else $MCP_REDIS_URL)
    history: Path | None = None
    color: bool | None = None  # pytest's --color: yes/no; None: when stdout is a terminal

    def selection(self) -> list[str]:
        """-m, joined with --category (a marker name): `-m "(EXPR) and (NAME)"`."""
        marks = [m for m in (self.marker_expression, self.category) if m]
        if not marks:
            return []
        return ["-m", " and ".join(f"({m})" for m in marks) if len(marks) > 1 else marks[0]]


def build_parser(version: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-dashboard",
        description="Run a pytest suite live in the terminal: one pane per critical path "
        "(the `critical_path` marker) or module, failures first, rerun with one key.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATHS",
        help="test files, directories or node ids; none: pytest's own discovery "
        "(testpaths), or the realistic suite inside this repository",
    )
    parser.add_argument("--version", action="version", version=version or "%(prog)s")
    parser.add_argument(
        "--ci", action="store_true", help="no dashboard: plain text like pytest, its exit status"
    )
    parser.add_argument(
        "--monitor",
        action="store_true",
        help="no tests: watch a running service's tables (--database-url or MCP_DATABASE_URL)",
    )
    parser.add_argument(
        "--steps", action="store_true", help="--ci: also print each step line as it arrives"
    )
    parser.add_argument(
        "--rerun-failed",
        action="store_true",
        help="run exactly the tests that failed or errored in the last run of the same PATHS, "
        "and the test it was running if it died",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after the first run, rerun the test files each saved change affects (through "
        "imports) and the tests that failed, until Ctrl-C; with --ci, a summary per run "
        "and, on a terminal, keys: a run all, f rerun failures, Enter rerun the last run, "
        "q quit",
    )
    parser.add_argument("-m", dest="marker_expression", metavar="EXPR", help="pytest -m")
    parser.add_argument("--category", metavar="NAME", help="only tests with this marker")
    parser.add_argument("--pattern", metavar="TEXT", help="only node ids / files containing TEXT")
    parser.add_argument(
        "--json-report", type=Path, metavar="FILE", help="pytest-json-report file, every run"
    )
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help="JUnit XML, every run")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="MCP_DATABASE_URL for the tests (default: $MCP_DATABASE_URL, else a new SQLite "
        "file per run); a SQLite file or PostgreSQL shows live tables",
    )
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="the live feed: the tables read again as soon as the service announces a commit "
        "on this Redis (default: $MCP_REDIS_URL; without one, PostgreSQL's own notifications; "
        "else polling twice a second)",
    )
    parser.add_argument("--history", type=Path, metavar="FILE", help="run history SQLite file")
    pytest_group = parser.add_argument_group(
        "pytest's own options",
        "Any other option goes to pytest unchanged: -k EXPR, -x, -v/-q, --tb=STYLE, -n N "
        "(pytest-xdist), --lf, -p PLUGIN, a plugin's flags.",
    )
    pytest_group.add_argument("-v", "--verbose", action="count", default=0, help="pytest -v")
    pytest_group.add_argument("-q", "--quiet", action="count", default=0, help="pytest -q")
    return parser


# Our options and how many words each takes after it (flags: 0).
_OURS = {
    "--ci": 0,
    "--monitor": 0,
    "--steps": 0,
    "--rerun-failed": 0,
    "--watch": 0,
    "-m": 1,
    "--category": 1,
    "--pattern": 1,
    "--json-report": 1,
    "--junit-xml": 1,
    "--database-url": 1,
    "--redis-url": 1,
    "--history": 1,
    "--version": 0,
    "-h": 0,
    "--help": 0,
}
_VERBOSITY = {"-v": 1, "--verbose": 1, "-q": -1, "--quiet": -1}


@dataclass
class _Split:
    ours: list[str]
    paths: list[str]
    pytest_options: list[str]
    verbosity: int = 0
    color: bool | None = None


def split_argv(argv: Sequence[str]) -> _Split:
    """Our words, the test paths, and pytest's words, each list in the user's order."""
    split = _Split([], [], [])
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            split.pytest_options += words[i:]
            break
        name = word.split("=", 1)[0] if word.startswith("--") else word
        if name in _OURS:
            takes = 0 if "=" in word else _OURS[name]
            split.ours += words[i - 1 : i + takes]
            i += takes
            continue
        if name in _VERBOSITY or _is_short_verbosity(word):
            split.verbosity += _verbosity_of(word)
            split.pytest_options.append(word)
            continue
        if name == "--color" or name in PYTEST_VALUE_OPTIONS:
            value = word.split("=", 1)[1] if "=" in word else None
            if value is None and name in PYTEST_VALUE_OPTIONS and i < len(words):
                value = words[i]
                split.pytest_options += [word, value]
                i += 1
            else:
                split.pytest_options.append(word)
            if name == "--color" and value in ("yes", "no"):
                split.color = value == "yes"
            continue
        if word.startswith("-"):
            split.pytest_options.append(word)
        else:
            split.paths.append(word)
    return split


def _is_short_verbosity(word: str) -> bool:
    return len(word) > 1 and word[0] == "-" and word[1] != "-" and set(word[1:]) <= {"v", "q"}


def _verbosity_of(word: str) -> int:
    if word.startswith("--"):
        return _VERBOSITY[word]
    return word.count("v") - word.count("q")


def parse(argv: Sequence[str], *, version: str = "") -> Options:
    """Options from the command line; exits with status 2 and pytest-style usage on bad input."""
    split = split_argv(argv)
    parser = build_parser(version)
    args = parser.parse_args([*split.ours, *split.paths])
    if args.watch and args.rerun_failed:
        parser.error("--watch reruns failures itself: leave out --rerun-failed")
    return Options(
        paths=tuple(args.paths),
        pytest_options=tuple(split.pytest_options),
        marker_expression=args.marker_expression,
        category=args.category,
        pattern=args.pattern,
        ci=args.ci,
        monitor=args.monitor,
        verbosity=split.verbosity,
        steps=args.steps,
        rerun_failed=args.rerun_failed,
        watch=args.watch,
        json_report=args.json_report,
        junit_xml=args.junit_xml,
        database_url=args.database_url,
        redis_url=args.redis_url,
        history=args.history,
        color=split.color,
    )
