"""The transparency log on PostgreSQL, in the ledger's schema.

`PostgresLogRecorder` is the library's PostgreSQL tracking recorder (tracking in
``translog_tracking``) extended with `LogQueries`, the log's statements written once for both
backends with ``{p}`` for the placeholder. What is PostgreSQL's alone is here: the tables'
DDL, their append-only triggers (`domain.postgres_recorder.append_only_statements`), finding
nodes and inserting a batch's leaves and nodes with one statement each, the rows sent as
arrays (``unnest``), and `grant_service_role`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from domain.postgres_recorder import append_only_statements
from projections.translog.merkle import Node
from projections.translog.recorders import APPEND_ONLY_TABLES, Leaf, LogQueries


class PostgresLogRecorder(PostgresTrackingRecorder, LogQueries):
    """The log on PostgreSQL."""

    param = "%s"
    events_table = "ledger_events"  # the ledger's (its application name, lower-cased)

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        """The library's tracking recorder, with the log's tables and their triggers."""
        kwargs["tracking_table_name"] = "translog_tracking"
        super().__init__(datastore, **kwargs)
        # Names are qualified, as the library's are: no statement depends on a search path.
        self.table_prefix = f'"{self.datastore.schema}".'
        tables = [
            "CREATE TABLE IF NOT EXISTS {leaves} (idx bigint PRIMARY KEY, "
            "notification_id bigint NOT NULL UNIQUE, model_id text NOT NULL, "
            "model_version bigint NOT NULL, UNIQUE (model_id, model_version))",
            "CREATE TABLE IF NOT EXISTS {nodes} (level int NOT NULL, idx bigint NOT NULL, "
            "hash bytea NOT NULL, PRIMARY KEY (level, idx))",
            "CREATE TABLE IF NOT EXISTS {models} (model_id text PRIMARY KEY, name text NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {checkpoints} (id bigserial PRIMARY KEY, "
            "tree_size bigint NOT NULL, root_hash bytea NOT NULL, note text NOT NULL UNIQUE, "
            "signed_at text NOT NULL)",
        ]
        self.sql_create_statements += [Composed([SQL(self._sql(s))]) for s in tables]
        self.sql_create_statements += append_only_statements(
            self.datastore.schema, APPEND_ONLY_TABLES
        )

    def _values(self, row: Any) -> tuple[Any, ...]:
        return tuple(row.values())

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """Fetch the wanted nodes in one query."""
        wanted = list(wanted)
        if not wanted:
            return {}
        rows = self._rows(
            "SELECT n.level, n.idx, n.hash FROM {nodes} n "
            "JOIN unnest(%s::int[], %s::bigint[]) AS w(level, idx) "
            "ON n.level = w.level AND n.idx = w.idx",
            ([level for level, _ in wanted], [index for _, index in wanted]),
        )
        return {(level, index): bytes(digest) for level, index, digest in rows}

    def _insert_leaves(self, cursor: Any, leaves: Sequence[Leaf]) -> None:
        cursor.execute(
            self._sql(
                "INSERT INTO {leaves} (idx, notification_id, model_id, model_version) "
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[])"
            ),
            (
                [x.index for x in leaves],
                [x.notification_id for x in leaves],
                [x.model_id for x in leaves],
                [x.model_version for x in leaves],
            ),
        )

    def _insert_nodes(self, cursor: Any, nodes: dict[Node, bytes]) -> None:
        items = list(nodes.items())
        cursor.execute(
            self._sql(
                "INSERT INTO {nodes} (level, idx, hash) "
                "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::bytea[])"
            ),
            (
                [level for (level, _), _ in items],
                [index for (_, index), _ in items],
                [digest for _, digest in items],
            ),
        )


def grant_service_role(recorder: PostgresLogRecorder, role: str) -> None:
    """Give the role a service runs as exactly what it needs: read, and append.

    It may read every table and insert into them, update only the log's tracking row (the
    library's tracking is an upsert), and save events through the ledger's insert function,
    which holds the table lock on its behalf. It gets no UPDATE, DELETE or TRUNCATE on the
    events or the log, so even with the triggers dropped it cannot rewrite history.
    """
    schema = Identifier(recorder.datastore.schema)
    who = Identifier(role)
    grants = [
        "GRANT USAGE ON SCHEMA {s} TO {who}",
        "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {who}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {who}",
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {who}",
        "GRANT UPDATE ON {s}.translog_tracking TO {who}",
    ]
    with recorder.datastore.transaction(commit=True) as c:
        for grant in grants:
            c.execute(SQL(grant).format(s=schema, who=who))
        for table in (recorder.events_table, *APPEND_ONLY_TABLES):
            c.execute(
                SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{table} FROM {who}").format(
                    s=schema, table=Identifier(table), who=who
                )
            )
