"""Where the transparency log lives: its tables, beside the events, on SQLite or PostgreSQL.

Each recorder is the library's tracking recorder for its backend, extended with the log's own
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

The triggers that make the events table and these tables append-only are installed here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from projections.translog.merkle import Node

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


class SQLiteLogRecorder(SQLiteTrackingRecorder):
    """The log on SQLite, in the ledger's own database file."""

    events_table = "stored_events"

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        # The library's statements name its shared "tracking" table; the log keeps its own.
        self.insert_tracking_statement = self.insert_tracking_statement.replace(
            "tracking", "translog_tracking"
        )
        self.select_max_tracking_id_statement = self.select_max_tracking_id_statement.replace(
            "tracking", "translog_tracking"
        )

    def construct_create_table_statements(self) -> list[str]:
        """The tracking table, the log's tables and the append-only triggers."""
        statements = [
            statement.replace("EXISTS tracking", "EXISTS translog_tracking")
            for statement in super().construct_create_table_statements()
        ]
        statements += [
            "CREATE TABLE IF NOT EXISTS translog_leaves ("
            "idx INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL UNIQUE, "
            "model_id TEXT NOT NULL, model_version INTEGER NOT NULL, "
            "UNIQUE (model_id, model_version))",
            "CREATE TABLE IF NOT EXISTS translog_nodes ("
            "level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
            "PRIMARY KEY (level, idx)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS translog_models ("
            "model_id TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS translog_checkpoints ("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, tree_size INTEGER NOT NULL, "
            "root_hash BLOB NOT NULL, note TEXT NOT NULL UNIQUE, signed_at TEXT NOT NULL)",
        ]
        for table in (self.events_table, *APPEND_ONLY_TABLES):
            for action in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} "
                    f"BEFORE {action} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'reliquary: {table} is append-only ({action} refused)'); "
                    "END"
                )
        return statements

    def size(self) -> int:
        """How many leaves the log has."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT MAX(idx) FROM translog_leaves")
            top = c.fetchone()[0]
        return 0 if top is None else int(top) + 1

    def model_names(self) -> dict[str, str]:
        """Model id to name."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT model_id, name FROM translog_models")
            return {row[0]: row[1] for row in c.fetchall()}

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """Fetch the wanted nodes in one query (in chunks, within SQLite's variable limit)."""
        wanted = list(wanted)
        found: dict[Node, bytes] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                values = ",".join("(?,?)" for _ in chunk)
                params = [part for node in chunk for part in node]
                c.execute(
                    "SELECT level, idx, hash FROM translog_nodes "  # noqa: S608 (placeholders)
                    f"WHERE (level, idx) IN (VALUES {values})",
                    params,
                )
                found.update({(row[0], row[1]): bytes(row[2]) for row in c.fetchall()})
        return found

    def nodes_at_level(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored hashes at one level in an index range."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT idx, hash FROM translog_nodes WHERE level = ? AND idx BETWEEN ? AND ?",
                (level, first, last),
            )
            return {row[0]: bytes(row[1]) for row in c.fetchall()}

    def leaves(self, first: int, limit: int) -> list[Leaf]:
        """Leaf rows from an index, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT idx, notification_id, model_id, model_version FROM translog_leaves "
                "WHERE idx >= ? ORDER BY idx LIMIT ?",
                (first, limit),
            )
            return [Leaf(row[0], row[1], row[2], row[3]) for row in c.fetchall()]

    def leaf_index(self, model_id: str, version: int) -> int | None:
        """The sequence number of a model's version."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT idx FROM translog_leaves WHERE model_id = ? AND model_version = ?",
                (model_id, version),
            )
            row = c.fetchone()
        return None if row is None else int(row[0])

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
        with self.datastore.transaction(commit=True) as c:
            c.executemany(
                "INSERT INTO translog_models (model_id, name) VALUES (?, ?)", list(models.items())
            )
            c.executemany(
                "INSERT INTO translog_leaves (idx, notification_id, model_id, model_version) "
                "VALUES (?, ?, ?, ?)",
                [(x.index, x.notification_id, x.model_id, x.model_version) for x in leaves],
            )
            c.executemany(
                "INSERT INTO translog_nodes (level, idx, hash) VALUES (?, ?, ?)",
                [(level, index, digest) for (level, index), digest in nodes.items()],
            )
            self._insert_tracking(c, tracking)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Keep a checkpoint (the same signed note twice is kept once)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT INTO translog_checkpoints (tree_size, root_hash, note, signed_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (note) DO NOTHING",
                (checkpoint.size, checkpoint.root_hash, checkpoint.note, checkpoint.signed_at),
            )

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, in the order they were signed."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT tree_size, root_hash, note, signed_at FROM translog_checkpoints ORDER BY id"
            )
            return [StoredCheckpoint(r[0], bytes(r[1]), r[2], r[3]) for r in c.fetchall()]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint signed last."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT tree_size, root_hash, note, signed_at FROM translog_checkpoints "
                "ORDER BY id DESC LIMIT 1"
            )
            row = c.fetchone()
        return None if row is None else StoredCheckpoint(row[0], bytes(row[1]), row[2], row[3])


class PostgresLogRecorder(PostgresTrackingRecorder):
    """The log on PostgreSQL, in the ledger's schema."""

    events_table = "ledger_events"

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        kwargs["tracking_table_name"] = "translog_tracking"
        super().__init__(datastore, **kwargs)
        schema = Identifier(self.datastore.schema)
        self._schema = schema
        self.sql_create_statements += [
            SQL(statement).format(schema=schema)
            for statement in (
                "CREATE TABLE IF NOT EXISTS {schema}.translog_leaves ("
                "idx bigint PRIMARY KEY, notification_id bigint NOT NULL UNIQUE, "
                "model_id text NOT NULL, model_version bigint NOT NULL, "
                "UNIQUE (model_id, model_version))",
                "CREATE TABLE IF NOT EXISTS {schema}.translog_nodes ("
                "level int NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, "
                "PRIMARY KEY (level, idx))",
                "CREATE TABLE IF NOT EXISTS {schema}.translog_models ("
                "model_id text PRIMARY KEY, name text NOT NULL)",
                "CREATE TABLE IF NOT EXISTS {schema}.translog_checkpoints ("
                "id bigserial PRIMARY KEY, tree_size bigint NOT NULL, root_hash bytea NOT NULL, "
                "note text NOT NULL UNIQUE, signed_at text NOT NULL)",
                "CREATE OR REPLACE FUNCTION {schema}.reliquary_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                "'reliquary: % is append-only (% refused)', TG_TABLE_NAME, TG_OP "
                "USING ERRCODE = 'insufficient_privilege'; END $$",
            )
        ]
        for table in (self.events_table, *APPEND_ONLY_TABLES):
            self.sql_create_statements += self._append_only_triggers(table)

    def _append_only_triggers(self, table: str) -> list[Composed]:
        return [
            SQL(
                "CREATE OR REPLACE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {schema}.{table} "
                "FOR EACH ROW EXECUTE FUNCTION {schema}.reliquary_append_only()"
            ).format(
                trigger=Identifier(f"{table}_append_only"),
                schema=self._schema,
                table=Identifier(table),
            ),
            SQL(
                "CREATE OR REPLACE TRIGGER {trigger} BEFORE TRUNCATE ON {schema}.{table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.reliquary_append_only()"
            ).format(
                trigger=Identifier(f"{table}_no_truncate"),
                schema=self._schema,
                table=Identifier(table),
            ),
        ]

    def _q(self, statement: str) -> Composed:
        return SQL(statement).format(schema=self._schema)

    def size(self) -> int:
        """How many leaves the log has."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT MAX(idx) AS top FROM {schema}.translog_leaves"))
            top = c.fetchone()["top"]  # type: ignore[index]
        return 0 if top is None else int(top) + 1

    def model_names(self) -> dict[str, str]:
        """Model id to name."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._q("SELECT model_id, name FROM {schema}.translog_models"))
            return {row["model_id"]: row["name"] for row in c.fetchall()}

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """Fetch the wanted nodes in one query."""
        wanted = list(wanted)
        if not wanted:
            return {}
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._q(
                    "SELECT n.level, n.idx, n.hash FROM {schema}.translog_nodes n "
                    "JOIN unnest(%s::int[], %s::bigint[]) AS w(level, idx) "
                    "ON n.level = w.level AND n.idx = w.idx"
                ),
                ([node[0] for node in wanted], [node[1] for node in wanted]),
            )
            return {(row["level"], row["idx"]): bytes(row["hash"]) for row in c.fetchall()}

    def nodes_at_level(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored hashes at one level in an index range."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._q(
                    "SELECT idx, hash FROM {schema}.translog_nodes "
                    "WHERE level = %s AND idx BETWEEN %s AND %s"
                ),
                (level, first, last),
            )
            return {row["idx"]: bytes(row["hash"]) for row in c.fetchall()}

    def leaves(self, first: int, limit: int) -> list[Leaf]:
        """Leaf rows from an index, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._q(
                    "SELECT idx, notification_id, model_id, model_version "
                    "FROM {schema}.translog_leaves WHERE idx >= %s ORDER BY idx LIMIT %s"
                ),
                (first, limit),
            )
            return [
                Leaf(r["idx"], r["notification_id"], r["model_id"], r["model_version"])
                for r in c.fetchall()
            ]

    def leaf_index(self, model_id: str, version: int) -> int | None:
        """The sequence number of a model's version."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._q(
                    "SELECT idx FROM {schema}.translog_leaves "
                    "WHERE model_id = %s AND model_version = %s"
                ),
                (model_id, version),
            )
            row = c.fetchone()
        return None if row is None else int(row["idx"])

    def append(
        self,
        *,
        leaves: Sequence[Leaf],
        nodes: dict[Node, bytes],
        models: dict[str, str],
        tracking: Tracking,
    ) -> None:
        """Write a batch and its tracking record in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            # A leaf index another writer took fails the primary key: nothing is written.
            if models:
                c.executemany(
                    self._q(
                        "INSERT INTO {schema}.translog_models (model_id, name) VALUES (%s, %s)"
                    ),
                    list(models.items()),
                )
            c.execute(
                self._q(
                    "INSERT INTO {schema}.translog_leaves "
                    "(idx, notification_id, model_id, model_version) "
                    "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[])"
                ),
                (
                    [x.index for x in leaves],
                    [x.notification_id for x in leaves],
                    [x.model_id for x in leaves],
                    [x.model_version for x in leaves],
                ),
            )
            items = list(nodes.items())
            c.execute(
                self._q(
                    "INSERT INTO {schema}.translog_nodes (level, idx, hash) "
                    "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::bytea[])"
                ),
                (
                    [node[0] for node, _ in items],
                    [node[1] for node, _ in items],
                    [digest for _, digest in items],
                ),
            )
            self._insert_tracking(c, tracking)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Keep a checkpoint (the same signed note twice is kept once)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                self._q(
                    "INSERT INTO {schema}.translog_checkpoints "
                    "(tree_size, root_hash, note, signed_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (note) DO NOTHING"
                ),
                (checkpoint.size, checkpoint.root_hash, checkpoint.note, checkpoint.signed_at),
            )

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint, in the order they were signed."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._q(
                    "SELECT tree_size, root_hash, note, signed_at "
                    "FROM {schema}.translog_checkpoints ORDER BY id"
                )
            )
            return [
                StoredCheckpoint(r["tree_size"], bytes(r["root_hash"]), r["note"], r["signed_at"])
                for r in c.fetchall()
            ]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint signed last."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                self._q(
                    "SELECT tree_size, root_hash, note, signed_at "
                    "FROM {schema}.translog_checkpoints ORDER BY id DESC LIMIT 1"
                )
            )
            r = c.fetchone()
        if r is None:
            return None
        return StoredCheckpoint(r["tree_size"], bytes(r["root_hash"]), r["note"], r["signed_at"])


def grant_service_role(recorder: PostgresLogRecorder, role: str) -> None:
    """Give the role a service runs as exactly what it needs: read, and append.

    It may read every table and insert into them, update only the log's tracking row (the
    library's tracking is an upsert), and save events through the ledger's insert function,
    which holds the table lock on its behalf. It gets no UPDATE, DELETE or TRUNCATE on the
    events or the log, so even with the triggers dropped it cannot rewrite history.
    """
    schema = recorder._schema
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
