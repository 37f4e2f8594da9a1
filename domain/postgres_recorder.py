"""The event store on PostgreSQL: the library's application recorder, one round trip per save.

`PostgresLedgerRecorder` is the library's `PostgresApplicationRecorder`, extended twice:

- it saves in one round trip instead of two (see docs/performance.md);
- its events table is append-only: triggers refuse UPDATE and DELETE (per row) and TRUNCATE
  (per statement). They are among the statements the library runs when it creates the table
  (``CREATE_TABLE``), so the first command to open a store protects it, whichever command
  that is.

Beside the events it keeps the table of request keys (`domain.requests`): a recorded command's
outcome is written by `insert_events`, in the transaction that saves its events.

An UPDATE or DELETE leaves the old row version in the table's file (a dead tuple) until the
space is reused, so after an erasure `compact_erased_tables` rewrites the tables that held the
person's key and values (``VACUUM FULL``, which cannot run in a transaction: the ledger runs it
right after the erasure commits, see `domain.sealed`).

`domain.storage.store_for` selects it through the library setting ``APPLICATION_RECORDER_TOPIC``;
this module imports psycopg, so only the library imports it, when it resolves that topic.
`append_only_statements` is also how the transparency log protects its own tables.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composed, Identifier, Literal

from domain.decisions import Sealed
from domain.manifests import (
    MANIFEST_FILES_TABLE,
    MANIFESTS_TABLE,
    Manifest,
    PostgresManifestRecords,
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
    OPENED_VIEW_COLUMNS,
    OPENINGS_TABLE,
    PSEUDONYM_KEY_TABLE,
    SUBJECTS_TABLE,
    SealedRecords,
    encrypted_openings,
    openings_index_statement,
    openings_table_statement,
    pseudonym_key_table_statement,
    subject_key,
    subjects_table_statement,
)

SCRUB_SNAPSHOT_WAIT_SECONDS = 10.0
"""How long a scrub waits for transactions that may still see an erased row to end: VACUUM
FULL keeps every row version a running snapshot may see."""

SCRUB_LOCK_TIMEOUT = "5s"
"""How long VACUUM FULL waits for its exclusive lock on a table before giving up (the scrub
is then left pending: readers of the register are not held up behind it for longer)."""

APPEND_ONLY_FUNCTION = "reliquary_append_only"
"""The trigger function that refuses an edit (one per schema, shared by every table)."""


_TRIGGERS = (
    "CREATE OR REPLACE TRIGGER {append_only} BEFORE UPDATE OR DELETE ON {schema}.{table} "
    "FOR EACH ROW EXECUTE FUNCTION {schema}.{function}()",
    "CREATE OR REPLACE TRIGGER {no_truncate} BEFORE TRUNCATE ON {schema}.{table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{function}()",
)


def append_only_statements(schema: str, tables: Sequence[str]) -> list[Composed]:
    """The trigger function, and triggers refusing UPDATE, DELETE and TRUNCATE on each table.

    Each statement is idempotent. The function raises ``insufficient_privilege`` naming the
    table and the refused operation.
    """
    names = {"schema": Identifier(schema), "function": Identifier(APPEND_ONLY_FUNCTION)}
    statements = [
        SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
            "'reliquary: % is append-only (% refused)', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        ).format(**names)
    ]
    for table in tables:
        statements += [
            SQL(trigger).format(
                table=Identifier(table),
                append_only=Identifier(f"{table}_append_only"),
                no_truncate=Identifier(f"{table}_no_truncate"),
                **names,
            )
            for trigger in _TRIGGERS
        ]
    return statements


class PostgresLedgerRecorder(
    PostgresApplicationRecorder, RequestRecords, SealedRecords, PostgresManifestRecords
):
    """The library's PostgreSQL application recorder, append-only, saving in one round trip.

    The library's recorder saves in two round trips on a pipeline (``BEGIN; SET LOCAL
    lock_timeout; LOCK TABLE ... IN EXCLUSIVE MODE; NOTIFY; INSERT ... RETURNING`` then
    ``COMMIT``) and sends the events as a composite array in text format, escaped by a
    regular expression per event. This recorder sends the same statements as one call of
    a PL/pgSQL function, in autocommit (so the call is the transaction), with the events
    in binary. What it keeps: the same table, composite type and indexes; the ``EXCLUSIVE``
    table lock held until commit, so notification ids are committed in the order they
    are issued and a reader paging with "greater than the last id" never passes over a
    gap that fills later; the ``NOTIFY`` that wakes subscribers; and a duplicate
    (originator id, version) still fails the whole save with the library's
    ``IntegrityError``. (The library's own ``POSTGRES_ENABLE_DB_FUNCTIONS`` function is
    also one round trip, but takes no table lock, so it loses that ordering.)
    """

    param = "%s"

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        """Replace the library's insert function by ours; add the triggers and request keys."""
        super().__init__(datastore, events_table_name=events_table_name)
        self.requests_table = f'"{self.datastore.schema}"."{REQUESTS_TABLE}"'
        self.subjects_table = f'"{self.datastore.schema}"."{SUBJECTS_TABLE}"'
        self.openings_table = f'"{self.datastore.schema}"."{OPENINGS_TABLE}"'
        self.pseudonym_key_table = f'"{self.datastore.schema}"."{PSEUDONYM_KEY_TABLE}"'
        self.manifests_table = f'"{self.datastore.schema}"."{MANIFESTS_TABLE}"'
        self.manifest_files_table = f'"{self.datastore.schema}"."{MANIFEST_FILES_TABLE}"'
        self.insert_function_name = f"{events_table_name}_insert"
        self.check_identifier_length(self.insert_function_name)
        schema = Identifier(self.datastore.schema)
        function = Identifier(self.insert_function_name)
        # Replaces the library's function (created but unused unless its
        # POSTGRES_ENABLE_DB_FUNCTIONS is set) in the statements `create_table` runs.
        self.sql_create_statements[self.create_insert_function_statement_index] = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
            # SECURITY DEFINER: a service role that may only append (no UPDATE, DELETE
            # or TRUNCATE, see docs/transparency.md) still takes the table lock here.
            "RETURNS SETOF bigint LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = pg_catalog, pg_temp AS $BODY$ BEGIN "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} "
            "(originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM unnest(events) "
            "RETURNING notification_id; "
            "END; $BODY$"
        ).format(
            schema=schema,
            function=function,
            event=Identifier(self.stored_event_type_name),
            lock_timeout=self.datastore.lock_timeout,
            table=Identifier(self.events_table_name),
            channel=Identifier(self.channel_name),
        )
        # Only roles granted EXECUTE may append through it (see grant_service_role).
        self.sql_create_statements.append(
            SQL(
                "REVOKE EXECUTE ON FUNCTION {schema}.{function}({schema}.{event}[]) FROM PUBLIC"
            ).format(
                schema=schema,
                function=function,
                event=Identifier(self.stored_event_type_name),
            )
        )
        self.sql_create_statements += append_only_statements(
            self.datastore.schema, [self.events_table_name]
        )
        self.sql_create_statements += [
            Composed([SQL(requests_table_statement(self.requests_table))]),
            Composed(
                [SQL(requests_index_statement(self.requests_table, f"{REQUESTS_TABLE}_created"))]
            ),
            Composed([SQL(subjects_table_statement(self.subjects_table))]),
            Composed([SQL(openings_table_statement(self.openings_table))]),
            Composed(
                [SQL(openings_index_statement(self.openings_table, f"{OPENINGS_TABLE}_subject"))]
            ),
            Composed([SQL(pseudonym_key_table_statement(self.pseudonym_key_table))]),
            Composed([SQL(manifests_table_statement(self.manifests_table))]),
            Composed([SQL(manifest_files_table_statement(self.manifest_files_table))]),
        ]
        self.sql_create_statements += append_only_statements(
            self.datastore.schema, [MANIFESTS_TABLE, MANIFEST_FILES_TABLE]
        )
        self.insert_call = SQL(
            "SELECT notification_id FROM {schema}.{function}(%b) AS notification_id"
        ).format(schema=schema, function=function)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        request: RequestKey | None = None,
        sealed: Sequence[Sealed] = (),
        erase: Sequence[str] = (),
        manifests: Sequence[Manifest] = (),
        **_: Any,
    ) -> Sequence[int] | None:
        """Insert the events of one save in one transaction; return their ids.

        A save that writes anything beside its events (a request key's outcome, openings,
        manifests, an erasure) is one pipelined transaction of a few round trips instead of
        one call: the events and the rest are committed together or not at all. If the
        connection fails after the server committed, the retry meets the stored versions
        (`IntegrityError`) and the ledger recognises its own events.
        """
        if not stored_events:
            return []
        events = self._pg_events(stored_events)
        if request is None and not sealed and not erase and not manifests:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self.insert_call, (events,), prepare=True)
                return [row["notification_id"] for row in curs.fetchall()]
        try:
            # In a pipeline, the statements go out together and only what must be read waits
            # for an answer (the subjects' keys, a manifest held, the ids for a request key):
            # a save with sealed values costs four round trips (BEGIN, the events with the
            # subjects' keys, the openings, COMMIT) whatever their number.
            with (
                self.datastore.transaction(commit=True) as curs,
                curs.connection.pipeline(),
                curs.connection.cursor() as inserted,
            ):
                inserted.execute(self.insert_call, (events,), prepare=True)
                self.store_manifests(curs, manifests)
                self.store_openings(curs, sealed)
                for subject in erase:
                    self.erase_subject(curs, subject)
                ids = [row["notification_id"] for row in inserted.fetchall()]
                if request is not None:
                    last = stored_events[-1]
                    self.complete_recorded(
                        curs, request, last.topic, last.originator_version, ids[-1] if ids else None
                    )
                return ids
        except IntegrityError:
            # The connection was lost after the server committed this very save, and this
            # retry met its events: the key's outcome, written by that transaction under this
            # request's lease, names the event, so the answer is the one a replay gives.
            found = self._recorded_under(request, stored_events)
            if found is None:
                raise
            return found

    def store_openings(self, cursor: Any, sealed: Sequence[Sealed]) -> None:
        """Encrypt and store the openings of a save's sealed values, in its transaction.

        The rules of `SealedRecords.store_openings` (a key made for a new subject, a save that
        seals a value of an erased subject refused with `SubjectErased`), in three statements
        whatever the number of subjects and values, instead of two per subject and one per
        value: an import batch seals thousands of values.
        """
        if not sealed:
            return
        now = datetime.now(UTC).isoformat()
        subjects = sorted({each.subject for each in sealed})
        cursor.execute(
            f"INSERT INTO {self.subjects_table} (subject, key, created_at) "  # noqa: S608 (the recorder's own table)
            "SELECT subject, key, %s FROM unnest(%b::text[], %b::text[]) AS given(subject, key) "
            "ON CONFLICT (subject) DO NOTHING",
            (now, subjects, [secrets.token_hex(32) for _ in subjects]),
            prepare=True,
        )
        # A cursor of its own: in a pipeline, the cursor that sent earlier statements may still
        # be receiving their results (docs/performance.md, "The runner fails now and then").
        reader = cursor.connection.cursor()
        reader.execute(
            f"SELECT subject, key FROM {self.subjects_table} WHERE subject = ANY(%b::text[])",  # noqa: S608
            (subjects,),
            prepare=True,
        )
        stored = {row["subject"]: row["key"] for row in reader.fetchall()}
        keys = {subject: subject_key(subject, stored.get(subject)) for subject in subjects}
        rows = encrypted_openings(sealed, keys)
        if rows:
            cursor.execute(
                f"INSERT INTO {self.openings_table} (commitment, subject, nonce, ciphertext) "  # noqa: S608
                # In binary: in text, psycopg quotes each element through a regular expression.
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])",
                [list(column) for column in zip(*rows, strict=True)],
                prepare=True,
            )

    def _recorded_under(
        self, request: RequestKey | None, stored_events: Sequence[StoredEvent]
    ) -> list[int] | None:
        """The notification id of a one-event save committed under this request's lease."""
        if request is None or len(stored_events) != 1:
            return None
        event = stored_events[0]
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT notification_id FROM {self.requests_table} WHERE actor_id = %s "  # noqa: S608 (the recorder's own table)
                "AND request_key = %s AND lease = %s AND status = 201 AND topic = %s "
                "AND version = %s",
                (request.actor_id, request.key, request.lease, event.topic,
                 event.originator_version),
            )  # fmt: skip
            rows = cursor.fetchall()
        if not rows or rows[0]["notification_id"] is None:
            return None
        return [int(rows[0]["notification_id"])]

    def qualified(self, table: str) -> str:
        """A table of the store's schema, schema-qualified."""
        return f'"{self.datastore.schema}"."{table}"'

    def table_exists(self, cursor: Any, table: str) -> bool:
        """Whether the store's schema holds this table."""
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (self.qualified(table),))
        return bool(cursor.fetchone()["found"])

    def compact_erased_tables(self) -> tuple[bool, str]:
        """Rewrite the tables that held an erased person's key or values (``VACUUM FULL``).

        It first waits, a bounded time, until no transaction of this database began before
        the scrub (such a snapshot may still see the erased rows, and VACUUM FULL would copy
        them); then rewrites the subjects, openings and opened-view tables, their TOAST tables
        and indexes, into new files, and PostgreSQL unlinks the old ones. Only the tables'
        owner (or a superuser) may: for any other role nothing is done and the scrub stays
        pending, for the owner to run (`reliquary scrub`).
        """
        tables = [self.subjects_table, self.openings_table]
        with self.datastore.transaction(commit=False) as cursor:
            tables += [
                self.qualified(table)
                for table in OPENED_VIEW_COLUMNS
                if self.table_exists(cursor, table)
            ]
            cursor.execute(
                "SELECT c.relname FROM pg_class c WHERE c.oid = ANY(%s::regclass[]) "
                "AND NOT pg_has_role(c.relowner, 'MEMBER') AND NOT (SELECT rolsuper "
                "FROM pg_roles WHERE rolname = current_user)",
                (tables,),
            )
            foreign = [row["relname"] for row in cursor.fetchall()]
        if foreign:
            return False, f"not the owner of {', '.join(sorted(foreign))}: VACUUM FULL skipped"
        began = time.monotonic()
        with self.datastore.get_connection() as conn:
            if not self._older_snapshots_ended(conn):
                return False, (
                    f"transactions older than the erasure still ran after "
                    f"{SCRUB_SNAPSHOT_WAIT_SECONDS:g} s"
                )
            waited = time.monotonic() - began
            conn.execute(SQL("SET lock_timeout = {}").format(Literal(SCRUB_LOCK_TIMEOUT)))
            try:
                # The names are the recorder's own, quoted: no input reaches this statement.
                conn.execute("VACUUM (FULL) " + ", ".join(tables))
            except psycopg.errors.LockNotAvailable:
                return False, f"a table stayed locked for {SCRUB_LOCK_TIMEOUT}: VACUUM FULL gave up"
            finally:
                conn.execute("RESET lock_timeout")
        rewrite = time.monotonic() - began - waited
        return True, (
            f"rewritten by VACUUM FULL in {rewrite:.2f} s (after {waited:.2f} s waiting for "
            f"older transactions): {', '.join(tables)}"
        )

    @staticmethod
    def _older_snapshots_ended(conn: Any) -> bool:
        """Wait until every transaction that may still see what was erased before now ended.

        VACUUM FULL keeps a dead row version if the oldest transaction still running when it
        starts may see it. That is any transaction begun before now: with a transaction id,
        in any database of the server (the oldest running id bounds every new snapshot,
        VACUUM FULL's own included), and without one, holding a snapshot in this database.
        """
        row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid")
        horizon = int(row.fetchone()["xid"])
        deadline = time.monotonic() + SCRUB_SNAPSHOT_WAIT_SECONDS
        while True:
            waiting = conn.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot()) < %s::text::xid8 AS running, "
                "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL "
                "AND age(backend_xmin) > age(%s::text::xid)) AS holding",
                (str(horizon), str(horizon % 2**32)),
            ).fetchone()
            if not waiting["running"] and not waiting["holding"]:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def insert_event_batches(
        self, batches: Iterable[Sequence[StoredEvent]], *, manifests: Sequence[Manifest] = ()
    ) -> int:
        """Insert many batches of events, and the manifests they name, in one transaction:
        all of them, or none."""
        count = 0
        with self.datastore.transaction(commit=True) as curs:
            for batch in batches:
                if batch:
                    curs.execute(self.insert_call, (self._pg_events(batch),), prepare=True)
                    count += len(batch)
            self.store_manifests(curs, manifests)
        return count

    @contextlib.contextmanager
    def writers_turn(self, aggregate_id: UUID) -> Iterator[None]:
        """Hold this model's writers' lock (a session advisory lock) until the block ends.

        Writers that met a conflict take turns here (`Ledger._change_with_retries`); the lock
        is released with its connection if the process dies, so it can never be left held.
        """
        key = int.from_bytes(aggregate_id.bytes[:8], "big", signed=True)
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                # If the connection was lost, so was the lock: the writer's own outcome counts.
                with contextlib.suppress(InterfaceError, OperationalError, psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _pg_events(self, stored_events: Sequence[StoredEvent]) -> list[Any]:
        return [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
