"""The transparency log on SQLite, in the ledger's own database file.

`SQLiteLogRecorder` is the library's SQLite tracking recorder (with a tracking table of its
own, ``translog_tracking``) extended with `LogQueries`, the log's statements written once for
both backends with ``{p}`` for the placeholder. What is SQLite's alone is here: the tables'
DDL, their append-only triggers (`domain.sqlite_recorder.append_only_triggers`), finding
nodes in chunks of a ``VALUES`` list (within SQLite's limit on bound variables), inserting
a batch's rows with ``executemany``, and reading the ledger's events for the feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.sqlite_recorder import append_only_triggers
from projections.sqlite_recorder import SQLiteProjectionRecorder
from projections.translog.merkle import HASH_SIZE, Node
from projections.translog.recorders import (
    APPEND_ONLY_TABLES,
    EventReader,
    EventRow,
    Leaf,
    LogQueries,
    NodeRun,
)

_CHUNK = 400  # nodes per query: two bound variables each, within SQLite's 999


class SQLiteLogRecorder(SQLiteProjectionRecorder, LogQueries):
    """The log on SQLite."""

    param = "?"
    tracking_table_name = "translog_tracking"

    def construct_create_table_statements(self) -> list[str]:
        """The tracking table, the log's tables and their append-only triggers."""
        tables = [
            "CREATE TABLE IF NOT EXISTS {leaves} (idx INTEGER PRIMARY KEY, "
            "notification_id INTEGER NOT NULL UNIQUE, model_id TEXT NOT NULL, "
            "model_version INTEGER NOT NULL, UNIQUE (model_id, model_version))",
            "CREATE TABLE IF NOT EXISTS {nodes} (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
            "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS {models} (model_id TEXT PRIMARY KEY, "
            "name TEXT NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS {checkpoints} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "tree_size INTEGER NOT NULL, root_hash BLOB NOT NULL, note TEXT NOT NULL UNIQUE, "
            "signed_at TEXT NOT NULL)",
        ]
        return [
            *super().construct_create_table_statements(),
            *(self._sql(statement) for statement in tables),
            *(trigger for table in APPEND_ONLY_TABLES for trigger in append_only_triggers(table)),
        ]

    def _values(self, row: Any) -> tuple[Any, ...]:
        return tuple(row)

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """Fetch the wanted nodes, in one transaction."""
        wanted = list(wanted)
        found: dict[Node, bytes] = {}
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                pairs = ", ".join("(?, ?)" for _ in chunk)
                cursor.execute(
                    self._sql(
                        "SELECT level, idx, hash FROM {nodes} "
                        "WHERE (level, idx) IN (VALUES {pairs})",
                        pairs=pairs,
                    ),
                    [part for node in chunk for part in node],
                )
                found.update({(row[0], row[1]): bytes(row[2]) for row in cursor.fetchall()})
        return found

    def leaf_notification_ids(self, first: int, count: int) -> list[int]:
        """Notification ids of a run of leaves, by index, read as plain tuples."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None  # tuples: no `sqlite3.Row` made per row
            cursor.execute(
                self._sql(
                    "SELECT notification_id FROM {leaves} WHERE idx >= ? AND idx < ? ORDER BY idx"
                ),
                (first, first + count),
            )
            return [row[0] for row in cursor.fetchall()]

    def node_runs(self, runs: Sequence[NodeRun]) -> list[bytes | None]:
        """Each run's stored hashes joined, one range scan each, in one transaction.

        A hash that is not a hash's length is read as NULL, which the join refuses: that run,
        like one with a missing row, is None.
        """
        found: list[bytes | None] = []
        statement = self._sql(
            "SELECT CASE WHEN typeof(hash) = 'blob' AND length(hash) = {size} THEN hash END "
            "FROM {nodes} WHERE level = ? AND idx BETWEEN ? AND ? ORDER BY idx",
            size=str(HASH_SIZE),
        )
        with self.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None  # tuples: no `sqlite3.Row` made per row
            for level, first, last in runs:
                cursor.execute(statement, (level, first, last))
                hashes = [row[0] for row in cursor.fetchall()]
                try:
                    joined: bytes | None = b"".join(hashes)
                except TypeError:  # a NULL: a hash that is not one
                    joined = None
                found.append(joined if len(hashes) == last - first + 1 else None)
        return found

    def _insert_leaves(self, cursor: Any, leaves: Sequence[Leaf]) -> None:
        cursor.executemany(
            self._sql(
                "INSERT INTO {leaves} (idx, notification_id, model_id, model_version) "
                "VALUES (?, ?, ?, ?)"
            ),
            [(x.index, x.notification_id, x.model_id, x.model_version) for x in leaves],
        )

    def _insert_nodes(self, cursor: Any, nodes: dict[Node, bytes]) -> None:
        cursor.executemany(
            self._sql("INSERT INTO {nodes} (level, idx, hash) VALUES (?, ?, ?)"),
            [(level, index, digest) for (level, index), digest in nodes.items()],
        )


def stored_events_reader(recorder: SQLiteApplicationRecorder) -> EventReader:
    """The ledger's events after a notification id (its ``rowid``), as rows, for the feed.

    The statement is the library's ``select_notifications`` (the same table, ``rowid``
    order and ``>`` paging) naming the five columns a leaf needs; the rows stay the driver's.
    """
    table = recorder.events_table_name  # the recorder's own name, never input
    statement = (
        "SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
        f"FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )

    def read(after: int, limit: int) -> list[EventRow]:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.sqlite_cursor.row_factory = None  # tuples: no `sqlite3.Row` per event
            cursor.execute(statement, (after, limit))
            rows: list[EventRow] = cursor.fetchall()
            return rows

    return read
