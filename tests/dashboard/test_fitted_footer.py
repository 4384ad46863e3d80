"""The footer leaves out whole keys when the width is short, never half of one."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._footer import FooterKey

from mcp_dashboard.widgets.fitted_footer import fitting, key_width
from tests.dashboard.pilot import dashboard, finished, screen_lines
from tests.toolkit import until

AT_80 = "f Rerun failed a All x Cancel n Next fail ? Keys q Quit / Filter w Watch"


def keys(*pairs: tuple[str, str]) -> list[FooterKey]:
    """Footer keys `k Words` whose action is `do_k`."""
    return [FooterKey(key, key, words, f"do_{key}") for key, words in pairs]


def test_keys_are_left_out_whole_named_ones_first_then_from_the_end() -> None:
    row = keys(("a", "Alpha"), ("b", "Beta"), ("c", "Gamma"), ("d", "Delta"))
    assert [key_width(k, compact=True) for k in row] == [8, 7, 8, 8]
    assert fitting(row, 31, ["do_b"], compact=True) == row
    assert [k.key for k in fitting(row, 30, ["do_b"], compact=True)] == ["a", "c", "d"]
    assert [k.key for k in fitting(row, 20, ["do_b"], compact=True)] == ["a", "c"]
    assert fitting(row, 3, ["do_b"], compact=True) == []


async def test_at_80_columns_no_key_is_cut_and_a_wider_terminal_shows_more(
    tmp_path: Path,
) -> None:
    async with dashboard(tmp_path, "outcomes", size=(80, 24)) as (app, pilot):
        await finished(app, pilot)
        await until(lambda: screen_lines(app)[-1] == AT_80, "the footer at 80", pilot=pilot)
        await pilot.resize_terminal(120, 24)
        wider = AT_80.replace("w Watch", "o Failures t Timeline w Watch")
        await until(lambda: screen_lines(app)[-1] == wider, "the footer at 120", pilot=pilot)
