"""Views on PostgreSQL, in the ledger's schema.

`PostgresViewRecorder` is the views' recorder (`projections.runner.ViewRecorder`), also used
for API tokens and idempotency keys: the library's PostgreSQL tracking recorder, with the
views' own tracking table. Statements are written once for both backends with its `param`,
``%s``; what PostgreSQL adds is how a transaction opens (the schema on the search path, and
statements pipelined to the server) and how a row is read (psycopg returns dicts here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from projections.runner import TRACKING_TABLE, ViewRecorder


class PostgresViewRecorder(PostgresTrackingRecorder, ViewRecorder):
    """Views in the ledger's PostgreSQL schema."""

    dialect = "postgres"
    param = "%s"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        """The library's tracking recorder, tracking in the views' table."""
        kwargs["tracking_table_name"] = TRACKING_TABLE
        super().__init__(datastore, **kwargs)
        # Views name their tables unqualified: each transaction looks in the ledger's schema.
        self._search_path: Composed = SQL("SET LOCAL search_path TO {}").format(
            Identifier(self.datastore.schema)
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in a committed transaction, statements pipelined to the server."""
        with self.datastore.transaction(commit=True) as cursor, cursor.connection.pipeline():
            cursor.execute(self._search_path)
            yield cursor

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor in a transaction that only reads."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._search_path)
            yield cursor

    def values(self, row: Any) -> tuple[Any, ...]:
        """A row (a dict, the library's row factory) as a tuple."""
        return tuple(row.values())

    def reader(self, cursor: Any) -> Any:
        """A cursor of its own for a statement whose rows are read.

        In pipeline mode, results of earlier statements can still be arriving on the cursor
        that sent them when the server lags; a fresh cursor on the same connection (and
        transaction) reads only its own statement's rows.
        """
        return cursor.connection.cursor()
