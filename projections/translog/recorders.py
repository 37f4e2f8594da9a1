"""Where the transparency log lives: its tables, beside the events, on SQLite or PostgreSQL.

Each backend's recorder is the library's tracking recorder for it, extended with the log's own
tables, so that the leaves and nodes of a batch and the tracking record of the last event taken
are written in one transaction: each event is taken exactly once, in ledger order, and a crash
at any point leaves either the whole batch or none of it. The log keeps its own tracking table
(``translog_tracking``), because the library keys tracking by application name only.

Tables (``translog_`` prefix):

- ``leaves``: leaf index (the event's sequence number), notification id, model id and version;
- ``nodes``: every perfect subtree hash, ``(level, index)``, leaves at level 0;
- ``models``: model id to name (a leaf record names its model);
- ``checkpoints``: every signed checkpoint, in the order signed (after a key rotation, a size
  may have one per key).

Triggers make these tables append-only, as the event store's recorder makes its events table
(`domain.sqlite_recorder`, `domain.postgres_recorder`, whose trigger statements the log reuses).
This module holds what both backends share: the row types, the `LogRecorder` protocol,
`LogQueries`, and `stored_events_reader`, the feed's read of the ledger's events table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeAlias

from eventsourcing.persistence import Tracking

from projections.translog.merkle import Node

EventRow: TypeAlias = tuple[int, Any, int, str, bytes]
"""A stored event as the feed reads it: notification id, model id (as stored), version, topic,
state."""

EventReader: TypeAlias = Callable[[int, int], Sequence[EventRow]]
"""``read(after, limit)``: up to ``limit`` events after notification id ``after``, in order."""

NodeRun: TypeAlias = tuple[int, int, int]
"""``(level, first, last)``: the stored nodes at one level, indexes ``first`` to ``last``."""

APPEND_ONLY_TABLES = (
    "translog_leaves",
    "translog_nodes",
    "translog_models",
    "translog_checkpoints",
)


@dataclass(frozen=True)
class Leaf:
    """One leaf's row: where the event sits in the log."""

    index: int
    notification_id: int
    model_id: str
    model_version: int


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint the log has issued."""

    size: int
    root_hash: bytes
    note: str
    signed_at: str


class LogRecorder(Protocol):
    """What the transparency log needs from its storage, on either backend."""

    def create_table(self) -> None:
        """Create the tables and triggers (idempotent)."""

    def max_tracking_id(self, application_name: str) -> int | None:
        """The last notification id taken into the log."""

    def size(self) -> int:
        """How many leaves the log has."""

    def model_names(self) -> dict[str, str]:
        """Model id to name, for every model the log has seen registered."""

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """The stored hashes of the wanted nodes (those that exist)."""

    def nodes_at_level(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored node hashes at one level, indexes ``first`` to ``last`` inclusive."""

    def leaves(self, first: int, limit: int) -> list[Leaf]:
        """Leaf rows from index ``first``, in order."""

    def leaf_notification_ids(self, first: int, count: int) -> list[int]:
        """The notification ids of leaves ``first`` to ``first + count - 1``, by index.

        A missing leaf row makes the list shorter: the caller compares it whole.
        """

    def node_runs(self, runs: Sequence[NodeRun]) -> list[bytes | None]:
        """Each run's stored hashes joined in index order; None if one is missing or malformed.

        Malformed means not a hash's length: joined, a short hash and a long one could make
        the same bytes as two right ones, so such a run is None, never bytes.
        """

    def leaf_index(self, model_id: str, version: int) -> int | None:
        """The sequence number of a model's version, if the log has taken it."""

    def append(
        self,
        *,
        leaves: Sequence[Leaf],
        nodes: dict[Node, bytes],
        models: dict[str, str],
        tracking: Tracking,
    ) -> None:
        """Write a batch atomically; IntegrityError if another writer took its indexes first."""

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Keep a signed checkpoint (the same note twice is kept once)."""

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, in the order they were signed."""

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint signed last."""

    def close(self) -> None:
        """Release connections (the datastore is the ledger's; nothing to do)."""


class LogQueries:
    """The log's statements that are the same SQL on both backends, written once.

    Each is a template: ``{p}`` stands for the dialect's placeholder (``?`` or ``%s``), and
    ``{leaves}``, ``{nodes}``, ``{models}`` and ``{checkpoints}`` for the log's tables as the
    dialect names them (PostgreSQL qualifies them with the schema). `_sql` fills them in. A
    dialect's recorder (`projections.translog.sqlite_recorder`,
    `projections.translog.postgres_recorder`) extends the library's tracking recorder with
    this class and adds what differs: `param`, `table_prefix`, how a row becomes a tuple, its
    tables' DDL, finding nodes and inserting a batch's leaves and nodes, where PostgreSQL
    sends arrays and SQLite sends rows, and what `verify` reads a page at a time
    (`leaf_notification_ids`, `node_runs`), where PostgreSQL aggregates on the server.
    """

    param: ClassVar[str]
    table_prefix = ""
    datastore: Any

    def _sql(self, template: str, **fragments: str) -> str:
        """A statement in this dialect (``fragments`` fill in any other fields)."""
        tables = {table: f"{self.table_prefix}translog_{table}" for table in _TABLES}
        return template.format(p=self.param, **tables, **fragments)

    def _values(self, row: Any) -> tuple[Any, ...]:
        """A fetched row as a tuple."""
        raise NotImplementedError

    def _rows(self, template: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query in a transaction of its own."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self._sql(template), tuple(params))
            return [self._values(row) for row in cursor.fetchall()]

    def _insert_leaves(self, cursor: Any, leaves: Sequence[Leaf]) -> None:
        """Insert a batch's leaf rows."""
        raise NotImplementedError

    def _insert_nodes(self, cursor: Any, nodes: dict[Node, bytes]) -> None:
        """Insert a batch's new node hashes."""
        raise NotImplementedError

    def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None:
        """The library's: record the last event taken (in the batch's transaction)."""
        raise NotImplementedError

    def size(self) -> int:
        """How many leaves the log has."""
        top = self._rows("SELECT MAX(idx) FROM {leaves}")[0][0]
        return 0 if top is None else int(top) + 1

    def model_names(self) -> dict[str, str]:
        """Model id to name."""
        return dict(self._rows("SELECT model_id, name FROM {models}"))

    def nodes_at_level(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored hashes at one level in an index range."""
        rows = self._rows(
            "SELECT idx, hash FROM {nodes} WHERE level = {p} AND idx BETWEEN {p} AND {p}",
            (level, first, last),
        )
        return {index: bytes(digest) for index, digest in rows}

    def leaves(self, first: int, limit: int) -> list[Leaf]:
        """Leaf rows from an index, in order."""
        rows = self._rows(
            "SELECT idx, notification_id, model_id, model_version FROM {leaves} "
            "WHERE idx >= {p} ORDER BY idx LIMIT {p}",
            (first, limit),
        )
        return [Leaf(*row) for row in rows]

    def leaf_index(self, model_id: str, version: int) -> int | None:
        """The sequence number of a model's version."""
        rows = self._rows(
            "SELECT idx FROM {leaves} WHERE model_id = {p} AND model_version = {p}",
            (model_id, version),
        )
        return int(rows[0][0]) if rows else None

    def append(
        self,
        *,
        leaves: Sequence[Leaf],
        nodes: dict[Node, bytes],
        models: dict[str, str],
        tracking: Tracking,
    ) -> None:
        """Write a batch and its tracking record in one transaction."""
        # A leaf index another writer took fails the primary key: nothing is written.
        with self.datastore.transaction(commit=True) as cursor:
            if models:
                cursor.executemany(
                    self._sql("INSERT INTO {models} (model_id, name) VALUES ({p}, {p})"),
                    list(models.items()),
                )
            self._insert_leaves(cursor, leaves)
            self._insert_nodes(cursor, nodes)
            self._insert_tracking(cursor, tracking)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Keep a checkpoint (the same signed note twice is kept once)."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {checkpoints} (tree_size, root_hash, note, signed_at) "
                    "VALUES ({p}, {p}, {p}, {p}) ON CONFLICT (note) DO NOTHING"
                ),
                (checkpoint.size, checkpoint.root_hash, checkpoint.note, checkpoint.signed_at),
            )

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, in the order they were signed."""
        return [_checkpoint(row) for row in self._rows(_CHECKPOINTS)]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint signed last."""
        rows = self._rows(_CHECKPOINTS + " DESC LIMIT 1")
        return _checkpoint(rows[0]) if rows else None


def stored_events_reader(recorder: Any) -> EventReader:
    """How the feed reads the events of the ledger's store: tuples, straight from its table.

    ``recorder`` is the ledger's event recorder. On SQLite and PostgreSQL the events table is
    read with one statement per page into plain rows (`sqlite_recorder.stored_events_reader`,
    `postgres_recorder.stored_events_reader`); any other store (the library's in-memory one)
    through its ``select_notifications``. The rows are the same either way.
    """
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    if isinstance(recorder, SQLiteApplicationRecorder):
        from projections.translog import sqlite_recorder

        return sqlite_recorder.stored_events_reader(recorder)
    from eventsourcing.postgres import PostgresApplicationRecorder

    if isinstance(recorder, PostgresApplicationRecorder):
        from projections.translog import postgres_recorder

        return postgres_recorder.stored_events_reader(recorder)

    def read(after: int, limit: int) -> list[EventRow]:
        notifications = recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications
        ]

    return read


_TABLES = ("leaves", "nodes", "models", "checkpoints")
_CHECKPOINTS = "SELECT tree_size, root_hash, note, signed_at FROM {checkpoints} ORDER BY id"


def _checkpoint(row: tuple[Any, ...]) -> StoredCheckpoint:
    size, root_hash, note, signed_at = row
    return StoredCheckpoint(int(size), bytes(root_hash), note, signed_at)
