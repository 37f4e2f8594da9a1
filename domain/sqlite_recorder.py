"""The event store on SQLite: the library's application recorder, made append-only.

`SQLiteLedgerRecorder` is the library's `SQLiteApplicationRecorder` with triggers that refuse
UPDATE and DELETE on its events table (``stored_events``). They are among the statements the
library runs when it creates the table (``CREATE_TABLE``), so the first command to open a
store protects it, whichever command that is. SQLite has no TRUNCATE: ``DELETE FROM`` without
a WHERE clause is a DELETE, and the trigger refuses it too.

`domain.storage.store_for` selects the recorder through the library setting
``APPLICATION_RECORDER_TOPIC``. `append_only_triggers` is also how the transparency log
protects its own tables.
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteApplicationRecorder


def append_only_triggers(table: str) -> list[str]:
    """Triggers that refuse UPDATE and DELETE on a table (idempotent)."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'reliquary: {table} is append-only ({action} refused)'); END"
        for action in ("UPDATE", "DELETE")
    ]


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder, whose events table refuses edits."""

    def construct_create_table_statements(self) -> list[str]:
        """The library's events table, then its append-only triggers."""
        return [
            *super().construct_create_table_statements(),
            *append_only_triggers(self.events_table_name),
        ]
