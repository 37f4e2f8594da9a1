"""The composition root: the one place the ledger, its log, views and services are built."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from domain.storage import store_for

if TYPE_CHECKING:
    from api.actors import ActorStore
    from api.http.idempotency import IdempotencyStore
    from api.settings import Settings
    from domain.ledger import Ledger
    from projections.queries import Queries
    from projections.runner import ViewRunner
    from projections.translog.follower import LogFollower
    from projections.translog.service import LogService
    from projections.translog.tree import TransparencyLog


def build_ledger(settings: Settings) -> Ledger:
    """Open (and create, if needed) the ledger's store and return the application."""
    from domain.ledger import Ledger

    store = store_for(settings.database_url)
    if store.is_postgres and store.postgres_schema and settings.create_tables:
        _ensure_postgres_schema(store.env, store.postgres_schema)
    env = dict(store.env)
    if store.is_postgres:
        # Fail in seconds, not the library's 30, when the server is unreachable.
        env.setdefault("POSTGRES_CONNECT_TIMEOUT", "5")
    env["CREATE_TABLE"] = "y" if settings.create_tables else "n"
    # The library reads 0 as "unbounded"; our 0 means "no cache".
    env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.cache_size) if settings.cache_size else ""
    # Passed as env= so it wins over stray os.environ values of the library's keys.
    return Ledger(env=env)


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


def build_views(ledger: Ledger, settings: Settings) -> ViewRunner:
    """The views of a ledger (in its own database), with the runner that keeps them.

    The settings' backend chooses the views' recorder.
    """
    from projections.registers import AccessView, EssayView, PreferenceView
    from projections.runner import ViewRunner as Runner
    from projections.search import SearchView
    from projections.views import StatusView, TimelineView

    factory: Any = ledger.factory
    if store_for(settings.database_url).is_postgres:
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
        )
    ]
    return Runner(ledger, recorder, views)


def _ensure_postgres_schema(env: dict[str, str], schema: str) -> None:
    """The library uses a schema only if it exists, so create it first (idempotent)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


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
        return build_views(self.ledger, self.settings)

    @cached_property
    def queries(self) -> Queries:
        """The read side: every question about the records."""
        from api.settings import preference_policy
        from projections.queries import Queries

        return Queries(self.ledger, self.views, preference_policy(self.settings))

    @cached_property
    def log(self) -> LogService:
        """The transparency log's questions: checkpoints, proofs, leaves, tiles."""
        from api.settings import signing_key_path
        from projections.translog.service import LogService

        return LogService(build_log(self.settings, self.ledger), signing_key_path(self.settings))

    @cached_property
    def actors(self) -> ActorStore:
        """The API's actors and their token hashes."""
        from api.actors import ActorStore

        return ActorStore(self.views.recorder)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        """The HTTP service's idempotency keys and the responses they produced."""
        from api.http.idempotency import IdempotencyStore

        return IdempotencyStore(self.views.recorder)

    def follow_log(self) -> LogFollower:
        """Start keeping the log caught up in the background (a service that stays up)."""
        from projections.translog.follower import LogFollower

        if self.follower is None:
            self.follower = LogFollower(self.log.log)
            self.follower.start()
        return self.follower

    def close(self) -> None:
        """Stop following the log, and close the store's connections."""
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        self.ledger.close()


def build_services(settings: Settings) -> Services:
    """Open the ledger; the services the doors share open its views and log when first used."""
    return Services(settings=settings, ledger=build_ledger(settings))
