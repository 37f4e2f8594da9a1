"""The composition root: the one place the ledger, its log, views and services are built."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from domain.storage import store_for

if TYPE_CHECKING:
    from pathlib import Path

    from api.actors import ActorStore
    from api.settings import Settings
    from domain.ledger import Ledger
    from projections.archive.oms import SignedOmsBundle
    from projections.health import Health
    from projections.queries import Queries
    from projections.runner import ViewRecorder, ViewRunner
    from projections.translog.follower import LogFollower
    from projections.translog.recorders import StoredCheckpoint
    from projections.translog.service import LogService
    from projections.translog.tree import TransparencyLog
    from projections.translog.witness import Witness
    from projections.translog.witness_policy import SubmissionReport

LOGGER = logging.getLogger("reliquary.log")

SCHEMA_VERSION = 11
"""The version of the store's tables, triggers and functions; bump it with any change to them
(tests/integration/test_schema.py fails until you do). A start finding an older version in the
store creates what is missing (every statement is idempotent) and records this one."""


def build_ledger(settings: Settings) -> Ledger:
    """Open the ledger's store, creating its whole schema first if it is not current.

    With ``create_tables`` (the default), a start checks the schema's version with one query
    and, if it is not current, creates every table, trigger and function (events, request
    keys, the log, the views, API actors) once: on PostgreSQL under an advisory lock, so any
    number of processes may start at once (`ensure_schema`). Without it (a service role that
    may only read and append), nothing is created: the owner has run ``reliquary
    grant-service-role`` first.
    """
    if settings.create_tables:
        return ensure_schema(settings)
    return _open_ledger(settings, create=False)


def _open_ledger(settings: Settings, *, create: bool) -> Ledger:
    from domain.ledger import Ledger

    store = store_for(settings.database_url)
    env = dict(store.env)
    if store.is_postgres:
        # Fail in seconds, not the library's 30, when the server is unreachable.
        env.setdefault("POSTGRES_CONNECT_TIMEOUT", "5")
    env["CREATE_TABLE"] = "y" if create else "n"
    # The library reads 0 as "unbounded"; our 0 means "no cache".
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.cache_size) if settings.cache_size else ""
    # Passed as env= so it wins over stray os.environ values of the library's keys.
    return Ledger(env=env)


def ensure_schema(settings: Settings) -> Ledger:
    """Create the store's schema once if it is not current, and open the ledger.

    PostgreSQL: the version is read without a lock (the usual case: current, nothing else
    runs); otherwise the start takes a session advisory lock named after the schema, looks
    again, and only the first start creates. The lock is released with its connection, so a
    start killed meanwhile blocks nobody. SQLite: the file is created readable by its owner
    only (0600), and starts that find the schema not current take turns on a lock of the
    file's folder (`_folder_lock`), released when the process exits, killed or not.
    """
    store = store_for(settings.database_url)
    if store.is_postgres:
        ledger = _ensure_postgres_schema(settings, store.env, store.postgres_schema)
        if settings.views_database_url is not None:
            try:
                _ensure_views_schema(settings, ledger)
            except BaseException:
                ledger.close()
                raise
        return ledger
    path = store.sqlite_path or ":memory:"
    if path == ":memory:":
        ledger = _open_ledger(settings, create=True)
        _create_projection_tables(settings, ledger)
        return ledger
    _create_private_file(path)
    if _sqlite_schema_version(path) == SCHEMA_VERSION:
        return _open_ledger(settings, create=False)
    with _folder_lock(path):
        stored = _sqlite_schema_version(path)
        if stored == SCHEMA_VERSION:
            return _open_ledger(settings, create=False)
        ledger = _open_ledger(settings, create=True)
        _create_projection_tables(settings, ledger, stored)
        _record_sqlite_schema_version(path)
        return ledger


def _folder_lock(path: str) -> contextlib.AbstractContextManager[None]:
    """Starts take turns creating a SQLite schema (`domain.sqlite_recorder.folder_lock`): not
    every creation statement is idempotent under concurrency (the library's tracking tables
    insert a first row as they are created)."""
    from domain.sqlite_recorder import folder_lock

    return folder_lock(path)


def _create_projection_tables(
    settings: Settings, ledger: Ledger, stored_version: int | None = None
) -> None:
    """The log's, the views' and the API actors' tables, in the ledger's store.

    ``stored_version`` is the schema version the store had (None: a new store); views whose
    columns changed since are dropped and rebuilt from the events (`ViewRunner.upgrade`).
    Views kept in a database of their own (``views_database_url``) are created there, by
    `_ensure_views_schema`, against that database's own version.
    """
    from api.actors import ActorStore
    from projections.translog.cosignature_store import CosignatureStore
    from projections.translog.witness import WitnessStore

    build_log(settings, ledger)  # the library creates a recorder's tables as it opens it
    if settings.views_database_url is None:
        build_views(ledger, settings).upgrade(stored_version)
    store = build_store_recorder(ledger, settings)
    ActorStore(store).create_table()
    WitnessStore(store).create_table()
    CosignatureStore(store).create_table()


def _create_private_file(path: str) -> None:
    import os

    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


_VERSION_TABLE = "reliquary_schema"


def _sqlite_schema_version(path: str) -> int | None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        try:
            row = conn.execute("SELECT MAX(version) FROM reliquary_schema").fetchone()
        except sqlite3.OperationalError:  # no such table: a new store
            return None
    return int(row[0]) if row and row[0] is not None else None


def _record_sqlite_schema_version(path: str) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn, conn:
        conn.execute("CREATE TABLE IF NOT EXISTS reliquary_schema (version INTEGER NOT NULL)")
        conn.execute("DELETE FROM reliquary_schema")
        conn.execute("INSERT INTO reliquary_schema (version) VALUES (?)", (SCHEMA_VERSION,))


def _ensure_postgres_schema(
    settings: Settings, env: dict[str, str], named_schema: str | None
) -> Ledger:
    import psycopg
    from psycopg import sql

    schema = named_schema or "public"
    from eventsourcing.persistence import OperationalError

    table = sql.Identifier(schema, _VERSION_TABLE)
    try:
        connection = _owner_connection(env)
    except psycopg.OperationalError as error:
        # The library's error, on one line, as every door reports an unreachable store.
        raise OperationalError(" ".join(str(error).split())) from None
    with connection as conn:

        def stored_version() -> int | None:
            return _stored_schema_version(conn, schema, table)

        if stored_version() == SCHEMA_VERSION:
            return _open_ledger(settings, create=False)
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"reliquary-schema:{schema}",))
        try:
            stored = stored_version()
            if stored == SCHEMA_VERSION:
                return _open_ledger(settings, create=False)
            if named_schema:  # the library uses a schema only if it exists: create it first
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
            ledger = _open_ledger(settings, create=True)
            _create_projection_tables(settings, ledger, stored)
            with conn.transaction():
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)").format(
                        table
                    )
                )
                conn.execute(sql.SQL("DELETE FROM {}").format(table))
                conn.execute(
                    sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table),
                    (SCHEMA_VERSION,),
                )
            return ledger
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"reliquary-schema:{schema}",))


def _ensure_views_schema(settings: Settings, ledger: Ledger) -> None:
    """Create or upgrade the views' tables in their own database (``views_database_url``).

    That database keeps its own schema version (a ``reliquary_schema`` table of its own), so a
    views database added to an existing ledger, or replaced by an empty one, is created at the
    next start; and its views are upgraded against the version their tables were made by. As
    for the ledger's store: one read when current, else the first start creates, under a
    session advisory lock named after the views' schema.
    """
    import psycopg
    from eventsourcing.persistence import OperationalError
    from psycopg import sql

    assert settings.views_database_url is not None  # noqa: S101 (checked by the caller)
    store = store_for(settings.views_database_url)
    env = store.env
    schema = store.postgres_schema or "public"
    table = sql.Identifier(schema, _VERSION_TABLE)
    lock = f"reliquary-views-schema:{schema}"
    try:
        connection = _owner_connection(env)
    except psycopg.OperationalError as error:
        raise OperationalError(
            "the views' database (RELIQUARY_VIEWS_DATABASE_URL) is unreachable: "
            + " ".join(str(error).split())
        ) from None
    with connection as conn:

        def stored_version() -> int | None:
            return _stored_schema_version(conn, schema, table)

        if stored_version() == SCHEMA_VERSION:
            return
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock,))
        try:
            stored = stored_version()
            if stored == SCHEMA_VERSION:
                return
            if store.postgres_schema:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
            views = build_views(ledger, settings)
            try:
                views.upgrade(stored)
            finally:
                close_views(views, ledger)
            with conn.transaction():
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)").format(
                        table
                    )
                )
                conn.execute(sql.SQL("DELETE FROM {}").format(table))
                conn.execute(
                    sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(table),
                    (SCHEMA_VERSION,),
                )
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))


def _owner_connection(env: dict[str, str]) -> Any:
    """A connection in autocommit to the PostgreSQL database ``env`` names (the library's
    settings), for creating and upgrading a schema."""
    import psycopg

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        autocommit=True,
        connect_timeout=5,
    )


def _stored_schema_version(conn: Any, schema: str, table: Any) -> int | None:
    """The schema version a PostgreSQL schema records (None: not created yet)."""
    from psycopg import sql

    found = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{_VERSION_TABLE}"',)
    ).fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute(sql.SQL("SELECT MAX(version) FROM {}").format(table)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def build_log(settings: Settings, ledger: Ledger) -> TransparencyLog:
    """Open the ledger's transparency log (its tables live beside the events).

    The settings' backend chooses the log's recorder.
    """
    from projections.translog.tree import TransparencyLog as Log

    factory: Any = ledger.factory
    if store_for(settings.database_url).is_postgres:
        from projections.translog.postgres_recorder import PostgresLogRecorder

        recorder = factory.tracking_recorder(PostgresLogRecorder)
    else:
        from projections.translog.sqlite_recorder import SQLiteLogRecorder

        recorder = factory.tracking_recorder(SQLiteLogRecorder)
    return Log(ledger, recorder, settings.log_origin)


def build_views(ledger: Ledger, settings: Settings, *, tables_exist: bool = False) -> ViewRunner:
    """The views of a ledger, with the runner that keeps them.

    The views live in the ledger's own database, or in ``views_database_url``'s (a PostgreSQL
    database or schema of their own, with a connection pool of its own: `close_views` closes
    it). The events are always read, and counted, in the ledger's. The settings' backend
    chooses the views' recorder. ``tables_exist`` says the store's schema is ensured
    (`build_ledger`), so the runner runs no DDL. Whether reads catch the views up is
    configured here (`views_catch_up_on_read`), and decided once.
    """
    from projections.registers import AccessView, EssayView, PreferenceView
    from projections.runner import ViewRunner as Runner
    from projections.search import SearchView
    from projections.signals import SignalView
    from projections.views import StatusView, TimelineView

    factory: Any = ledger.factory
    events = None
    if settings.views_database_url is not None:
        from projections.postgres_recorder import PostgresViewRecorder

        recorder = _views_factory(settings, create=not tables_exist).tracking_recorder(
            PostgresViewRecorder
        )
        events = build_store_recorder(ledger, settings)
    elif store_for(settings.database_url).is_postgres:
        from projections.postgres_recorder import PostgresViewRecorder

        recorder = factory.tracking_recorder(PostgresViewRecorder)
    else:
        from projections.sqlite_recorder import SQLiteViewRecorder

        recorder = factory.tracking_recorder(SQLiteViewRecorder)
    views = [
        view_class(recorder)
        for view_class in (
            TimelineView,
            StatusView,
            AccessView,
            EssayView,
            PreferenceView,
            SearchView,
            SignalView,
        )
    ]
    return Runner(
        ledger,
        recorder,
        views,
        tables_exist=tables_exist,
        catches_up_on_read=views_catch_up_on_read(settings),
        events=events,
    )


def _views_factory(settings: Settings, *, create: bool) -> Any:
    """The library's infrastructure on the views' own database (``views_database_url``)."""
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    assert settings.views_database_url is not None  # noqa: S101 (checked by the caller)
    env = dict(store_for(settings.views_database_url).env)
    env["POSTGRES_CONNECT_TIMEOUT"] = "5"  # fail in seconds when the server is unreachable
    env["CREATE_TABLE"] = "y" if create else "n"
    return InfrastructureFactory.construct(Environment("ReliquaryViews", env))


def close_views(views: ViewRunner, ledger: Ledger) -> None:
    """Close the views' connections if they have their own (``views_database_url``)."""
    datastore = getattr(views.recorder, "datastore", None)
    if datastore is not None and datastore is not getattr(ledger.factory, "datastore", None):
        datastore.close()


def build_store_recorder(ledger: Ledger, settings: Settings) -> ViewRecorder:
    """A recorder on the ledger's own database, for what belongs with the events wherever the
    views live: API tokens, the witness's state, the checkpoints' cosignatures, and the counts
    of events the views' status needs. It creates nothing as it opens."""
    datastore: Any = ledger.factory.datastore  # type: ignore[attr-defined]
    if store_for(settings.database_url).is_postgres:
        from projections.postgres_recorder import PostgresViewRecorder

        return PostgresViewRecorder(datastore)
    from projections.sqlite_recorder import SQLiteViewRecorder

    return SQLiteViewRecorder(datastore)


def views_catch_up_on_read(settings: Settings) -> bool | None:
    """Whether this process's reads catch the views up first (`Settings.views`).

    None for ``auto``: the runner asks the database once, at the first read, whether this role
    may write the views (`ViewRunner.may_write`). The hardened deployment's service role may
    not (`reliquary grant-projection-role` gives that to the projection runner's role), so it
    reads them as they are.
    """
    if settings.views == "auto":
        return None
    return settings.views == "catch-up-on-read"


@dataclass
class Services:
    """What every door uses, built once: the write side, the read side and the log.

    The CLI, the HTTP API and the web console each call one method of these per request: a
    command goes to `ledger.execute`, a question to `queries` (models, time travel, timeline,
    search, registers, the fairness report) or to `log` (checkpoints, proofs, leaves, tiles,
    proven histories and weights). The views, the log, API tokens and idempotency keys are
    opened on first use, so a command that needs only the ledger (`reliquary models`) opens
    (and creates) nothing else.
    """

    settings: Settings
    ledger: Ledger
    follower: LogFollower | None = None
    """The background follower of the log, where a long-running service keeps one."""

    @cached_property
    def views(self) -> ViewRunner:
        """The views and the runner that keeps them."""
        return build_views(self.ledger, self.settings, tables_exist=True)

    @cached_property
    def store(self) -> ViewRecorder:
        """The ledger's own database, for the write side's tables beside the events (API
        tokens, the witness's state, cosignatures), wherever the views live."""
        return build_store_recorder(self.ledger, self.settings)

    def take_views(self, names: Sequence[str]) -> None:
        """This process takes only the named views (``reliquary projections follow --views``):
        `views` and `queries` keep only them. An unknown name is refused (`InvalidQuery`)."""
        self.__dict__["views"] = self.views.taking(names)
        self.__dict__.pop("queries", None)

    @cached_property
    def queries(self) -> Queries:
        """The read side: every question about the records."""
        from api.settings import checklist_policy, preference_policy
        from projections.queries import Queries

        return Queries(
            self.ledger,
            self.views,
            preference_policy(self.settings),
            checklist_policy(self.settings),
            latest_checkpoint=lambda: self.log.log.recorder.latest_checkpoint(),
            log_origin=lambda: self.log.origin,
        )

    @cached_property
    def log(self) -> LogService:
        """The transparency log's questions: checkpoints, proofs, leaves, tiles."""
        from api.settings import own_witness_policy, signing_key_path
        from projections.translog.cosignature_store import CosignatureStore
        from projections.translog.service import LogService
        from projections.translog.witnessed import REQUIRED, Witnessing

        policy = own_witness_policy(self.settings)
        store = CosignatureStore(self.store)
        witnessing = None
        if policy is not None:
            witnessing = Witnessing(policy, store, self.settings.witness_mode == REQUIRED)
        return LogService(
            build_log(self.settings, self.ledger),
            signing_key_path(self.settings),
            witnessing=witnessing,
            cosignatures=store,
        )

    def health(self) -> Health:
        """Ready, lagging or broken, for the service, the views and the log
        (`projections.health`, with the ``RELIQUARY_HEALTH_*`` thresholds)."""
        from api.settings import health_policy
        from projections.health import health

        views: ViewRunner | None = None
        log: TransparencyLog | None = None
        try:
            views = self.views
        except Exception:  # whatever stops them opening: the views part says broken
            LOGGER.exception("health: the views could not be opened")
        try:
            log = self.log.log
        except Exception:  # whatever stops it opening: the log part says broken
            LOGGER.exception("health: the transparency log could not be opened")
        return health(self.ledger, views, log, health_policy(self.settings))

    def submit_to_witnesses(
        self, *, sign: bool, policy_file: Path | None = None, timeout: float | None = None
    ) -> tuple[StoredCheckpoint, SubmissionReport]:
        """Submit the log's checkpoint (signed first if `sign`) to the witnesses; keep their
        cosignatures. The policy is `policy_file`'s, by default the log's own
        (`RELIQUARY_WITNESS_POLICY`: `WitnessPolicyError` if neither is given)."""
        from domain.errors import WitnessPolicyError
        from projections.translog.cosignature_store import CosignatureStore, submit_latest
        from projections.translog.witness_policy import load_witness_policy
        from projections.translog.witness_transport import http_post

        if policy_file is not None:
            policy = load_witness_policy(policy_file)
        else:
            own = self.log.witness_policy()
            if own is None:
                raise WitnessPolicyError(
                    "expected a witness policy file, or RELIQUARY_WITNESS_POLICY: the witnesses "
                    "to ask and their quorum"
                )
            policy = own
        store = CosignatureStore(self.store)
        post = http_post(timeout if timeout is not None else self.settings.witness_timeout_seconds)
        return submit_latest(self.log, store, policy, post, sign=sign)

    def oms_bundle(self, model: str, private_key_pem: bytes, *, key_name: str) -> SignedOmsBundle:
        """An OMS v1.0 ``model.sig`` of the model's latest preserved manifest, signed with an
        ECDSA P-256 PEM key (``reliquary oms export``; `projections.archive.oms`).

        The manifest is read by its digest from the store and checked against the digest and
        the event's totals, as ``archive manifest`` reads it; ``key_name`` names the key in a
        refusal, which never shows its bytes.
        """
        from domain.errors import NoPreservedWeights
        from projections.archive.manifests import recorded_manifest
        from projections.archive.oms import sign_oms_bundle

        weights = self.ledger.state(model).weights
        if weights is None:
            raise NoPreservedWeights(f"model {model!r} has no preserved weights on record")
        manifest = recorded_manifest(
            self.ledger,
            weights.manifest_digest,
            file_count=weights.file_count,
            total_bytes=weights.total_bytes,
        )
        return sign_oms_bundle(
            manifest.files, model, manifest.digest, private_key_pem, key_name=key_name
        )

    @cached_property
    def actors(self) -> ActorStore:
        """The API's actors and their token hashes."""
        from api.actors import ActorStore

        return ActorStore(self.store)

    @cached_property
    def witness(self) -> Witness | None:
        """Reliquary as a witness of other logs, if configured (`api.settings.witness`)."""
        from api.settings import witness_configuration
        from projections.translog.witness import Witness as Cosigner
        from projections.translog.witness import WitnessStore

        configured = witness_configuration(self.settings)
        if configured is None:
            return None
        logs, signing_key = configured
        return Cosigner(logs, signing_key, WitnessStore(self.store))

    def follow_log(self) -> LogFollower:
        """Start keeping the log caught up in the background (a service that stays up).

        Where this process holds the signing key, the follower also signs a checkpoint of new
        entries, at most once per ``checkpoint_interval_seconds``: the service's only signer.
        """
        from projections.translog.follower import LogFollower

        if self.follower is None:
            witness = None
            if self.log.witness_policy() is not None:
                witness = self._witness_latest
            self.follower = LogFollower(
                self.log.log,
                signing_key=self.log.signing_key_or_none(),
                checkpoint_interval=self.settings.checkpoint_interval_seconds,
                witness=witness,
            )
            self.follower.start()
        return self.follower

    def _witness_latest(self) -> bool:
        """The follower's witness step: submit the latest checkpoint; whether a quorum met it."""
        from domain.errors import CheckpointNotFound

        try:
            _, report = self.submit_to_witnesses(sign=False)
        except CheckpointNotFound:  # nothing signed yet: nothing to witness
            return True
        for outcome in report.alarms:
            LOGGER.error("witness %s raised an alarm: %s", outcome.witness, outcome.detail)
        return report.quorum_met

    def close(self) -> None:
        """Stop following the log, and close the store's connections."""
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        views = self.__dict__.get("views")
        if views is not None:
            close_views(views, self.ledger)
        self.ledger.close()


def build_services(settings: Settings) -> Services:
    """Open the ledger; the services the doors share open its views and log when first used."""
    return Services(settings=settings, ledger=build_ledger(settings))


# -- the hardened deployment's roles ---------------------------------------------------------------


def grant_role(settings: Settings, role: str, *, runs: str, create_role: bool = False) -> Any:
    """As the owner, create or upgrade the schema and grant ``role`` what one process needs.

    ``runs`` is ``service`` (read and append the events and the log through the insert
    function, read the views, keep request keys and API actors: never UPDATE, DELETE or
    TRUNCATE on history) or ``projections`` (read the events and what opens sealed values,
    write the views and their tracking: nothing else). Each grant sets the role's whole set of
    privileges in the schema, table by table from the code's own table lists
    (`projections.translog.postgres_recorder`), and reads them back (`ServiceGrants`). A table
    of the schema that no list of this release names is reported as ungranted.
    """
    from dataclasses import replace

    from domain.errors import LedgerError
    from projections.translog.postgres_recorder import (
        READ,
        UPSERT,
        TableGrant,
        grant_service_role,
        projection_role_tables,
        service_role_tables,
    )

    if runs not in {"service", "projections"}:
        raise ValueError(f"no role for {runs!r}")
    command = "grant-service-role" if runs == "service" else "grant-projection-role"
    # The owner's command creates (or upgrades) the whole schema, whatever the environment says.
    settings = settings.model_copy(update={"create_tables": True})
    if not store_for(settings.database_url).is_postgres:
        raise LedgerError(f"{command} is for PostgreSQL; SQLite has no roles")
    services = build_services(settings)
    try:
        ledger_recorder: Any = services.ledger.recorder  # PostgreSQL's, checked above
        log_recorder: Any = services.log.log.recorder
        version = TableGrant(_VERSION_TABLE, READ, "the schema's version: the owner upgrades it")
        service_tables = service_role_tables(
            ledger_recorder,
            log_recorder,
            services.views,
            more=[
                TableGrant("api_actors", UPSERT, "API tokens: added and revoked, never deleted"),
                version,
            ],
        )
        tables = (
            service_tables
            if runs == "service"
            else projection_role_tables(ledger_recorder, services.views, more=[version])
        )
        function = ledger_recorder.insert_function_name if runs == "service" else None
        # The views' tables: in the events' schema, or in the views' own database.
        elsewhere = services.settings.views_database_url is not None
        of_views = _view_tables(services.views) if elsewhere else set()
        granted = grant_service_role(
            log_recorder,
            role,
            [grant for grant in tables if grant.table not in of_views],
            insert_function=function,
            create_role=create_role,
        )
        if elsewhere:
            # The same role, granted in the views' database: its views, their tracking and
            # counts, and that database's schema version; no function, no sequence.
            views_recorder: Any = services.views.recorder
            in_views = grant_service_role(
                views_recorder,
                role,
                [grant for grant in tables if grant.table in of_views] + [version],
                insert_function=None,
                create_role=create_role,
            )
            granted = replace(
                granted,
                schema=f"{granted.schema} (events) and {_views_place(services.settings)} (views)",
                tables=granted.tables + in_views.tables,
                role_created=granted.role_created or in_views.role_created,
                ungranted=granted.ungranted + in_views.ungranted,
            )
        if runs == "service":
            return granted
        # The tables it is not granted that the code knows (the service's) are withheld on
        # purpose; only a table no list names is worth a warning.
        known = {grant.table for grant in service_tables}
        return replace(granted, ungranted=tuple(t for t in granted.ungranted if t not in known))
    finally:
        services.close()


def _view_tables(views: ViewRunner) -> set[str]:
    """The tables that live with the views: theirs, their tracking and their counts."""
    from projections.runner import TRACKING_TABLE

    return {TRACKING_TABLE, "view_counts"} | {
        table for view in views.views.values() for table in view.tables
    }


def _views_place(settings: Settings) -> str:
    """The views' database and schema, as the grants report them (no password)."""
    assert settings.views_database_url is not None  # noqa: S101 (checked by the caller)
    env = store_for(settings.views_database_url).env
    return (
        f"schema {env['POSTGRES_SCHEMA'] or 'public'} of database {env['POSTGRES_DBNAME']} "
        f"on {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
    )
