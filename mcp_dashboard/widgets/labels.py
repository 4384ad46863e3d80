"""How statuses, names and durations look, shared by every widget: a failure looks the same
everywhere, and every line is fitted to its width here, in one place.

Fitting rules: a duration is never cut (the name gives way), and a name that does not
fit loses its middle, so both the class (at the start) and the parameters (at the
end) of `TestClass::test_name[case-17]` stay readable.
"""

from __future__ import annotations

from rich.text import Text

from mcp_dashboard.state import Counts, TestState
from mcp_dashboard.status import RunStatus, TestStatus

ICONS: dict[TestStatus, tuple[str, str]] = {
    TestStatus.PENDING: ("·", "dim"),
    TestStatus.RUNNING: ("◌", "bold yellow"),
    TestStatus.PASSED: ("✓", "green"),
    TestStatus.FAILED: ("✗", "bold red"),
    TestStatus.ERROR: ("E", "bold red"),
    TestStatus.SKIPPED: ("s", "yellow"),
    TestStatus.XFAILED: ("x", "yellow"),
    TestStatus.XPASSED: ("X", "bold yellow"),
    TestStatus.INTERRUPTED: ("!", "bold magenta"),
}
RUN_STYLES: dict[RunStatus, str] = {
    RunStatus.PENDING: "dim",
    RunStatus.RUNNING: "bold yellow",
    RunStatus.PASSED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.ABORTED: "bold magenta",
    RunStatus.CANCELLED: "bold magenta",
}
# The counts a pane title and the header show, in this order (pending and running are
# the progress, shown apart).
SHOWN_COUNTS: tuple[TestStatus, ...] = (
    TestStatus.FAILED,
    TestStatus.ERROR,
    TestStatus.INTERRUPTED,
    TestStatus.PASSED,
    TestStatus.SKIPPED,
    TestStatus.XFAILED,
    TestStatus.XPASSED,
)
ELLIPSIS = "…"


def duration(seconds: float) -> str:
    """164ms, 1.23s, 12.3s, 2m05s: at most 6 characters up to 99 minutes."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def fit(text: str, width: int) -> str:
    """`text` in at most `width` cells, its middle replaced by "…" when it is too long."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def fit_name(name: str, width: int) -> str:
    """A `Class::test[params]` name in `width` cells: the class shortens first, then the
    test's own name loses its middle, so its start and its parameters stay."""
    if len(name) <= width:
        return name
    prefix, sep, last = name.rpartition("::")
    room = width - len(last) - len(sep)
    if sep and room >= 5:
        return fit_head(prefix, room) + sep + last
    if sep and width > 8:
        return ELLIPSIS + sep + fit(last, width - 1 - len(sep))
    return fit(name, width)


def fit_group(name: str, width: int) -> str:
    """A group's name in `width` cells: a module path keeps its file name (`…/test_x.py`,
    then `test_x.py`), since the directories are the part people need least."""
    if len(name) <= width:
        return name
    _, slash, tail = name.rpartition("/")
    if slash and len(tail) + 2 <= width:
        return ELLIPSIS + name[len(name) - width + 1 :]
    if slash and len(tail) <= width:
        return tail
    return fit(tail or name, width)


def fit_head(text: str, width: int) -> str:
    """The start of `text` in `width` cells, "…" at the end when cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS


def test_name(test: TestState) -> str:
    """The node id without its file: `TestClass::test_name[params]` (the file is the pane's,
    or, in a critical path spanning files, shown in full on the detail screen)."""
    _, sep, rest = test.nodeid.partition("::")
    return rest if sep else test.nodeid


def common_prefix(names: list[str]) -> str:
    """The `Class::` every name starts with (at a `::` boundary), or "" when they differ."""
    if not names:
        return ""
    first = names[0]
    cut = first.rfind("::")
    while cut > 0:
        prefix = first[: cut + 2]
        if all(n.startswith(prefix) for n in names):
            return prefix
        cut = first.rfind("::", 0, cut)
    return ""


def test_row(test: TestState, width: int, strip: str = "") -> Text:
    """One line of a pane: icon, name, flags and duration, in exactly `width` cells.
    `strip`: the `Class::` all the pane's tests share, left out of each line."""
    icon, style = ICONS[test.status]
    right = Text()
    if test.leaked:  # sessions its trace left open (the service database says so)
        right.append(" leak", style="bold red")
    if test.flaky:
        right.append(" flaky", style="bold magenta")
    if test.slower:
        right.append(" slower", style="bold yellow")
    if test.finished and test.status != TestStatus.INTERRUPTED:
        right.append(f" {duration(test.duration):>6}", style="dim")
    name_width = max(1, width - 2 - right.cell_len)
    name = fit_name(test_name(test).removeprefix(strip), name_width)
    line = Text.assemble((icon, style), " ", name)
    line.append(" " * max(0, name_width - len(name)))
    line.append_text(right)
    line.truncate(width)
    return line


def step_row(message: str, width: int) -> Text:
    """A test's "✓ …" step line, indented under it."""
    return Text("  " + fit(message, max(1, width - 2)), style="green")


def counts_text(counts: Counts, *, words: bool = False) -> Text:
    """`✗1 ✓56 s2` (panes), or `✗ 1 failed  ✓ 56 passed` (the header, with `words`)."""
    text = Text()
    for status in SHOWN_COUNTS:
        value = counts.of(status)
        if not value:
            continue
        icon, style = ICONS[status]
        if text:
            text.append("  " if words else " ")
        text.append(f"{icon} {value} {status}" if words else f"{icon}{value}", style=style)
    return text


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
