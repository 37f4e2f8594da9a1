"""The event store on SQLite: the library's application recorder, made append-only.

`SQLiteLedgerRecorder` is the library's `SQLiteApplicationRecorder` with triggers that refuse
UPDATE and DELETE on its events table (``stored_events``). They are among the statements the
library runs when it creates the table (``CREATE_TABLE``), so the first command to open a
store protects it, whichever command that is. SQLite has no TRUNCATE: ``DELETE FROM`` without
a WHERE clause is a DELETE, and the trigger refuses it too.

Beside the events it keeps the table of request keys (`domain.requests`): a recorded command's
outcome is written by `_insert_events`, in the transaction that saves its events.

`domain.storage.store_for` selects the recorder through the library setting
``APPLICATION_RECORDER_TOPIC``. `append_only_triggers` is also how the transparency log
protects its own tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from domain.decisions import Sealed
from domain.requests import (
    REQUESTS_TABLE,
    RequestKey,
    RequestRecords,
    requests_index_statement,
    requests_table_statement,
)
from domain.sealed import (
    OPENINGS_TABLE,
    PSEUDONYM_KEY_TABLE,
    SUBJECTS_TABLE,
    SealedRecords,
    openings_table_statement,
    pseudonym_key_table_statement,
    subjects_table_statement,
)


@contextlib.contextmanager
def folder_lock(path: str) -> Iterator[None]:
    """An exclusive `flock` of the folder of a SQLite file, held until the block ends.

    The folder's, never the database file's: closing another descriptor of the file would
    release the POSIX locks SQLite itself holds on it. A process that dies releases it.
    """
    descriptor = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def append_only_triggers(table: str) -> list[str]:
    """Triggers that refuse UPDATE and DELETE on a table (idempotent)."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'reliquary: {table} is append-only ({action} refused)'); END"
        for action in ("UPDATE", "DELETE")
    ]


class SQLiteLedgerRecorder(SQLiteApplicationRecorder, RequestRecords, SealedRecords):
    """The library's SQLite application recorder, whose events table refuses edits."""

    param = "?"
    requests_table = REQUESTS_TABLE
    subjects_table = SUBJECTS_TABLE
    openings_table = OPENINGS_TABLE
    pseudonym_key_table = PSEUDONYM_KEY_TABLE

    def construct_create_table_statements(self) -> list[str]:
        """The library's events table, its append-only triggers, and the request keys."""
        return [
            *super().construct_create_table_statements(),
            *append_only_triggers(self.events_table_name),
            requests_table_statement(REQUESTS_TABLE),
            requests_index_statement(REQUESTS_TABLE, f"{REQUESTS_TABLE}_created"),
            subjects_table_statement(SUBJECTS_TABLE),
            openings_table_statement(OPENINGS_TABLE),
            pseudonym_key_table_statement(PSEUDONYM_KEY_TABLE),
        ]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        request: RequestKey | None = None,
        sealed: Sequence[Sealed] = (),
        erase: Sequence[str] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """The library's insert; in the same transaction, the openings of its sealed values
        (`domain.sealed`), the erasure it records, and, with a request key, its outcome."""
        ids = super()._insert_events(c, stored_events, **kwargs)
        self.store_openings(c, sealed)
        for subject in erase:
            self.erase_subject(c, subject)
        if request is not None and stored_events:
            last = stored_events[-1]
            self.complete_recorded(
                c, request, last.topic, last.originator_version, ids[-1] if ids else None
            )
        return ids

    @contextlib.contextmanager
    def writers_turn(self, aggregate_id: UUID) -> Iterator[None]:  # noqa: ARG002
        """Take turns with every writer of this database that met a conflict (`Ledger`).

        SQLite has one writer at a time anyway, so the turn is the database's, not the
        model's: an exclusive `flock` of the database file's folder (never of the file itself,
        whose POSIX locks SQLite holds and another descriptor's close would release). A
        process that dies releases it.
        """
        if self.datastore.pool.is_sqlite_memory_mode:
            yield  # one process owns an in-memory database: its own locks suffice
            return
        with folder_lock(self.datastore.pool.db_name):
            yield

    def insert_event_batches(self, batches: Iterable[Sequence[StoredEvent]]) -> int:
        """Insert many batches of events in one transaction: all of them, or none."""
        count = 0
        with self.datastore.transaction(commit=True) as c:
            for batch in batches:
                self._insert_events(c, batch)
                count += len(batch)
        return count
