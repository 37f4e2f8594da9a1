"""The transparency log on PostgreSQL, in the ledger's schema.

`PostgresLogRecorder` is the library's PostgreSQL tracking recorder (tracking in
``translog_tracking``) extended with `LogQueries`, the log's statements written once for both
backends with ``{p}`` for the placeholder. What is PostgreSQL's alone is here: the tables'
DDL, their append-only triggers (`domain.postgres_recorder.append_only_statements`), finding
nodes and inserting a batch's leaves and nodes with one statement each, the rows sent as
arrays (``unnest``), reading the ledger's events for the feed (plain rows, in binary), and the
grants of the hardened deployment's two roles (`grant_service_role`:
the service; `projection_role_tables`: the projection runner).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from domain.errors import Kind, LedgerError
from domain.manifests import MANIFEST_FILES_TABLE, MANIFESTS_TABLE
from domain.postgres_recorder import append_only_statements
from domain.requests import REQUESTS_TABLE
from domain.sealed import OPENINGS_TABLE, PSEUDONYM_KEY_TABLE, SUBJECTS_TABLE
from projections.runner import TRACKING_TABLE as VIEW_TRACKING_TABLE
from projections.translog.merkle import HASH_SIZE, Node
from projections.translog.recorders import (
    APPEND_ONLY_TABLES,
    EventReader,
    EventRow,
    Leaf,
    LogQueries,
    NodeRun,
)
from projections.translog.witness import WITNESS_STATE_TABLE
from projections.translog.witness_policy import COSIGNATURES_TABLE

CHECKPOINTS_TABLE = "translog_checkpoints"
"""The signed checkpoints (one of `APPEND_ONLY_TABLES`): public, and what a basis names."""

if TYPE_CHECKING:
    from domain.postgres_recorder import PostgresLedgerRecorder
    from projections.runner import ViewRunner

VIEW_COUNTS_TABLE = "view_counts"
"""How many events each view has taken (`projections.runner.ViewRunner`, which names it)."""


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

    def leaf_notification_ids(self, first: int, count: int) -> list[int]:
        """Notification ids of a run of leaves, by index, as one array (one row, not ``count``)."""
        rows = self._rows(
            "SELECT array_agg(notification_id ORDER BY idx) FROM {leaves} "
            "WHERE idx >= %s AND idx < %s",
            (first, first + count),
        )
        ids: list[int] | None = rows[0][0]
        return ids or []

    def node_runs(self, runs: Sequence[NodeRun]) -> list[bytes | None]:
        """Each run's stored hashes joined by the server, every run in one statement.

        A run whose rows are fewer than its length, or not all a hash's length, is None.
        """
        if not runs:
            return []
        rows = self._rows(
            "SELECT count(n.hash) = w.last - w.first + 1 "
            "AND coalesce(bool_and(octet_length(n.hash) = %s), false), "
            "string_agg(n.hash, ''::bytea ORDER BY n.idx) "
            "FROM unnest(%s::int[], %s::bigint[], %s::bigint[]) "
            "WITH ORDINALITY AS w(level, first, last, run) "
            "LEFT JOIN {nodes} n ON n.level = w.level AND n.idx BETWEEN w.first AND w.last "
            "GROUP BY w.run, w.first, w.last ORDER BY w.run",
            (
                HASH_SIZE,
                [level for level, _, _ in runs],
                [first for _, first, _ in runs],
                [last for _, _, last in runs],
            ),
        )
        return [bytes(joined) if whole else None for whole, joined in rows]

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


def stored_events_reader(recorder: PostgresApplicationRecorder) -> EventReader:
    """The ledger's events after a notification id, as plain rows in binary, for the feed.

    The library's ``select_notifications`` reads the same table in the same order with the
    same ``>`` paging, but as dicts in text format made into a `Notification` each; here the
    five columns a leaf needs come as tuples, the model id as the server writes it in text.
    """
    statement = SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def read(after: int, limit: int) -> list[EventRow]:
        with (
            recorder.datastore.get_connection() as conn,
            conn.cursor(binary=True, row_factory=tuple_row) as cursor,
        ):
            cursor.execute(statement, (after, limit), prepare=True)
            return cursor.fetchall()

    reader: EventReader = read
    return reader


# What the service role may do with each kind of table (docs/transparency.md).
READ = ("SELECT",)
"""The schema's version (written only by the owner's upgrade) and the events (appended only
through the ledger's insert function, which takes the lock that keeps notification ids in
commit order: a direct INSERT could pass it)."""
APPEND = ("SELECT", "INSERT")
"""The events and the log: never UPDATE, DELETE or TRUNCATE, so history cannot be rewritten."""
UPSERT = ("SELECT", "INSERT", "UPDATE")
"""Tracking rows (an upsert) and API actors (a token is revoked, never deleted)."""
KEEP = ("SELECT", "INSERT", "UPDATE", "DELETE")
"""What is derived or expires: the views (a rebuild empties them, for the projection role) and
the request keys."""

_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@dataclass(frozen=True)
class TableGrant:
    """One table of the schema, what the service role may do with it, and why."""

    table: str
    privileges: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class ServiceGrants:
    """What `grant_service_role` granted, in the order granted."""

    role: str
    schema: str
    tables: tuple[TableGrant, ...]
    sequences: tuple[str, ...]
    """USAGE: the ids of rows the role inserts (``bigserial`` columns)."""
    functions: tuple[str, ...]
    """EXECUTE: the events' insert function, which takes the table lock as the owner."""
    role_created: bool
    ungranted: tuple[str, ...]
    """Tables of the schema that no list of the code names: left with no privilege at all."""


class ServiceRoleRefused(LedgerError):
    """The role cannot be a service role: it could undo what the grants withhold."""

    kind = Kind.REFUSED


def service_role_tables(
    ledger: PostgresLedgerRecorder,
    log: PostgresLogRecorder,
    views: ViewRunner,
    *,
    more: Sequence[TableGrant] = (),
) -> list[TableGrant]:
    """Every table of the store's schema with the service role's privileges on it.

    The names come from the code that creates the tables (the recorders, `APPEND_ONLY_TABLES`,
    each view's `tables`), so that a table added there is granted here; ``more`` adds the
    tables of the layers above (API actors, the schema's version). The hardened deployment's
    test checks that these are exactly the schema's tables. The views are read only: what a
    reader sees is derived by the projection runner's role (`projection_role_tables`), so
    the service cannot write a view that disagrees with the events.
    """
    grants = [
        TableGrant(
            ledger.events_table_name,
            READ,
            "the events: read; appended only through the insert function",
        ),
        *(
            TableGrant(t, APPEND, "the transparency log: read and append")
            for t in APPEND_ONLY_TABLES
        ),
        TableGrant(log.tracking_table_name, UPSERT, "the log's position (an upsert)"),
        TableGrant(REQUESTS_TABLE, KEEP, "Idempotency-Key leases; expired ones purged"),
        TableGrant(SUBJECTS_TABLE, UPSERT, "each person's key (erasure sets it to NULL)"),
        TableGrant(OPENINGS_TABLE, KEEP, "sealed values, encrypted (erasure deletes them)"),
        TableGrant(PSEUDONYM_KEY_TABLE, APPEND, "the pseudonym key: made once, then read"),
        TableGrant(MANIFESTS_TABLE, APPEND, "weights manifests by digest: stored once, then read"),
        TableGrant(MANIFEST_FILES_TABLE, APPEND, "the files of each stored manifest"),
        TableGrant(WITNESS_STATE_TABLE, UPSERT, "as a witness: each log's latest cosigned size"),
        TableGrant(COSIGNATURES_TABLE, APPEND, "witnesses' cosignatures of the checkpoints"),
        TableGrant(VIEW_TRACKING_TABLE, READ, "the views' positions: the projection role's"),
        TableGrant(VIEW_COUNTS_TABLE, READ, "events each view took: the projection role's"),
    ]
    return _with_views(grants, views, READ, "read; the projection role writes it", more)


def projection_role_tables(
    ledger: PostgresLedgerRecorder, views: ViewRunner, *, more: Sequence[TableGrant] = ()
) -> list[TableGrant]:
    """The tables the projection runner's role may use, each with its privileges; no others.

    It reads the events, and what the views need to open sealed values (`runner.opened_events`
    reads each value's encrypted opening and its person's key: `read_openings`), and the
    signed checkpoints (public: what it reports the views against); it writes the views and
    their tracking, and nothing else (no event, no log, no pseudonym key, no token).
    """
    grants = [
        TableGrant(ledger.events_table_name, READ, "the events the views are derived from"),
        TableGrant(OPENINGS_TABLE, READ, "sealed values, opened for the views that show them"),
        TableGrant(SUBJECTS_TABLE, READ, "each person's key, to open their values"),
        TableGrant(CHECKPOINTS_TABLE, READ, "signed checkpoints: what the views are named against"),
        TableGrant(VIEW_TRACKING_TABLE, KEEP, "the views' positions (an upsert; a rebuild resets)"),
        TableGrant(VIEW_COUNTS_TABLE, KEEP, "events each view took (a rebuild resets them)"),
    ]
    return _with_views(grants, views, KEEP, "kept (a rebuild empties it)", more)


def _with_views(
    grants: list[TableGrant],
    views: ViewRunner,
    privileges: tuple[str, ...],
    why: str,
    more: Sequence[TableGrant],
) -> list[TableGrant]:
    """The grants, every view's tables with ``privileges``, and ``more``: each table once."""
    grants = [
        *grants,
        *(
            TableGrant(table, privileges, f"the {view.name} view: {why}")
            for view in views.views.values()
            for table in view.tables
        ),
        *more,
    ]
    names = [grant.table for grant in grants]
    if len(set(names)) != len(names):
        raise ValueError(f"a table is named twice: {sorted(names)}")
    return grants


def grant_service_role(
    recorder: PostgresLogRecorder,
    role: str,
    tables: Sequence[TableGrant],
    *,
    insert_function: str | None,
    create_role: bool = False,
) -> ServiceGrants:
    """Give the role a service runs as exactly what it needs, table by table, and nothing else.

    First the role is checked: a superuser, or a member of the schema's or a table's owner
    (who may drop the triggers, or the tables), is refused (`ServiceRoleRefused`) before
    anything is granted. With ``create_role``, a missing role is created (LOGIN, no other
    attribute; the DBA sets its password).

    Then, in one transaction: USAGE on the schema (never CREATE); on every table of the schema,
    every privilege this owner granted the role revoked (so an earlier, wider grant is narrowed
    too), then each listed table's own; USAGE on the schema's sequences; EXECUTE on the events'
    insert function only (SECURITY DEFINER: it takes the table lock on the role's behalf), or
    on no function and no sequence when ``insert_function`` is None (the projection role). The
    role gets no UPDATE, DELETE or TRUNCATE on the events or the log, so even with the triggers
    dropped it cannot rewrite history.

    Last, the role's effective privileges are read back, whoever granted them (another role,
    PUBLIC): CREATE in the schema, or more on a table than listed, is refused
    (`ServiceRoleRefused`; what was narrowed stays narrowed).
    """
    schema = recorder.datastore.schema
    s, who = Identifier(schema), Identifier(role)
    created = False
    with recorder.datastore.transaction(commit=True) as c:
        if _role_exists(c, role):
            refused = _too_powerful(c, schema, role, tables)
            if refused:
                raise ServiceRoleRefused(
                    f"role {role!r} {refused}: it could drop the append-only triggers. Run the "
                    "service as a role that owns nothing and is no superuser"
                )
        elif create_role:
            c.execute(
                SQL(
                    "CREATE ROLE {who} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS"
                ).format(who=who)
            )
            created = True
        else:
            raise LedgerError(
                f"role {role!r} does not exist: create it as the DBA (CREATE ROLE {role} LOGIN "
                "PASSWORD '...'), or pass --create-role"
            )
        c.execute(SQL("REVOKE ALL ON SCHEMA {s} FROM {who}").format(s=s, who=who))
        c.execute(SQL("GRANT USAGE ON SCHEMA {s} TO {who}").format(s=s, who=who))
        c.execute(SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {who}").format(s=s, who=who))
        for grant in tables:
            c.execute(
                SQL("GRANT {privileges} ON {s}.{table} TO {who}").format(
                    privileges=SQL(", ").join(SQL(p) for p in _checked(grant.privileges)),
                    s=s,
                    table=Identifier(grant.table),
                    who=who,
                )
            )
        c.execute(SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {who}").format(s=s, who=who))
        c.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = %s ORDER BY 1", (schema,)
        )
        sequences = tuple(row["sequencename"] for row in c.fetchall()) if insert_function else ()
        for sequence in sequences:
            c.execute(
                SQL("GRANT USAGE ON SEQUENCE {s}.{sequence} TO {who}").format(
                    s=s, sequence=Identifier(sequence), who=who
                )
            )
        c.execute(SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM {who}").format(s=s, who=who))
        if insert_function is not None:
            c.execute(
                SQL("GRANT EXECUTE ON FUNCTION {s}.{function} TO {who}").format(
                    s=s, function=Identifier(insert_function), who=who
                )
            )
        c.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
            (schema,),
        )
        named = {grant.table for grant in tables}
        ungranted = tuple(row["relname"] for row in c.fetchall() if row["relname"] not in named)
    with recorder.datastore.transaction(commit=False) as c:
        excess = _excess(c, schema, role, tables)
    if excess:
        raise ServiceRoleRefused(
            f"role {role!r} may still {'; '.join(excess)} (granted by another role or to "
            "PUBLIC): revoke it as its grantor, then run this again"
        )
    return ServiceGrants(
        role=role,
        schema=schema,
        tables=tuple(tables),
        sequences=sequences,
        functions=(insert_function,) if insert_function is not None else (),
        role_created=created,
        ungranted=ungranted,
    )


def _checked(privileges: Sequence[str]) -> Sequence[str]:
    unknown = set(privileges) - set(_PRIVILEGES)
    if unknown or not privileges:
        raise ValueError(f"not table privileges: {sorted(unknown) or privileges}")
    return privileges


def _role_exists(cursor: Any, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    return cursor.fetchone() is not None


def _too_powerful(cursor: Any, schema: str, role: str, tables: Sequence[TableGrant]) -> str:
    """Why the role could undo the protections whatever it is granted ("" if it cannot)."""
    cursor.execute(
        "SELECT r.rolsuper, pg_has_role(r.oid, n.nspowner, 'MEMBER') AS owns_schema, "
        "ARRAY(SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = n.oid "
        "AND c.relname = ANY(%s) AND pg_has_role(r.oid, c.relowner, 'MEMBER') "
        "ORDER BY 1) AS owns "
        "FROM pg_roles r, pg_namespace n WHERE r.rolname = %s AND n.nspname = %s",
        ([grant.table for grant in tables], role, schema),
    )
    row = cursor.fetchone()
    if row["rolsuper"]:
        return "is a superuser"
    if row["owns_schema"]:
        return f"owns schema {schema} (or is a member of its owner)"
    if row["owns"]:
        return f"owns {', '.join(row['owns'])} (or is a member of their owner)"
    return ""


def _excess(cursor: Any, schema: str, role: str, tables: Sequence[TableGrant]) -> list[str]:
    """What the role may do beyond its grants, whoever granted it (in words)."""
    excess = []
    cursor.execute("SELECT has_schema_privilege(%s, %s, 'CREATE') AS may_create", (role, schema))
    if cursor.fetchone()["may_create"]:
        excess.append(f"CREATE in schema {schema}")
    wanted = {grant.table: set(grant.privileges) for grant in tables}
    cursor.execute(
        "SELECT c.relname, ARRAY(SELECT p FROM unnest(%s::text[]) AS p "
        "WHERE has_table_privilege(%s, c.oid, p)) AS privileges "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) ORDER BY c.relname",
        (list(_PRIVILEGES), role, schema, list(wanted)),
    )
    for found in cursor.fetchall():
        more = [p for p in found["privileges"] if p not in wanted[found["relname"]]]
        if more:
            excess.append(f"{', '.join(more)} {found['relname']}")
    return excess
