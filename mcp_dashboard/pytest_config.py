"""What the project's pytest configuration says a test file is: its `python_files`.

Watch mode decides which files are tests (a changed one reruns itself, a module's
importers that are tests rerun) by the same patterns pytest collects by, found as
pytest finds them: `-c FILE` if given, else the first of pytest.ini, .pytest.ini,
pyproject.toml ([tool.pytest.ini_options]), tox.ini ([pytest]) and setup.cfg
([tool:pytest]) in the PATHS' directories and their parents (pytest's own
`locate_config`, pinned with pytest in pyproject.toml), then `-o python_files=…`
over it. No setting: pytest's default, `test_*.py *_test.py`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from _pytest.config.exceptions import UsageError
from _pytest.config.findpaths import load_config_dict_from_file, locate_config

DEFAULT_PATTERNS = ("test_*.py", "*_test.py")
SETTING = "python_files"


def python_files(
    root: Path, paths: Sequence[str] = (), pytest_args: Sequence[str] = ()
) -> tuple[str, ...]:
    """The `python_files` patterns of a run of `paths` (words for pytest: files,
    directories, node ids) started in `root` with these other pytest options."""
    value: str | list[str] | None = None
    config_file, overrides = _options(pytest_args)
    try:
        if config_file is not None:
            found = load_config_dict_from_file(root / config_file) or {}
        else:
            args = [root / p.partition("::")[0] for p in paths]
            found = locate_config(root, args)[2]
        value = found.get(SETTING)
    except (OSError, UsageError, ValueError):
        value = None  # an unreadable configuration: pytest will say so on the run
    for override in overrides:
        name, _, given = override.partition("=")
        if name.strip() == SETTING:
            value = given
    if value is None:
        return DEFAULT_PATTERNS
    patterns = tuple(shlex.split(value) if isinstance(value, str) else value)
    return patterns or DEFAULT_PATTERNS


def _options(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """`-c`/`--config-file` and every `-o`/`--override-ini` among pytest's options."""
    config_file: str | None = None
    overrides: list[str] = []
    words = iter(args)
    for word in words:
        for short, long, into in (("-c", "--config-file", "config"), ("-o", "--override-ini", "")):
            given: str | None = None
            if word in (short, long):
                given = next(words, None)
            elif word.startswith(long + "="):
                given = word[len(long) + 1 :]
            elif word.startswith(short) and len(word) > 2 and not word.startswith("--"):
                given = word[2:]
            if given is None:
                continue
            if into:
                config_file = given
            else:
                overrides.append(given)
    return config_file, overrides
