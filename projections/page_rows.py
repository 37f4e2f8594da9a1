"""What a page of events changes in a keyed view table, folded in memory, written at once.

A view whose events change rows by key (an access request, an essay, a signal's period, a
preference) takes a page in three steps: say which stored rows its events need (`need`, then
`load`: one statement for all of them), change the rows in memory event by event, in order
(`get`, `add`), and write the page's result (`write`: one statement for the new rows, one for
the changed ones). A row changed by ten events of a page is read at most once and written
once. The result is what applying the events one at a time would have stored: the tests
compare a rebuild with catch-ups of pages of every size, and `reliquary verify --views`
compares the rows with a replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from projections.runner import RowColumn, ViewRecorder


class KeyedRows:
    """The rows of one table a page touches, by key, with the columns the view keeps."""

    def __init__(
        self,
        view: ViewRecorder,
        cursor: Any,
        table: str,
        key: Sequence[RowColumn],
        columns: Sequence[RowColumn],
    ) -> None:
        self.view = view
        self.cursor = cursor
        self.table = table
        self.key = tuple(key)
        self.columns = tuple(columns)
        self._names = [column.name for column in columns]
        self.rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._stored: set[tuple[Any, ...]] = set()  # rows the table holds already
        self._wanted: set[tuple[Any, ...]] = set()
        self._answer: Callable[[], dict[tuple[Any, ...], tuple[Any, ...]]] | None = None

    def need(self, key: tuple[Any, ...]) -> None:
        """Say that an event of the page changes the stored row with this key."""
        if key not in self.rows:
            self._wanted.add(key)

    def load(self) -> None:
        """Ask for every row `need`ed, in one statement (read at the first `get`, `add` or
        `write`: on PostgreSQL, the views of a page all ask before any of them waits)."""
        self._settle()
        wanted = sorted(self._wanted - self.rows.keys())
        self._wanted.clear()
        if wanted:
            self._answer = self.view.rows_by_keys(
                self.cursor, self.table, self.key, self.columns, wanted
            )

    def _settle(self) -> None:
        if self._answer is None:
            return
        found, self._answer = self._answer(), None
        for key, values in found.items():
            self.rows[key] = dict(zip(self._names, values, strict=True))
            self._stored.add(key)

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """The row as the events so far have left it (None: no such row)."""
        self._settle()
        return self.rows.get(key)

    def add(self, key: tuple[Any, ...], row: dict[str, Any]) -> None:
        """A new row (every column given)."""
        self._settle()
        self.rows[key] = row

    def write(self, keys: Iterable[tuple[Any, ...]] | None = None) -> None:
        """Write the page's rows: new ones in one statement, changed ones in another."""
        self._settle()
        chosen = self.rows if keys is None else {k: self.rows[k] for k in keys}
        new: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, ...]] = []
        for key, row in chosen.items():
            values = (*key, *(row[name] for name in self._names))
            (changed if key in self._stored else new).append(values)
        self.view.insert_rows(self.cursor, self.table, (*self.key, *self.columns), new)
        self.view.update_rows(self.cursor, self.table, self.key, self.columns, changed)

    def forget(self) -> None:
        """Write nothing more of what is held, and hold nothing (after `write`)."""
        self._settle()
        self.rows.clear()
        self._stored.clear()
