"""The event store on SQLite: the library's application recorder, made append-only.

`SQLiteLedgerRecorder` is the library's `SQLiteApplicationRecorder` with triggers that refuse
UPDATE and DELETE on its events table (``stored_events``). They are among the statements the
library runs when it creates the table (``CREATE_TABLE``), so the first command to open a
store protects it, whichever command that is. SQLite has no TRUNCATE: ``DELETE FROM`` without
a WHERE clause is a DELETE, and the trigger refuses it too.

Beside the events it keeps the table of request keys (`domain.requests`): a recorded command's
outcome is written by `_insert_events`, in the transaction that saves its events.

Every connection of the store (the ledger's, its views' and its log's share one pool) runs with
``PRAGMA secure_delete = ON``, so SQLite zeroes what a DELETE or UPDATE frees instead of leaving
it in the file's free space; after an erasure, `compact_erased_tables` checkpoints the
write-ahead log and truncates it, so no earlier copy of a page survives there either.

`domain.storage.store_for` selects the recorder through the library setting
``APPLICATION_RECORDER_TOPIC``. `append_only_triggers` is also how the transparency log
protects its own tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from domain.decisions import Sealed
from domain.manifests import (
    MANIFEST_FILES_TABLE,
    MANIFESTS_TABLE,
    Manifest,
    ManifestRecords,
    manifest_files_table_statement,
    manifests_table_statement,
)
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
    openings_index_statement,
    openings_table_statement,
    pseudonym_key_table_statement,
    subjects_table_statement,
)

CHECKPOINT_ATTEMPTS = 50
"""How many times a scrub tries to truncate the write-ahead log while readers hold it."""

CHECKPOINT_PAUSE_SECONDS = 0.1
"""The pause between two of those tries (so a scrub waits at most about 5 s)."""


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


def secure_deletion(pool: Any) -> None:
    """Make every connection of a pool, present and future, zero the space it frees.

    ``secure_delete`` is a setting of each connection, not of the file, and the library opens
    connections itself (`SQLiteConnectionPool._create_connection`), so the pool's factory is
    wrapped once; connections already idle in it are set too.
    """
    if getattr(pool, "reliquary_secure_delete", False):
        return
    create = pool._create_connection  # noqa: SLF001 (the library's only connection factory)

    def create_securely() -> Any:
        connection = create()
        connection.cursor().execute("PRAGMA secure_delete = ON")
        return connection

    pool._create_connection = create_securely  # noqa: SLF001
    pool.reliquary_secure_delete = True
    for idle in list(pool._pool):  # noqa: SLF001 (idle connections made before the wrap)
        idle.cursor().execute("PRAGMA secure_delete = ON")


def append_only_triggers(table: str) -> list[str]:
    """Triggers that refuse UPDATE and DELETE on a table (idempotent)."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'reliquary: {table} is append-only ({action} refused)'); END"
        for action in ("UPDATE", "DELETE")
    ]


class SQLiteLedgerRecorder(
    SQLiteApplicationRecorder, RequestRecords, SealedRecords, ManifestRecords
):
    """The library's SQLite application recorder, whose events table refuses edits."""

    param = "?"
    requests_table = REQUESTS_TABLE
    manifests_table = MANIFESTS_TABLE
    manifest_files_table = MANIFEST_FILES_TABLE
    subjects_table = SUBJECTS_TABLE
    openings_table = OPENINGS_TABLE
    pseudonym_key_table = PSEUDONYM_KEY_TABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The library's recorder, on a pool whose connections delete securely."""
        super().__init__(*args, **kwargs)
        secure_deletion(self.datastore.pool)

    def construct_create_table_statements(self) -> list[str]:
        """The library's events table, its append-only triggers, and the request keys."""
        return [
            *super().construct_create_table_statements(),
            *append_only_triggers(self.events_table_name),
            requests_table_statement(REQUESTS_TABLE),
            requests_index_statement(REQUESTS_TABLE, f"{REQUESTS_TABLE}_created"),
            subjects_table_statement(SUBJECTS_TABLE),
            openings_table_statement(OPENINGS_TABLE),
            openings_index_statement(OPENINGS_TABLE, f"{OPENINGS_TABLE}_subject"),
            pseudonym_key_table_statement(PSEUDONYM_KEY_TABLE),
            manifests_table_statement(MANIFESTS_TABLE),
            manifest_files_table_statement(MANIFEST_FILES_TABLE),
            *append_only_triggers(MANIFESTS_TABLE),
            *append_only_triggers(MANIFEST_FILES_TABLE),
        ]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        request: RequestKey | None = None,
        sealed: Sequence[Sealed] = (),
        erase: Sequence[str] = (),
        manifests: Sequence[Manifest] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """The library's insert; in the same transaction, the openings of its sealed values
        (`domain.sealed`), the erasure it records, the manifests its events name
        (`domain.manifests`), and, with a request key, its outcome."""
        ids = super()._insert_events(c, stored_events, **kwargs)
        self.store_manifests(c, manifests)
        self.store_openings(c, sealed)
        for subject in erase:
            self.erase_subject(c, subject)
        if request is not None and stored_events:
            last = stored_events[-1]
            self.complete_recorded(
                c, request, last.topic, last.originator_version, ids[-1] if ids else None
            )
        return ids

    def table_exists(self, cursor: Any, table: str) -> bool:
        """Whether the store's file holds this table."""
        cursor.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        )
        return bool(cursor.fetchone()[0])

    def compact_erased_tables(self) -> tuple[bool, str]:
        """Checkpoint the write-ahead log into the file and truncate it to nothing.

        The pages an erasure changed were zeroed where it freed them (``secure_delete``), but
        the log still holds earlier copies of them, written by the transactions before it,
        until it is checkpointed and truncated. A reader in the middle of a transaction keeps
        the log busy: the checkpoint is tried again, a bounded number of times.
        """
        if self.datastore.pool.is_sqlite_memory_mode:
            return True, "in memory: no file to scrub"
        result: tuple[int, int, int] = (1, -1, -1)
        for attempt in range(CHECKPOINT_ATTEMPTS):
            if attempt:
                time.sleep(CHECKPOINT_PAUSE_SECONDS)
            with self.datastore.get_connection(commit=True) as connection:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, frames, copied = cursor.fetchone()
                result = (int(busy), int(frames), int(copied))
            if result[0] == 0:
                return True, "write-ahead log checkpointed and truncated; freed space zeroed"
        return False, f"write-ahead log busy after {CHECKPOINT_ATTEMPTS} tries: {result}"

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

    def insert_event_batches(
        self, batches: Iterable[Sequence[StoredEvent]], *, manifests: Sequence[Manifest] = ()
    ) -> int:
        """Insert many batches of events, and the manifests they name, in one transaction:
        all of them, or none."""
        count = 0
        with self.datastore.transaction(commit=True) as c:
            for batch in batches:
                self._insert_events(c, batch)
                count += len(batch)
            self.store_manifests(c, manifests)
        return count
