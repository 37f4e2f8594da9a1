"""Views on PostgreSQL, in the ledger's schema or in a database of their own.

`PostgresViewRecorder` is the views' recorder (`projections.runner.ViewRecorder`): the
library's PostgreSQL tracking recorder, with the views' own tracking table, on the ledger's
datastore or on the views' (``RELIQUARY_VIEWS_DATABASE_URL``). On the ledger's datastore it
also keeps API tokens and the witness's tables, and counts the events for the views' status
(`api.bootstrap.build_store_recorder`). Statements are written once for both backends with
its `param`, ``%s``; what PostgreSQL adds is how a transaction opens (the schema on the search
path, and statements pipelined to the server) and how a row is read (psycopg returns dicts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from projections.runner import TRACKING_TABLE, RowColumn, ViewRecorder


class PostgresViewRecorder(PostgresTrackingRecorder, ViewRecorder):
    """Views in a PostgreSQL schema: the ledger's, or the views' own."""

    dialect = "postgres"
    param = "%s"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        """The library's tracking recorder, tracking in the views' table."""
        kwargs["tracking_table_name"] = TRACKING_TABLE
        super().__init__(datastore, **kwargs)
        # Views name their tables unqualified: each transaction looks in its datastore's schema.
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

    def insert_rows(
        self,
        cursor: Any,
        table: str,
        columns: Sequence[RowColumn],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Insert many rows in one statement: one array per column, sent in binary.

        ``INSERT ... SELECT FROM unnest(...)``: one statement whatever the number of rows, and
        binary arrays, because psycopg's text format escapes every string of an array with a
        regular expression (about 40 µs an event in a rebuild, docs/performance.md).
        """
        if not rows:
            return
        unnest, arrays = _arrays(columns, rows)
        names = ", ".join(column.name for column in columns)
        aliases = ", ".join(f"c{index}" for index in range(len(columns)))
        computed = ", ".join(
            column.postgres_expression.format(f"c{index}") for index, column in enumerate(columns)
        )
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {computed} "  # noqa: S608 (names: code's)
            f"FROM unnest({unnest}) AS page({aliases})",
            arrays,
        )

    def update_rows(
        self,
        cursor: Any,
        table: str,
        key: Sequence[RowColumn],
        columns: Sequence[RowColumn],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Update many rows in one statement, each found by its key (binary arrays, as
        `insert_rows`)."""
        if not rows:
            return
        every = (*key, *columns)
        unnest, arrays = _arrays(every, rows)
        aliases = ", ".join(f"c{index}" for index in range(len(every)))
        width = len(key)
        assignments = ", ".join(
            f"{column.name} = page.c{width + index}" for index, column in enumerate(columns)
        )
        where = " AND ".join(
            f"{table}.{column.name} = page.c{index}" for index, column in enumerate(key)
        )
        cursor.execute(
            f"UPDATE {table} SET {assignments} "  # noqa: S608 (names: code's)
            f"FROM unnest({unnest}) AS page({aliases}) WHERE {where}",
            arrays,
        )

    def rows_by_keys(
        self,
        cursor: Any,
        table: str,
        key: Sequence[RowColumn],
        columns: Sequence[RowColumn],
        keys: Sequence[tuple[Any, ...]],
    ) -> Callable[[], dict[tuple[Any, ...], tuple[Any, ...]]]:
        """Send one statement for the rows with these keys (a join with the keys sent as
        arrays), on a cursor of its own; read its rows when the returned function is called."""
        if not keys:
            return dict
        unnest, arrays = _arrays(key, keys)
        names = ", ".join(f"{table}.{column.name}" for column in (*key, *columns))
        aliases = ", ".join(f"k{index}" for index in range(len(key)))
        on = " AND ".join(
            f"{table}.{column.name} = wanted.k{index}" for index, column in enumerate(key)
        )
        reader = self.reader(cursor)
        reader.execute(
            f"SELECT {names} FROM {table} "  # noqa: S608 (names: code's)
            f"JOIN unnest({unnest}) AS wanted({aliases}) ON {on}",
            arrays,
        )
        width = len(key)

        def answer() -> dict[tuple[Any, ...], tuple[Any, ...]]:
            found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for row in reader.fetchall():
                values = self.values(row)
                found[tuple(values[:width])] = tuple(values[width:])
            return found

        return answer


# A column of a page is sent as one text parameter split by the server where it can be: joining
# strings is done in C, where psycopg's array dumper works element by element in Python (a
# fifth of a rebuild's client time). Text with these two control characters (which the
# ledger's free text refuses: `domain.text`) is sent as a binary array instead.
_UNIT = "\x1f"  # between values
_NULL = "\x1e"  # a value that is NULL
_INTEGERS = frozenset({"bigint", "integer"})


def _arrays(columns: Sequence[RowColumn], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """The ``unnest`` arguments for the rows' columns, and their parameters."""
    parts: list[str] = []
    params: list[Any] = []
    for column, values in zip(columns, zip(*rows, strict=True), strict=True):
        kind = column.postgres_type
        if len(values) > 1 and kind == "text":
            nulls = values.count(None)
            joined = _UNIT.join([_NULL if v is None else v for v in values] if nulls else values)
            if joined.count(_UNIT) == len(values) - 1 and joined.count(_NULL) == nulls:
                parts.append("string_to_array(%s, E'\\x1f', E'\\x1e')")
                params.append(joined)
                continue
        elif len(values) > 1 and kind in _INTEGERS and None not in values:
            parts.append(f"string_to_array(%s, ',')::{kind}[]")
            params.append(",".join(map(str, values)))
            continue
        parts.append(f"%b::{kind}[]")
        params.append(list(values))
    return ", ".join(parts), params
