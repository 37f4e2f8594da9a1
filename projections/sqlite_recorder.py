"""Projections on SQLite, in the ledger's own database file.

- `SQLiteProjectionRecorder`: the library's SQLite tracking recorder with a tracking table of
  its own. The library's SQLite statements all name one table, ``tracking``, where its
  PostgreSQL recorder takes a ``tracking_table_name``; the views and the transparency log
  each keep their own, because the library keys tracking by application name only.
- `SQLiteViewRecorder`: the views' recorder (`projections.runner.ViewRecorder`), also used for
  API tokens and the witness's tables (`api.bootstrap.build_store_recorder`). Statements are
  written once for both backends with its `param`, ``?``; what SQLite adds is how a
  transaction opens and how a row is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from projections.runner import TRACKING_TABLE, ViewRecorder


class SQLiteProjectionRecorder(SQLiteTrackingRecorder):
    """The library's SQLite tracking recorder, tracking in ``tracking_table_name``."""

    tracking_table_name = "tracking"

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        """Name this recorder's tracking table in the library's statements."""
        super().__init__(datastore, **kwargs)
        self.insert_tracking_statement = self._own_table(self.insert_tracking_statement)
        self.select_max_tracking_id_statement = self._own_table(
            self.select_max_tracking_id_statement
        )

    def construct_create_table_statements(self) -> list[str]:
        """The library's tracking table, under this recorder's name."""
        return [self._own_table(s) for s in super().construct_create_table_statements()]

    def _own_table(self, statement: str) -> str:
        # The library's statements name the table as a whole word, and no column contains it.
        return statement.replace("tracking", self.tracking_table_name)


class SQLiteViewRecorder(SQLiteProjectionRecorder, ViewRecorder):
    """Views in the ledger's SQLite file."""

    dialect = "sqlite"
    param = "?"
    tracking_table_name = TRACKING_TABLE

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in a committed transaction."""
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor in a transaction that only reads."""
        with self.datastore.transaction(commit=False) as cursor:
            yield cursor

    def values(self, row: Any) -> tuple[Any, ...]:
        """A row (``sqlite3.Row``) as a tuple."""
        return tuple(row)
