"""A live table that pages through more rows than one read holds: PgDn on its last row asks
for the next page, PgUp on its first row for the previous one (the view reads `LIMIT`
rows from an `OFFSET`); anywhere else they move by a screen, as a DataTable does."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.widgets import DataTable


class PagedTable(DataTable[str]):
    @dataclass
    class PageRequested(Message):
        """The next (1) or previous (-1) page of this table."""

        table: PagedTable
        direction: int

    def __init__(self, name: str) -> None:
        super().__init__(id=f"table-{name}", zebra_stripes=True, cursor_type="row")
        self.table_name = name
        self.first_row = 0  # the row of the whole table this page starts at (not `offset`:
        # that is every widget's own position, as mypy pointed out)
        self.more = False  # rows follow this page

    def action_page_down(self) -> None:
        if self.more and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequested(self, 1))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.first_row and self.cursor_row <= 0:
            self.post_message(self.PageRequested(self, -1))
            return
        super().action_page_up()
