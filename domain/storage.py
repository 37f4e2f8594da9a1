"""Map a database URL onto the `eventsourcing` library's persistence settings (pure, no IO).

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and ``sqlite:///:memory:``
select the library's SQLite module; ``postgresql://user[:password]@host[:port]/dbname
[?schema=name]`` selects its PostgreSQL module, with `PostgresLedgerRecorder` (defined here,
on first use) as its application recorder: the library's own recorder, writing each save in
one round trip instead of two (see docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from domain.errors import InvalidDatabaseURL

POSTGRES_RECORDER_TOPIC = "domain.storage:PostgresLedgerRecorder"
"""The library setting ``APPLICATION_RECORDER_TOPIC`` for PostgreSQL stores."""


@dataclass(frozen=True)
class Store:
    """Where events live: the backend and what the library needs to open it."""

    backend: str
    env: dict[str, str]
    sqlite_path: str | None = None
    postgres_schema: str | None = None

    @property
    def is_postgres(self) -> bool:
        """Whether this store is PostgreSQL."""
        return self.backend == "postgres"


def store_for(url: str) -> Store:
    """Return the library environment for a database URL, or raise `InvalidDatabaseURL`."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise InvalidDatabaseURL(f"invalid database URL {url!r}: no SQLite file named")
        return Store(
            backend="sqlite",
            env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path},
            sqlite_path=path,
        )
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        dbname = parts.path.lstrip("/")
        if not parts.hostname or not dbname:
            raise InvalidDatabaseURL(
                f"invalid database URL {_redacted(url)!r}: "
                "expected postgresql://user@host:port/dbname"
            )
        query = parse_qs(parts.query)
        schema = query.get("schema", [""])[0]
        if schema and not schema.replace("_", "").isalnum():
            raise InvalidDatabaseURL(
                f"invalid database URL: schema {schema!r} must be letters, digits and '_'"
            )
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            # The library insists on a password setting; trust auth takes an empty one.
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
            # Same table, locks and notifications as the library's recorder; one round trip.
            "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER_TOPIC,
        }
        return Store(backend="postgres", env=env, postgres_schema=schema or None)
    raise InvalidDatabaseURL(
        f"invalid database URL {_redacted(url)!r}: expected sqlite:///FILE or "
        "postgresql://user@host:port/dbname"
    )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def __getattr__(name: str) -> Any:
    # PEP 562: the recorder class is built when the library resolves its topic, so that
    # importing this module (every CLI command does) does not import psycopg (~150 ms).
    if name == "PostgresLedgerRecorder":
        recorder = _define_postgres_ledger_recorder()
        globals()[name] = recorder
        return recorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_postgres_ledger_recorder() -> type:
    from collections.abc import Sequence

    from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
    from eventsourcing.utils import retry
    from psycopg.sql import SQL, Identifier

    class PostgresLedgerRecorder(PostgresApplicationRecorder):
        """The library's PostgreSQL application recorder, saving in one round trip.

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

        def __init__(
            self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
        ) -> None:
            super().__init__(datastore, events_table_name=events_table_name)
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
            self.insert_call = SQL(
                "SELECT notification_id FROM {schema}.{function}(%b) AS notification_id"
            ).format(schema=schema, function=function)

        @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
        def insert_events(
            self, stored_events: Sequence[StoredEvent], **_: Any
        ) -> Sequence[int] | None:
            """Insert the events of one save in one transaction; return their ids."""
            if not stored_events:
                return []
            events = [
                self.construct_pg_stored_event(
                    e.originator_id, e.originator_version, e.topic, e.state
                )
                for e in stored_events
            ]
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self.insert_call, (events,), prepare=True)
                return [row["notification_id"] for row in curs.fetchall()]

    PostgresLedgerRecorder.__qualname__ = "PostgresLedgerRecorder"
    return PostgresLedgerRecorder
