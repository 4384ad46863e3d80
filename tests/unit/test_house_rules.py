"""House rules from CONTRIBUTING.md that a machine can check.

A `type: ignore` comment names its error code and says why on the same line:
`# type: ignore[code]  # why` (or `— why`). A bare or unexplained one hides a
type error nobody can judge later; the audit of issue 12 found eight.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("mcp_service", "mcp_dashboard", "tests", "benchmarks")

IGNORE = re.compile(r"type:\s*ignore")
# The code(s) in brackets, then a reason after `#` or an em dash, on the same line.
EXPLAINED = re.compile(r"type:\s*ignore\[[a-z0-9-]+(?:,\s*[a-z0-9-]+)*\]\s*(?:#|—)\s*\S")


def comments(source: str) -> list[tuple[int, str]]:
    """The comments of a Python file with their line numbers (strings are not comments)."""
    try:
        return [
            (token.start[0], token.string)
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT
        ]
    except (tokenize.TokenError, SyntaxError):  # a deliberately broken fixture: every line
        return [(n, line) for n, line in enumerate(source.splitlines(), 1) if "#" in line]


def unexplained_ignores(root: Path) -> list[str]:
    """`path:line: comment` for each `type: ignore` without its code and reason."""
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            for line, comment in comments(path.read_text(encoding="utf-8")):
                if IGNORE.search(comment) and not EXPLAINED.search(comment):
                    found.append(f"{path.relative_to(root)}:{line}: {comment.strip()}")
    return found


def test_the_rule_accepts_a_code_and_a_reason_and_nothing_less(tmp_path: Path) -> None:
    package = tmp_path / "tests"
    package.mkdir()
    (package / "sample.py").write_text(
        "a = 1  # type: ignore\n"
        "b = 2  # type: ignore[arg-type]\n"
        "c = 3  # type: ignore[arg-type]  #\n"
        "d = 4  # type: ignore[arg-type]  # a reason\n"
        "e = 5  # type: ignore[arg-type, union-attr] — a reason\n"
        'f = "# type: ignore"\n',
        encoding="utf-8",
    )
    assert unexplained_ignores(tmp_path) == [
        "tests/sample.py:1: # type: ignore",
        "tests/sample.py:2: # type: ignore[arg-type]",
        "tests/sample.py:3: # type: ignore[arg-type]  #",
    ]


def test_every_type_ignore_names_its_code_and_says_why() -> None:
    offenders = unexplained_ignores(ROOT)
    assert offenders == [], (
        "write `# type: ignore[code]  # why` on the same line, or remove the ignore:\n"
        + "\n".join(offenders)
    )
