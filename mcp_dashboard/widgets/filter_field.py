"""The `/` filter: an Input whose own keys are in the footer while it has the focus.

Typing in it, every letter is text, so the footer has none of the app's keys to offer
and stood empty; escape and enter are the two that mean something here.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class FilterField(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Keep filter", tooltip="keep the filter, back to the tests"),
        Binding("escape", "app.clear_filter", "All tests", tooltip="clear the filter"),
    ]
